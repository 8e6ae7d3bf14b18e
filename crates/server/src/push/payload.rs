//! What a push says: the JSON inside the encrypted body ([`PushPayload`]), with a short Korean and
//! English text for the lock screen. The voucher code and token travel only in the encrypted
//! payload; the visible text names the code only when the subscription allows it
//! (`hide_code = false`: the typed code is enough to redeem, so phones hide it by default).

use crate::config::CampaignSpec;
use crate::store::TicketRow;
use chrono::{DateTime, Utc};
use lineup_protocol::push::{PushKind, PushLocale, PushPayload};

/// Why no push is made for an outbox row any more (the state it was about changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The voucher was given back, or the ticket no longer waits for what the push announces.
    Moot,
}

/// Korean Standard Time, for the visible text (the payload's instants are UTC).
fn kst(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(9)).format("%H:%M").to_string()
}

/// The payload of a `kind` push about `ticket` (as it is now) in campaign `spec`.
pub fn build(
    kind: PushKind,
    spec: &CampaignSpec,
    ticket: &TicketRow,
    hide_code: bool,
    locale: PushLocale,
) -> Result<PushPayload, Stale> {
    let mut p = PushPayload {
        v: 1,
        kind,
        campaign: spec.id.to_string(),
        locale,
        title: String::new(),
        body: String::new(),
        title_en: String::new(),
        body_en: String::new(),
        won: None,
        position: None,
        admit_at: None,
        serial: None,
        code: None,
        token: None,
        code_hidden: hide_code,
    };
    match kind {
        PushKind::DrawResult => {
            let position = ticket.position.ok_or(Stale::Moot)?;
            p.position = Some(position);
            if position <= spec.supply {
                let admit_at = ticket.admit_at.ok_or(Stale::Moot)?;
                p.won = Some(true);
                p.admit_at = Some(admit_at);
                p.title = "추첨 결과: 당첨".into();
                p.body = format!(
                    "{} {}번째 순서예요. {} (KST)부터 받을 수 있어요.",
                    spec.title,
                    position,
                    kst(admit_at)
                );
                p.title_en = "Draw result: you're in".into();
                p.body_en = format!(
                    "Place {position} for the {}. Your turn starts at {} UTC.",
                    spec.title_en,
                    admit_at.format("%H:%M")
                );
            } else {
                let behind = position - spec.supply;
                p.won = Some(false);
                p.title = "추첨 결과: 대기".into();
                p.body = format!(
                    "{} 대기 {}번이에요. 반환된 할인권이 오면 알려 드릴게요.",
                    spec.title, behind
                );
                p.title_en = "Draw result: waitlist".into();
                p.body_en = format!(
                    "You are number {behind} on the waitlist for the {}. We'll tell you if a returned voucher reaches you.",
                    spec.title_en
                );
            }
        }
        PushKind::HandedOn => {
            if ticket.returned_at.is_some() || ticket.voucher.as_ref().is_some_and(|v| v.returned_at.is_some()) {
                return Err(Stale::Moot);
            }
            let admit_at = ticket.admit_at.ok_or(Stale::Moot)?;
            let until = ticket.admit_until.unwrap_or(admit_at);
            p.position = ticket.position;
            p.admit_at = Some(admit_at);
            p.title = "차례가 왔어요".into();
            p.title_en = "Your turn came".into();
            if ticket.voucher.is_some() || ticket.auto_issue {
                // Opted in: the server issues it (a voucher push with the code follows).
                p.body = format!("반환된 {} 한 장이 회원님께 왔어요. 자동으로 발급돼요.", spec.title);
                p.body_en = format!("A returned {} reached you; it is issued to you.", spec.title_en);
            } else {
                p.body = format!(
                    "반환된 {} 한 장이 회원님께 왔어요. {} (KST)까지 받으세요.",
                    spec.title,
                    kst(until)
                );
                p.body_en = format!(
                    "A returned {} reached you. Claim it by {} UTC.",
                    spec.title_en,
                    until.format("%H:%M")
                );
            }
        }
        PushKind::Voucher => {
            let v = ticket.voucher.as_ref().ok_or(Stale::Moot)?;
            if v.returned_at.is_some() {
                return Err(Stale::Moot);
            }
            let code = v.code.to_string();
            p.serial = Some(v.serial);
            p.title = "할인권이 발급됐어요".into();
            p.title_en = "Your voucher is here".into();
            if hide_code {
                p.body = format!("{} 할인권이 지갑에 있어요. 앱을 열어 확인하세요.", spec.title);
                p.body_en = format!("Your {} is in your wallet. Open the app to see it.", spec.title_en);
            } else {
                p.body = format!("{} 할인권 코드: {code}", spec.title);
                p.body_en = format!("Your {} code: {code}", spec.title_en);
            }
            p.code = Some(code);
            p.token = Some(v.token.clone());
        }
    }
    Ok(p)
}

