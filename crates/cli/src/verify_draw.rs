//! `lineup verify-draw CAMPAIGN`: checks a campaign's draw with the protocol crate's reference
//! implementation. Before the draw it records the seed commitment in the profile (so a server
//! cannot later reveal a seed for another commitment than the one this person saw); after it,
//! it checks the revealed seed against that commitment, downloads the ticket ids in join
//! order, checks their count, uniqueness and Merkle root, recomputes every position, and checks
//! the person's own position both from the list and from the server's Merkle proof.

use crate::context::Ctx;
use anyhow::{Context as _, Result, bail};
use lineup_protocol::CampaignId;
use lineup_protocol::draw::{PAGE_MAX, check_told_position, to_hex};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Commitments seen, by `server campaign`.
const SEEN_FILE: &str = "draw-commitments.json";

pub async fn verify_draw(ctx: &Ctx, campaign: &str) -> Result<ExitCode> {
    let id: CampaignId = campaign.parse().context("invalid campaign id")?;
    let api = ctx.api()?;
    let info = api.draw(&id).await.context("cannot fetch the draw")?;
    let seen_path = ctx.profile.dir().join(SEEN_FILE);
    let mut seen: BTreeMap<String, String> = lineup_core::profile::read_json(&seen_path)?.unwrap_or_default();
    let slot = format!("{} {}", api.base_url(), id);
    let seen_before = seen.get(&slot).cloned();
    if seen_before.is_none() {
        seen.insert(slot, info.commitment.clone());
        lineup_core::profile::write_json(&seen_path, &seen).context("cannot record the commitment")?;
    }
    if !info.drawn {
        if let Some(before) = &seen_before
            && !before.eq_ignore_ascii_case(&info.commitment)
        {
            bail!(
                "draw check failed: the commitment changed: {before} was published before, {} now",
                info.commitment
            );
        }
        if ctx.json {
            crate::say!(
                "{}",
                json!({"campaign": id, "drawn": false, "commitment": info.commitment, "draw_at": info.draw_at})
            );
        } else {
            crate::say!(
                "not drawn yet: commitment {} recorded; the draw is at {}; run this again after it",
                info.commitment,
                crate::display::local(info.draw_at)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let revealed = info
        .reveal(seen_before.as_deref())
        .map_err(|e| anyhow::anyhow!("draw check failed: {e}"))?;
    let mut ids = Vec::with_capacity(usize::try_from(revealed.n).unwrap_or(0));
    while (ids.len() as u64) < revealed.n {
        let page = api
            .draw_page(&id, ids.len() as u64 + 1, PAGE_MAX)
            .await
            .context("cannot fetch the list of tickets")?;
        if page.tickets.is_empty() {
            break;
        }
        ids.extend(page.tickets);
    }
    let order = revealed
        .verify_list(&ids)
        .map_err(|e| anyhow::anyhow!("draw check failed: {e}"))?;
    // The person's own place: from the list, from the proof a phone would check, and as told.
    let mut mine = serde_json::Value::Null;
    let mut note = None;
    match ctx.signed_api() {
        Err(_) => note = Some("no registered identity in this profile: your own place was not checked".to_owned()),
        Ok((_, signed)) => match signed.ticket(&id).await {
            Err(e) if e.code() == Some(lineup_protocol::ProblemCode::NoTicket) => {
                note = Some("you have no place in this campaign".to_owned());
            }
            Err(e) => return Err(e).context("cannot fetch your ticket"),
            Ok(t) if !t.in_draw => {
                note = Some("your ticket joined after the draw (the back of the line, in arrival order)".to_owned());
            }
            Ok(t) => {
                let computed = *order.position_of.get(&t.ticket_id).ok_or_else(|| {
                    anyhow::anyhow!(
                        "draw check failed: {}",
                        lineup_protocol::draw::DrawVerifyError::NotInList(t.ticket_id.clone())
                    )
                })?;
                let proof = api
                    .draw_proof(&id, &t.ticket_id)
                    .await
                    .context("cannot fetch your ticket's proof")?;
                let by_proof = revealed
                    .verify_proof(&proof)
                    .map_err(|e| anyhow::anyhow!("draw check failed: {e}"))?;
                if by_proof != computed {
                    bail!("draw check failed: your ticket's proof gives position {by_proof}, the list {computed}");
                }
                if let Some(told) = t.position {
                    check_told_position(told.0, computed).map_err(|e| anyhow::anyhow!("draw check failed: {e}"))?;
                }
                mine = json!({"ticket_id": t.ticket_id, "seq": proof.seq, "position": computed});
            }
        },
    }
    if ctx.json {
        crate::say!(
            "{}",
            json!({"campaign": id, "drawn": true, "verified": true, "commitment": info.commitment,
                   "seed": to_hex(&revealed.seed.to_be_bytes()), "n": revealed.n,
                   "list_root": to_hex(&revealed.list_root), "mine": mine, "note": note})
        );
    } else {
        crate::say!(
            "draw verified: the seed matches commitment {}; {} tickets; list root {}",
            info.commitment,
            revealed.n,
            to_hex(&revealed.list_root)
        );
        if let Some(pos) = mine.get("position") {
            crate::say!(
                "your ticket joined #{} and is at position {pos}, as the server told you",
                mine["seq"]
            );
        }
        if let Some(n) = note {
            crate::say!("{n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
