//! The subcommands.

use crate::args::{Cli, Command};
use crate::context::Ctx;
use crate::display::{self, progress_line, voucher_lines};
use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use lineup_core::clock::{Clock, MonotonicClock};
use lineup_core::driver::{FileRecordStore, run_claim};
use lineup_core::engine::{EngineConfig, Outcome, Phase, Progress};
use lineup_core::identity::Identity;
use lineup_protocol::{CampaignId, Contact, ProblemCode, PublicKeySet, RedeemRequest, VoucherCode};
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status of a claim that ended without a voucher (sold out, closed, expired).
const EXIT_NO_VOUCHER: u8 = 2;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Ctx::new(&cli)?;
    match cli.command {
        Command::Register {
            contact,
            code,
            changed_phone,
        } => register(&ctx, &contact, code.as_deref(), changed_phone).await,
        Command::Whoami => whoami(&ctx),
        Command::Campaigns => campaigns(&ctx).await,
        Command::Claim { campaign, claim_myself } => claim(&ctx, &campaign, !claim_myself).await,
        Command::Wallet { offline } => wallet(&ctx, offline).await,
        Command::Show { voucher } => show(&ctx, &voucher),
        Command::Verify { token } => verify(&ctx, &token).await,
        Command::VerifyDraw { campaign } => crate::verify_draw::verify_draw(&ctx, &campaign).await,
        Command::Redeem { voucher, staff_token } => redeem(&ctx, &voucher, &staff_token).await,
    }
}