/// Until when the push is worth delivering (its TTL), given the payload.
pub fn useful_until(p: &PushPayload, spec: &CampaignSpec) -> Option<DateTime<Utc>> {
    match p.kind {
        // A place within the supply: news until its admission window ends; a waitlisted one
        // until the campaign closes (a returned voucher may still reach it).
        PushKind::DrawResult => Some(match p.admit_at {
            Some(a) if p.won == Some(true) => a + spec.admission_window(),
            _ => spec.closes_at,
        }),
        PushKind::HandedOn => p.admit_at.map(|a| a + spec.admission_window()),
        PushKind::Voucher => Some(spec.voucher_expires_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::VoucherRow;
    use lineup_protocol::{IdentityKey, VoucherCode};

    fn spec() -> CampaignSpec {
        crate::config::demo_spec(
            &crate::config::DemoSpecInput {
                vouchers: 10,
                open_in: std::time::Duration::from_secs(60),
                draw_lead: None,
                admission_rate_per_s: 1,
                admission_window: std::time::Duration::from_secs(300),
                closes_after: std::time::Duration::from_secs(3600),
            },
            DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        )
        .unwrap()
    }

    fn ticket(position: u64) -> TicketRow {
        let s = spec();
        TicketRow {
            id: "t1".into(),
            campaign_id: s.id.clone(),
            identity: IdentityKey([1; 32]),
            seq: 1,
            joined_at: s.prequeue_opens_at,
            auto_issue: true,
            in_draw: true,
            prequeue_check_at: None,
            position: Some(position),
            admit_at: (position <= s.supply).then_some(s.opens_at),
            admit_until: None,
            expired_at: None,
            returned_at: None,
            voucher: None,
        }
    }

    #[test]
    fn voucher_code_shows_only_when_allowed_and_always_travels_encrypted() {
        let s = spec();
        let mut t = ticket(3);
        let code = VoucherCode::derive(b"seed");
        t.voucher = Some(VoucherRow {
            campaign_id: s.id.clone(),
            serial: 3,
            identity: t.identity,
            ticket_id: t.id.clone(),
            token: "TOKEN".into(),
            code: code.clone(),
            kid: 1,
            amount: 6000,
            currency: "KRW".into(),
            issued_at: s.opens_at,
            expires_at: s.voucher_expires_at,
            redeemed_at: None,
            returned_at: None,
        });
        let hidden = build(PushKind::Voucher, &s, &t, true, PushLocale::Ko).unwrap();
        let shown = build(PushKind::Voucher, &s, &t, false, PushLocale::En).unwrap();
        let c = code.to_string();
        for p in [&hidden, &shown] {
            assert_eq!(p.code.as_deref(), Some(c.as_str()));
            assert_eq!(p.token.as_deref(), Some("TOKEN"));
        }
        assert!(!hidden.body.contains(&c) && !hidden.body_en.contains(&c) && !hidden.title.contains(&c));
        assert!(hidden.code_hidden);
        assert!(shown.body.contains(&c) && shown.body_en.contains(&c));
        // A given-back voucher is not announced.
        t.voucher.as_mut().unwrap().returned_at = Some(s.opens_at);
        assert_eq!(build(PushKind::Voucher, &s, &t, true, PushLocale::Ko), Err(Stale::Moot));
    }

    #[test]
    fn draw_results_say_won_or_waitlisted() {
        let s = spec();
        let won = build(PushKind::DrawResult, &s, &ticket(4), true, PushLocale::Ko).unwrap();
        assert_eq!(
            (won.won, won.position, won.admit_at),
            (Some(true), Some(4), Some(s.opens_at))
        );
        assert!(won.body.contains("4번째"), "{}", won.body);
        assert!(won.code.is_none() && won.token.is_none());
        let lost = build(PushKind::DrawResult, &s, &ticket(13), true, PushLocale::Ko).unwrap();
        assert_eq!((lost.won, lost.position), (Some(false), Some(13)));
        assert!(lost.body_en.contains("number 3 on the waitlist"), "{}", lost.body_en);
        assert_eq!(useful_until(&lost, &s), Some(s.closes_at));
        assert_eq!(useful_until(&won, &s), Some(s.opens_at + s.admission_window()));
    }
}
