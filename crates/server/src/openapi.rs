//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers' annotations
//! and the `lineup-protocol` types, then completed by [`Conventions`] with what holds across
//! routes: problem+json error bodies, the answers of the protective layers (header and body
//! limits, rate limit, load shedding), the `Idempotency-Key` format, and conditional reads.
//! A property-based run (tests/openapi/run.sh) checks the server against this document.

use crate::extract::BODY_LIMIT;
use crate::http::HEADERS_LIMIT;
use crate::routes;
use lineup_protocol::problem::PROBLEM_CONTENT_TYPE;
use lineup_protocol::{CampaignId, IDEMPOTENCY_KEY_HEADER};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lineup claim server", description = "Waiting room, draw, paced admission, exactly-once claims and box office. See docs/protocol.md.

Every error is `application/problem+json` (RFC 9457) with a stable machine `code` (schema `Problem`). Request header fields whose names and values total more than 16 KiB (16,384 bytes) are refused on every path with 431 `headers_too_large`; request bodies larger than 16 KiB with 413 `payload_too_large`; a body that has not arrived within the body timeout with 408 `body_timeout`. Under `/v1`, requests beyond an identity's or address's rate are refused with 429 `rate_limited` and `Retry-After`, and requests beyond the server's capacity with 503 `overloaded` (or `timeout`) and `Retry-After`.

Signed requests carry `Authorization: Lineup key=<public key>, ts=<unix seconds>, sig=<signature>`, the Ed25519 signature (unpadded base64url) of `lineup-request-v2\\n<origin>\\n<METHOD>\\n<path and query>\\n<ts>\\n<base64url(SHA-256(body))>`, where `<origin>` is the server's `scheme://host[:port]` as the client reaches it (default port left out). A key replaced when its person moved to a new device (`move_here` on `POST /v1/identities/verify`) gets 401 `key_revoked` on every signed request."),
    paths(
        routes::ops::healthz,
        routes::ops::metrics,
        routes::ops::openapi,
        routes::ops::keys,
        routes::campaigns::list,
        routes::campaigns::get,
        routes::draw::info,
        routes::draw::tickets,
        routes::draw::proof,
        routes::identities::register,
        routes::identities::verify,
        routes::tickets::take,
        routes::tickets::me,
        routes::tickets::give_back,
        routes::claim::claim,
        routes::vouchers::list,
        routes::redemptions::redeem,
        routes::push::vapid,
        routes::push::subscribe,
        routes::push::unsubscribe,
    ),
    components(schemas(lineup_protocol::Problem, lineup_protocol::ProblemCode, CampaignId)),
    modifiers(&Security, &Conventions)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "lineup_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Lineup key=<public key>, ts=<unix seconds>, sig=<Ed25519 signature of the canonical request>",
            ))),
        );
        components.add_security_scheme(
            "staff_bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The `Idempotency-Key` header's value, as `routes::claim::IdempotencyKey::parse` reads it.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,64}$";

/// What holds across routes, added to every operation the annotations describe.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("IdempotencyKey".into(), idempotency_key_schema().into());
        for (path, item) in openapi.paths.paths.iter_mut() {
            let versioned = path.starts_with("/v1/");
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
            ] {
                if let Some(op) = op {
                    complete(path, method, versioned, op);
                }
            }
        }
    }
}

fn idempotency_key_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
        .min_length(Some(1))
        .max_length(Some(64))
        .description(Some(
            "1-64 printable ASCII characters (`!` to `~`, no spaces), a fresh random value made and stored by the client before the first attempt. Absent where required: 400 idempotency_key_required (claim) or auto_issue_key_required (tickets with auto_issue); present but not of this form: 400 invalid_input.",
        ))
        .examples([serde_json::json!("6f1c2a4e-9b7d-4c1e-8a3f-2d5b7e9c0a11")])
        .into()
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(lineup_protocol::Problem::name())))
                .build(),
        )
        .build()
}

fn integer_header(description: &str) -> RefOr<Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
            .description(Some(description))
            .build(),
    )
}

fn text_header(description: &str) -> RefOr<Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(description))
            .build(),
    )
}

fn with_retry_after(mut r: Response, description: &str) -> Response {
    r.headers.insert("Retry-After".into(), integer_header(description));
    r
}

fn complete(path: &str, method: HttpMethod, versioned: bool, op: &mut Operation) {
    problem_bodies(&mut op.responses.responses);
    layer_answers(versioned, op.request_body.is_some(), &mut op.responses.responses);
    if let Some(RefOr::T(body)) = op.request_body.as_mut() {
        optional_ticket_body(path, &method, body);
    }
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p {
            if p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER) {
                p.schema = Some(Ref::from_schema_name("IdempotencyKey").into());
            }
            if p.parameter_in == ParameterIn::Path && p.name == "id" {
                p.schema = Some(Ref::from_schema_name(CampaignId::name()).into());
            }
        }
    }
    if path == "/v1/campaigns/{id}/claim" {
        box_office_links(&mut op.responses.responses);
    }
    // Both campaign reads are conditional (routes::campaigns::cached).
    if method == HttpMethod::Get && path.starts_with("/v1/campaigns") && !path.contains("/tickets") {
        conditional_read(op);
    }
}

