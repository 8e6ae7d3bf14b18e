-- Fewer random-key indexes on vouchers (see the SQLite migration): one voucher per ticket follows
-- from one voucher per identity and campaign, and a unique (identity, campaign_id) also serves
-- "every voucher of an identity".
ALTER TABLE vouchers ADD CONSTRAINT vouchers_identity_campaign_key UNIQUE (identity, campaign_id);
ALTER TABLE vouchers DROP CONSTRAINT vouchers_campaign_id_identity_key;
ALTER TABLE vouchers DROP CONSTRAINT vouchers_ticket_id_key;
DROP INDEX vouchers_identity;
