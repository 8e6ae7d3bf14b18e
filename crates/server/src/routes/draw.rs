//! The draw anyone can check (public, no authentication): `GET /v1/campaigns/{id}/draw` (the
//! seed commitment from the campaign's creation on; seed, salt, `n` and the sealed Merkle root
//! of the join order after the draw), `GET .../draw/tickets` (ticket ids in join order, paged)
//! and `GET .../draw/proof/{ticket_id}` (one ticket's place in the join order with its Merkle
//! audit path). What these prove is argued in docs/protocol.md.

use super::tickets::campaign_id;
use crate::extract::CampaignPath;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::draw_record::{self, DrawRow};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lineup_protocol::draw::{DrawInfo, DrawPage, DrawProof, PAGE_MAX, commitment, to_hex};
use lineup_protocol::{CampaignId, ProblemCode};

/// Once sealed, the published draw never changes.
const SEALED_CACHE: &str = "public, max-age=3600";
const OPEN_CACHE: &str = "public, max-age=1";

fn cache(mut resp: Response, value: &'static str) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    resp
}

/// Starts sealing campaign `id`'s drawn join order in the background unless it is sealed or
/// being sealed (called by the background tick after each settle of a drawn campaign).
pub fn seal_soon(state: &AppState, id: &CampaignId) {
    if !state.draws().wants_seal(id) {
        return;
    }
    let (state, id) = (state.clone(), id.clone());
    tokio::spawn(async move {
        if let Err(e) = state.draws().seal(state.store(), &id).await {
            tracing::warn!(campaign = %id, error = %e, "cannot seal the draw yet");
        }
    });
}

/// The stored draw with a salt (set now if an older server stored the campaign without one).
async fn draw_row(state: &AppState, id: &CampaignId) -> Result<DrawRow, ApiError> {
    let unknown = || ApiError::new(ProblemCode::UnknownCampaign, format!("There is no campaign {id}."));
    let row = draw_record::draw_row(state.store(), id).await?.ok_or_else(unknown)?;
    if row.salt.is_some() {
        return Ok(row);
    }
    let salt = crate::issuer::random_bytes::<32>().map_err(ApiError::internal)?;
    draw_record::ensure_salt(state.store(), id, &salt).await?;
    draw_record::draw_row(state.store(), id).await?.ok_or_else(unknown)
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/draw", tag = "campaigns",
    params(("id" = String, Path, description = "campaign id")),
    responses(
        (status = 200, description = "the seed commitment; after the draw also the seed, salt, n and the Merkle root of the join order", body = DrawInfo),
        (status = 404, description = "unknown campaign", body = lineup_protocol::Problem),
    ))]
pub async fn info(State(state): State<AppState>, CampaignPath(id): CampaignPath) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let c = state.campaign(&id).await?;
    let now = state.now();
    let k = state.settle(&c, now).await?;
    let sealed = if k.drawn {
        state.draws().seal(state.store(), &id).await?
    } else {
        None
    };
    let row = match &sealed {
        Some(s) => s.row.clone(),
        None => draw_row(&state, &id).await?,
    };
    let salt = row.salt.ok_or_else(|| ApiError::internal("draw salt missing"))?;
    let reveal = row.drawn && row.n.is_some();
    let body = DrawInfo {
        campaign_id: id,
        commitment: to_hex(&commitment(row.seed, &salt)),
        draw_at: row.draw_at,
        drawn: row.drawn,
        n: row.n.filter(|_| reveal),
        seed: reveal.then(|| to_hex(&row.seed.to_be_bytes())),
        salt: reveal.then(|| to_hex(&salt)),
        list_root: row.list_root.filter(|_| reveal).map(|r| to_hex(&r)),
        server_time: now,
    };
    let policy = if body.list_root.is_some() {
        SEALED_CACHE
    } else {
        OPEN_CACHE
    };
    Ok(cache(Json(body).into_response(), policy))
}

/// `from` and `limit` of a page request (`from` 1-based, default 1; `limit` 1..=PAGE_MAX).
fn page_query(q: Option<&str>) -> Result<(u64, u64), ApiError> {
    let bad = |m: &str| ApiError::new(ProblemCode::InvalidInput, m.to_owned());
    let (mut from, mut limit) = (1u64, PAGE_MAX);
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n: u64 = v.parse().map_err(|_| bad("from and limit are positive integers"))?;
        match k {
            // The document says int64: a join number past it names no ticket and is refused.
            "from" if (1..=i64::MAX as u64).contains(&n) => from = n,
            "limit" if (1..=PAGE_MAX).contains(&n) => limit = n,
            "from" | "limit" => return Err(bad(&format!("from >= 1 and limit in 1..={PAGE_MAX}"))),
            _ => return Err(bad("only from and limit are accepted")),
        }
    }
    Ok((from, limit))
}