type Responses = std::collections::BTreeMap<String, RefOr<Response>>;

/// Errors are problem documents, never plain JSON; a 409 may say when to come back.
fn problem_bodies(responses: &mut Responses) {
    for r in responses.values_mut() {
        if let RefOr::T(r) = r
            && let Some(content) = r.content.shift_remove("application/json")
        {
            let is_problem = matches!(&content, RefOr::T(c)
                if matches!(&c.schema, Some(RefOr::Ref(re)) if re.ref_location.ends_with("/Problem")));
            let key = if is_problem {
                PROBLEM_CONTENT_TYPE
            } else {
                "application/json"
            };
            r.content.insert(key.into(), content);
        }
    }
    if let Some(RefOr::T(r)) = responses.get_mut("409") {
        r.headers.insert(
            "Retry-After".into(),
            integer_header("seconds until check_at (not_admitted, too_early) or a retry (request_in_flight)"),
        );
    }
}

/// What the protective layers (crate::http::router) and the body reader (crate::extract) answer.
fn layer_answers(versioned: bool, reads_body: bool, responses: &mut Responses) {
    let mut add = |status: &str, r: Response| {
        responses.entry(status.into()).or_insert(RefOr::T(r));
    };
    add(
        "431",
        problem(&format!(
            "headers_too_large: the request's header fields (names and values) total more than {HEADERS_LIMIT} bytes"
        )),
    );
    add(
        "413",
        problem(&format!(
            "payload_too_large: the request body is larger than {BODY_LIMIT} bytes"
        )),
    );
    add("408", problem("body_timeout: the request body did not arrive in time"));
    if versioned {
        let mut limited = with_retry_after(
            problem(
                "rate_limited: too many requests from this identity or address (on registration: too many one-time codes to this contact or from this address; at the box office: too many wrong staff tokens from this address); retry after Retry-After",
            ),
            "seconds to wait before retrying",
        );
        limited.headers.insert(
            "RateLimit".into(),
            text_header("the remaining quota and its reset, as the IETF RateLimit header fields draft gives them"),
        );
        limited
            .headers
            .insert("RateLimit-Policy".into(), text_header("the quota policy"));
        add("429", limited);
        add(
            "503",
            with_retry_after(
                problem(
                    "overloaded: the server is at capacity; or timeout: the request took too long (a claim still completes; repeat it with the same Idempotency-Key)",
                ),
                "seconds to wait before retrying",
            ),
        );
    }
    if reads_body {
        add(
            "415",
            problem("unsupported_media_type: a body sent with a Content-Type other than application/json"),
        );
        add(
            "400",
            problem("malformed_json: the body is not a JSON object of this shape; invalid_input: a refused value"),
        );
    }
}

/// `If-None-Match` in, 304 or an `ETag` out.
fn conditional_read(op: &mut Operation) {
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("If-None-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("an ETag from an earlier answer: 304 while it still holds"))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
            .into(),
    );
    let responses = &mut op.responses.responses;
    if let Some(RefOr::T(ok)) = responses.get_mut("200") {
        ok.headers
            .insert("ETag".into(), text_header("a strong tag of everything but server_time"));
    }
    responses
        .entry("304".into())
        .or_insert(RefOr::T(ResponseBuilder::new().description("not modified").build()));
}

/// A claimed voucher can be taken to the box office by its code or its token (OpenAPI links, so
/// a stateful test redeems real vouchers, not only forged ones).
fn box_office_links(responses: &mut Responses) {
    for status in ["200", "201"] {
        if let Some(RefOr::T(r)) = responses.get_mut(status) {
            for (name, given, other) in [
                ("redeem_by_code", "code", "token"),
                ("redeem_by_token", "token", "code"),
            ] {
                let link = LinkBuilder::new()
                    .operation_id("redeem")
                    .request_body(Some(serde_json::json!({
                        given: format!("$response.body#/{given}"),
                        other: null,
                    })))
                    .description(format!("redeem the voucher by its {given}"))
                    .build();
                r.links.insert(name.into(), RefOr::T(link));
            }
        }
    }
}

/// `POST .../tickets` takes no body (protocol 1.0) or a `TakeTicketRequest` object; JSON `null`
/// is not an object and is refused like any other (400 `malformed_json`).
fn optional_ticket_body(path: &str, method: &HttpMethod, body: &mut RequestBody) {
    if *method != HttpMethod::Post || path != "/v1/campaigns/{id}/tickets" {
        return;
    }
    body.required = Some(Required::False);
    for content in body.content.values_mut() {
        if let RefOr::T(c) = content {
            c.schema = Some(Ref::from_schema_name("TakeTicketRequest").into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_every_endpoint() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for p in [
            "/v1/campaigns/{id}/claim",
            "/v1/campaigns/{id}/tickets/me",
            "/v1/redemptions",
            "/v1/identities",
            "/v1/keys",
        ] {
            assert!(doc["paths"].get(p).is_some(), "missing {p}");
        }
        assert!(doc["components"]["schemas"].get("TicketStatus").is_some());
        assert!(doc["components"]["securitySchemes"].get("lineup_signature").is_some());
    }
}