async fn register(ctx: &Ctx, contact: &str, code: Option<&str>, changed_phone: bool) -> Result<ExitCode> {
    let contact: Contact = contact.parse().context("invalid --contact")?;
    let code: Option<lineup_protocol::OneTimeCode> = code
        .map(|c| c.parse().context("invalid --code (6 digits)"))
        .transpose()?;
    let url = ctx.server_url()?;
    let store = ctx.secret_store()?;
    let base = ctx.api()?;
    let (mut id, api, (reg, created)) = match code {
        // Second step: the code proves the contact.
        Some(code) => {
            let id = Identity::load_or_create(&ctx.profile, &store, &url).context("cannot create the identity")?;
            let api = base.with_identity(id.signing_key().clone());
            match api.verify_code(code.clone(), changed_phone).await {
                Ok(done) => (id, api, done),
                Err(e) if e.code() == Some(ProblemCode::ContactTaken) => bail!(
                    "this contact is registered on another device; if it is yours (you changed phones), move it here with the same code: lineup register --contact {} --code {} --changed-phone",
                    contact.as_str(),
                    code.as_str()
                ),
                Err(e) => return Err(e).context("verification failed"),
            }
        }
        // Registering is the person's consent to the terms and to the contact being kept as a
        // digest.
        None => {
            // A key revoked by the person's move to another device can never sign again: a
            // fresh key registers in its place.
            let signed = lineup_core::enrol::with_live_key(&ctx.profile, &store, &url, |id| {
                let (api, contact) = (base.clone().with_identity(id.signing_key().clone()), contact.clone());
                async move { api.register_start(contact, true).await }
            })
            .await
            .context("registration failed")?;
            if signed.renewed && !ctx.json {
                eprintln!("note: this device's old key was revoked (moved to another device); made a new one");
            }
            let api = base.with_identity(signed.identity.signing_key().clone());
            match signed.value {
                lineup_core::api::RegisterStep::Registered(reg, created) => (signed.identity, api, (reg, created)),
                lineup_core::api::RegisterStep::CodeSent(sent) => {
                    if ctx.json {
                        crate::say!(
                            "{}",
                            json!({"status": "verification_sent", "expires_in_s": sent.expires_in_s,
                                   "contact": contact.as_str(), "server_url": url})
                        );
                    } else {
                        crate::say!(
                            "a code was sent to {}: finish within {} minutes with\n  lineup register --contact {} --code CODE{}",
                            lineup_core::identity::contact_hint(&contact),
                            sent.expires_in_s.div_ceil(60),
                            contact.as_str(),
                            if changed_phone { " --changed-phone" } else { "" }
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    };
    if id.meta.server_url != url {
        id.meta.server_url = url.clone();
    }
    id.mark_registered(&ctx.profile, &contact, reg.registered_at)
        .context("cannot save the identity")?;
    // Keep the issuer keys now, so vouchers verify offline later; after a move, the vouchers
    // that came along (signed again for this key).
    let wallet = ctx.wallet();
    let fetched = if reg.moved.is_some() {
        wallet.refresh(&api).await.map(Some)
    } else {
        match api.keys().await {
            Ok(keys) => wallet.save_keys(&url, &keys).map(|()| None),
            Err(_) => Ok(None),
        }
    };
    if let Err(e) = &fetched {
        eprintln!("note: the vouchers could not be fetched now ({e}); `lineup wallet` fetches them");
    }
    if ctx.json {
        crate::say!(
            "{}",
            json!({"identity": reg.identity, "registered_at": reg.registered_at, "created": created,
                   "server_url": url, "contact_hint": id.meta.contact_hint, "store": store_name(&store),
                   "moved": reg.moved})
        );
    } else {
        let verb = if created { "registered" } else { "already registered" };
        crate::say!(
            "{verb}: identity {} on {url} (secret kept in the {} credential store)",
            reg.identity,
            store_name(&store)
        );
        if let Some(m) = &reg.moved {
            crate::say!(
                "moved here from your previous device: {} place(s) in line and {} voucher(s); {} unused voucher(s) got new codes (the old copies are void). The old device's key no longer works.",
                m.tickets,
                m.vouchers,
                m.vouchers_reissued
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn store_name(s: &lineup_core::identity::KeyringStore) -> String {
    use lineup_core::identity::SecretStore;
    s.name().to_owned()
}

fn whoami(ctx: &Ctx) -> Result<ExitCode> {
    let meta = lineup_core::identity::meta_for(&ctx.profile, &ctx.server_url()?)?;
    let Some(meta) = meta else {
        bail!("no identity in this profile: run `lineup register --contact ...`");
    };
    if ctx.json {
        crate::say!("{}", serde_json::to_string(&meta)?);
    } else {
        crate::say!(
            "identity {}\nserver   {}\ncontact  {}\nregistered {}",
            meta.public_key,
            meta.server_url,
            meta.contact_hint.as_deref().unwrap_or("-"),
            meta.registered_at.map_or("no".into(), |t| t.to_rfc3339())
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn campaigns(ctx: &Ctx) -> Result<ExitCode> {
    let list = ctx.api()?.campaigns().await.context("cannot list campaigns")?;
    if ctx.json {
        crate::say!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.campaigns.is_empty() {
        crate::say!("no campaigns");
    }
    for c in &list.campaigns {
        // Times relative to the server's clock, so a wrong local clock does not mislead.
        let until = |t: chrono::DateTime<Utc>| {
            let s = (t - list.server_time).num_seconds();
            if s > 0 { format!("in {s}s") } else { "now".into() }
        };
        crate::say!(
            "{:<16} {:?}  {}/{} left  {} {}  pre-queue {} · draw {} · opens {}  {}",
            c.id.as_str(),
            c.phase,
            c.remaining,
            c.supply,
            c.amount,
            c.currency,
            until(c.prequeue_opens_at),
            until(c.draw_at),
            until(c.opens_at),
            c.title
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn claim(ctx: &Ctx, campaign: &str, server_issuance: bool) -> Result<ExitCode> {
    let campaign_id: CampaignId = campaign.parse().context("invalid campaign id")?;
    let (_id, api) = ctx.signed_api()?;
    let url = api.base_url().to_owned();
    let wallet = ctx.wallet();
    let clock = MonotonicClock::new();
    let c = api
        .campaign(&campaign_id)
        .await
        .with_context(|| format!("cannot fetch campaign {campaign_id}"))?;
    let fetched_at = clock.now();
    if wallet.keys(&url)?.is_none() {
        let keys = api.keys().await.context("cannot fetch the issuer keys")?;
        wallet.save_keys(&url, &keys)?;
    }
    let store = FileRecordStore::new(&ctx.profile, &url);
    let interactive = !ctx.json && std::io::stderr().is_terminal();
    let bar = interactive.then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let mut last_phase: Option<Phase> = None;
    let on_progress = |p: &Progress| {
        if let Some(b) = &bar {
            b.set_message(progress_line(p));
        } else if !ctx.json && last_phase != Some(p.phase) {
            eprintln!("{}", progress_line(p));
        }
        last_phase = Some(p.phase);
    };
    let outcome = run_claim(
        &api,
        &c,
        fetched_at,
        &clock,
        &store,
        EngineConfig {
            server_issuance,
            ..EngineConfig::default()
        },
        on_progress,
    )
    .await
    .context("the claim stopped")?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match outcome {
        Outcome::Holding(v) => {
            wallet.add(&url, v.clone(), Some(c.title.clone()))?;
            let verified = lineup_core::wallet::check(&v, wallet.keys(&url)?.as_ref());
            if ctx.json {
                crate::say!(
                    "{}",
                    json!({"outcome": "holding", "voucher": v, "verified": verified.is_ok(), "campaign_title": c.title})
                );
            } else {
                crate::say!("{}", voucher_lines(&v, Some(&c.title)));
                match verified {
                    Ok(()) => crate::say!("  verified against the issuer's key; kept in the wallet"),
                    Err(e) => crate::say!("  WARNING: the voucher did not verify: {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Failed(r) => bail!("claim failed: {} ({})", r.message, r.code),
        other => {
            let (code, text) = match other {
                Outcome::SoldOut => ("sold_out", "sold out: the supply did not reach your place in line"),
                Outcome::Closed => ("closed", "the campaign is closed"),
                Outcome::Waitlisted => (
                    "waitlisted",
                    "not drawn this time (waitlisted): if a voucher is given back and reaches your place, \
                     the server issues it to you; `lineup claim` again or `lineup wallet` shows it",
                ),
                Outcome::Returned => ("returned", "you gave this place back"),
                _ => ("expired", "your admission window passed without a claim"),
            };
            if ctx.json {
                crate::say!("{}", json!({"outcome": code}));
            } else {
                crate::say!("{text}");
            }
            Ok(ExitCode::from(EXIT_NO_VOUCHER))
        }
    }
}

async fn wallet(ctx: &Ctx, offline: bool) -> Result<ExitCode> {
    let wallet = ctx.wallet();
    if !offline {
        match ctx.signed_api() {
            Ok((_, api)) => {
                if let Err(e) = wallet.refresh(&api).await {
                    eprintln!("note: showing the offline wallet ({e})");
                }
            }
            Err(e) => eprintln!("note: showing the offline wallet ({e:#})"),
        }
    }
    let entries = wallet.entries(Utc::now())?;
    if ctx.json {
        crate::say!("{}", serde_json::to_string(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        crate::say!("the wallet is empty");
    }
    for e in &entries {
        crate::say!(
            "{}  {:<9} {} {}  {}  {}{}",
            e.voucher.code.grouped(),
            format!("{:?}", e.status).to_lowercase(),
            e.voucher.amount,
            e.voucher.currency,
            e.voucher.campaign_id,
            e.campaign_title.as_deref().unwrap_or(""),
            if e.verified { "" } else { "  (NOT VERIFIED)" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Ctx, query: &str) -> Result<ExitCode> {
    let Some(e) = ctx.wallet().find(query, Utc::now())? else {
        bail!("no voucher {query} in this wallet");
    };
    if ctx.json {
        crate::say!("{}", serde_json::to_string(&e)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::say!("{}", lineup_core::qr::terminal(&e.voucher.token)?);
    crate::say!("{}", voucher_lines(&e.voucher, e.campaign_title.as_deref()));
    crate::say!(
        "  {}",
        if e.verified {
            "signature verified".to_owned()
        } else {
            format!("NOT VERIFIED: {}", e.verify_error.unwrap_or_default())
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify(ctx: &Ctx, token: &str) -> Result<ExitCode> {
    let wallet = ctx.wallet();
    let mut key_sets = Vec::new();
    let server = ctx.server_url().ok();
    if let Some(url) = &server
        && let Some(k) = wallet.keys(url)?
    {
        key_sets.push(k);
    }
    if key_sets.is_empty() {
        key_sets = wallet.all_keys()?;
    }
    if key_sets.is_empty() {
        // Nothing stored yet: fetch the issuer keys once and keep them for offline use.
        let api = ctx
            .api()
            .context("no issuer keys stored: pass --server to fetch them")?;
        let k = api.keys().await.context("cannot fetch the issuer keys")?;
        wallet.save_keys(api.base_url(), &k)?;
        key_sets.push(k);
    }
    let mut last_err = None;
    for k in &key_sets {
        let set = PublicKeySet::from_response(k).context("stored issuer keys are malformed")?;
        match lineup_protocol::voucher::verify(token, &set, Some(Utc::now())) {
            Ok(t) => {
                let c = &t.claims;
                if ctx.json {
                    crate::say!(
                        "{}",
                        json!({"valid": true, "campaign": c.campaign, "serial": c.serial, "amount": c.amount,
                               "currency": c.currency_str(), "kid": c.kid, "expires_at": c.expires_at(),
                               "code": t.code().grouped()})
                    );
                } else {
                    crate::say!(
                        "valid: {} #{} · {} {} · code {} · expires {}",
                        c.campaign,
                        c.serial,
                        c.amount,
                        c.currency_str(),
                        t.code().grouped(),
                        c.expires_at().map_or("-".into(), |e| e.format("%Y-%m-%d").to_string())
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => last_err = Some(e),
        }
    }
    match last_err {
        Some(e) => bail!("invalid voucher: {e}"),
        None => bail!("invalid voucher: no issuer keys"),
    }
}

async fn redeem(ctx: &Ctx, voucher: &str, staff_token: &str) -> Result<ExitCode> {
    let api = ctx.api()?;
    let req = match voucher.parse::<VoucherCode>() {
        Ok(code) => RedeemRequest {
            token: None,
            code: Some(code),
        },
        Err(_) => RedeemRequest {
            token: Some(voucher.trim().to_owned()),
            code: None,
        },
    };
    // One key for this scan, kept across retries: a response lost on the way back is retried
    // and gets the same 200 instead of 409 already_redeemed.
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).context("no system randomness")?;
    let key: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut attempt = 0;
    let r = loop {
        match api.redeem_with_key(staff_token, &req, &key).await {
            // No answer, a proxy's error page or a body cut off: the redemption may have happened.
            Err(lineup_core::api::ApiError::Transport(_) | lineup_core::api::ApiError::Unexpected { .. })
                if attempt < 3 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            other => break other.context("redemption refused")?,
        }
    };
    if ctx.json {
        crate::say!("{}", serde_json::to_string(&r)?);
    } else {
        crate::say!(
            "redeemed: {} #{} · {} {} · code {} · at {}",
            r.campaign_id,
            r.serial,
            r.amount,
            r.currency,
            r.code.grouped(),
            display::local(r.redeemed_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}