/// The sealed draw of a drawn campaign, or 409 `too_early` until the draw.
async fn sealed(state: &AppState, id: &CampaignId) -> Result<std::sync::Arc<crate::draw::Sealed>, ApiError> {
    let c = state.campaign(id).await?;
    let now = state.now();
    let k = state.settle(&c, now).await?;
    if !k.drawn {
        return Err(
            ApiError::new(ProblemCode::TooEarly, "The draw has not been done yet.").check_at(c.spec.draw_at, now)
        );
    }
    state.draws().seal(state.store(), id).await?.ok_or_else(|| {
        ApiError::new(
            ProblemCode::NotFound,
            "This campaign was drawn with stored positions, before draws could be checked.",
        )
    })
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/draw/tickets", tag = "campaigns",
    params(("id" = String, Path, description = "campaign id"),
        ("from" = Option<u64>, Query, minimum = 1, description = "join number of the first ticket (1-based, default 1)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "at most this many ids (1..=10000, default 10000)")),
    responses(
        (status = 200, description = "ticket ids in join order", body = DrawPage),
        (status = 400, description = "bad from or limit", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign", body = lineup_protocol::Problem),
        (status = 409, description = "not drawn yet (too_early with check_at)", body = lineup_protocol::Problem),
    ))]
pub async fn tickets(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let (from, limit) = page_query(q.as_deref())?;
    let s = sealed(&state, &id).await?;
    let n = s.row.n.unwrap_or(0);
    let to = n.min(from.saturating_add(limit - 1));
    let tickets = if from > n {
        Vec::new()
    } else {
        draw_record::ticket_ids(state.store(), &id, from, to)
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    };
    let body = DrawPage {
        campaign_id: id,
        n,
        from,
        tickets,
    };
    Ok(cache(Json(body).into_response(), SEALED_CACHE))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/draw/proof/{ticket_id}", tag = "campaigns",
    params(("id" = String, Path, description = "campaign id"), ("ticket_id" = String, Path, description = "ticket id")),
    responses(
        (status = 200, description = "the ticket's join number and Merkle audit path", body = DrawProof),
        (status = 404, description = "unknown campaign, or no such ticket in the draw", body = lineup_protocol::Problem),
        (status = 409, description = "not drawn yet (too_early with check_at)", body = lineup_protocol::Problem),
    ))]
pub async fn proof(
    State(state): State<AppState>,
    Path((id, ticket_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let s = sealed(&state, &id).await?;
    let n = s.row.n.unwrap_or(0);
    let not_in = || ApiError::new(ProblemCode::NotFound, "No ticket with this id is in the draw.");
    let seq = draw_record::seq_of(state.store(), &id, &ticket_id)
        .await?
        .filter(|&q| (1..=n).contains(&q))
        .ok_or_else(not_in)?;
    // The ticket's block of join numbers: the lowest steps of its path.
    let len = lineup_protocol::draw::BlockTree::block_len(crate::draw::TREE_SKIP);
    let first = (seq - 1) / len * len + 1;
    let block: Vec<[u8; 32]> = draw_record::ticket_ids(state.store(), &id, first, n.min(first + len - 1))
        .await?
        .iter()
        .map(|(_, t)| lineup_protocol::draw::leaf_hash(t))
        .collect();
    let path = s.tree.proof(seq - 1, &block).ok_or_else(not_in)?;
    let body = DrawProof {
        campaign_id: id,
        ticket_id,
        seq,
        n,
        path: path.iter().map(|h| to_hex(h)).collect(),
    };
    Ok(cache(Json(body).into_response(), SEALED_CACHE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries_parse_and_refuse() {
        assert_eq!(page_query(None).unwrap(), (1, PAGE_MAX));
        assert_eq!(page_query(Some("from=5&limit=7")).unwrap(), (5, 7));
        for bad in ["from=0", "limit=0", "limit=10001", "from=x", "other=1", "from=-1"] {
            assert_eq!(
                page_query(Some(bad)).unwrap_err().0.code,
                ProblemCode::InvalidInput,
                "{bad}"
            );
        }
    }
}
