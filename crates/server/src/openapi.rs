//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers' annotations
//! and the `lineup-protocol` types.

use crate::routes;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Lineup claim server", description = "Waiting room, draw, paced admission, exactly-once claims and box office. See docs/protocol.md."),
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
        routes::tickets::take,
        routes::tickets::me,
        routes::tickets::give_back,
        routes::claim::claim,
        routes::vouchers::list,
        routes::redemptions::redeem,
    ),
    components(schemas(lineup_protocol::Problem, lineup_protocol::ProblemCode)),
    modifiers(&Security)
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
