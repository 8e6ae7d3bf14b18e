//! `/openapi.json` says what the server does: fetched from a running server, its constraints
//! are held against the protocol's parsers and against the server's answers, so the document
//! cannot drift back to describing something else. (The property-based run against it is
//! tests/openapi/run.sh.)

use crate::common::{Person, backends, demo, expect_problem, spawn_app};
use lineup_protocol::{CampaignId, Contact, ProblemCode, VoucherCode};
use regex::Regex;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashSet;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_owned(), path.clone(), op));
            }
        }
    }
    out
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

fn pattern(doc: &Value, name: &str) -> Regex {
    Regex::new(schema(doc, name)["pattern"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_document_describes_the_server() {
    for backend in backends() {
        let app = spawn_app(backend, demo(10, 10, 300)).await;
        let r = app.get("/openapi.json").await;
        assert_eq!(r.status(), StatusCode::OK);
        let doc: Value = r.json().await.unwrap();
        let ops = operations(&doc);
        assert!(ops.len() >= 12, "{} operations", ops.len());

        // Every operation has its own id.
        let mut ids = HashSet::new();
        for (m, p, op) in &ops {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{m} {p} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        }

        // Errors are problem documents; the layers' answers are documented on every route.
        for (m, p, op) in &ops {
            let responses = op["responses"].as_object().unwrap();
            for (status, resp) in responses {
                let content = resp["content"].as_object().cloned().unwrap_or_default();
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        content.contains_key("application/problem+json") && !content.contains_key("application/json"),
                        "{m} {p} {status}: {content:?}"
                    );
                }
            }
            for status in ["408", "413", "431"] {
                assert!(responses.contains_key(status), "{m} {p} lacks {status}");
            }
            if p.starts_with("/v1/") {
                for status in ["429", "503"] {
                    assert!(responses.contains_key(status), "{m} {p} lacks {status}");
                    assert!(
                        responses[status]["headers"].get("Retry-After").is_some(),
                        "{m} {p} {status}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("415"), "{m} {p} reads a body but lacks 415");
            }
        }
        let limit = lineup_server::http::HEADERS_LIMIT;
        assert!(
            doc["paths"]["/healthz"]["get"]["responses"]["431"]["description"]
                .as_str()
                .unwrap()
                .contains(&limit.to_string())
        );
        // ... and the server answers that way.
        let r = app
            .http
            .get(format!("{}/v1/campaigns", app.url))
            .header("X-Padding", "x".repeat(limit + 1))
            .send()
            .await
            .unwrap();
        expect_problem(r, ProblemCode::HeadersTooLarge).await;

        // The examples are values the protocol accepts, and match their own patterns.
        let code = schema(&doc, "VoucherCode");
        assert_eq!(code["format"], "voucher-code");
        let example = code["example"].as_str().unwrap();
        assert!(example.parse::<VoucherCode>().is_ok(), "example code {example}");
        assert!(pattern(&doc, "VoucherCode").is_match(example));
        assert_eq!(code["pattern"], lineup_protocol::code::PATTERN);
        let id = schema(&doc, "CampaignId")["example"].as_str().unwrap();
        assert!(id.parse::<CampaignId>().is_ok() && pattern(&doc, "CampaignId").is_match(id));
        let contact = schema(&doc, "Contact");
        assert_eq!(contact["pattern"], lineup_protocol::CONTACT_PATTERN);
        assert_eq!(contact["maxLength"], lineup_protocol::CONTACT_MAX_LEN);
        let example = contact["example"].as_str().unwrap();
        assert!(example.parse::<Contact>().is_ok() && pattern(&doc, "Contact").is_match(example));

        // Request constraints: consent only true, exactly one of token and code, positions from 1.
        assert_eq!(
            schema(&doc, "RegisterRequest")["properties"]["consent"]["enum"],
            serde_json::json!([true])
        );
        let redeem = schema(&doc, "RedeemRequest")["oneOf"].as_array().unwrap();
        let required: Vec<&Value> = redeem.iter().map(|alt| &alt["required"]).collect();
        assert_eq!(required, [&serde_json::json!(["token"]), &serde_json::json!(["code"])]);
        assert_eq!(schema(&doc, "Position")["minimum"], 1);
        let links = &doc["paths"]["/v1/campaigns/{id}/claim"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["redeem_by_code"]["operationId"], "redeem");
        assert_eq!(links["redeem_by_code"]["requestBody"]["code"], "$response.body#/code");

        // The Idempotency-Key parameter carries its format, and the server reads it the same way.
        for path in ["/v1/campaigns/{id}/claim", "/v1/campaigns/{id}/tickets"] {
            let params = doc["paths"][path]["post"]["parameters"].as_array().unwrap();
            let key = params.iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
            assert_eq!(key["in"], "header");
            assert_eq!(key["schema"]["$ref"], "#/components/schemas/IdempotencyKey", "{path}");
            let id_param = params.iter().find(|p| p["name"] == "id").unwrap();
            assert_eq!(id_param["schema"]["$ref"], "#/components/schemas/CampaignId", "{path}");
        }
        let key = schema(&doc, "IdempotencyKey");
        assert_eq!(
            (key["minLength"].as_u64(), key["maxLength"].as_u64()),
            (Some(1), Some(64))
        );
        let key_re = pattern(&doc, "IdempotencyKey");
        let who = Person::new(1);
        assert_eq!(app.register(&who).await, StatusCode::CREATED);
        let body = serde_json::json!({"ticket_id": "no-such-ticket"});
        let keys: [&[u8]; 8] = [
            b"k",
            b"~!azAZ09{}",
            &[b'a'; 64],
            &[b'a'; 65],
            b"two words",
            b"tab\there",
            b"caf\xc3\xa9",
            b"quote\"and\\slash",
        ];
        for raw in keys {
            let value = reqwest::header::HeaderValue::from_bytes(raw).unwrap();
            let bytes = serde_json::to_vec(&body).unwrap();
            let ts = app.now().timestamp();
            let path = "/v1/campaigns/demo/claim";
            let auth = lineup_protocol::auth::sign_request(&who.key, "POST", path, ts, &bytes);
            let r = app
                .http
                .request(Method::POST, format!("{}{path}", app.url))
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", value)
                .body(bytes)
                .send()
                .await
                .unwrap();
            let documented = std::str::from_utf8(raw).is_ok_and(|s| key_re.is_match(s));
            let expected = if documented {
                ProblemCode::NoTicket
            } else {
                ProblemCode::InvalidInput
            };
            expect_problem(r, expected).await;
        }
        // A malformed key on taking a place is refused even without auto_issue, as documented.
        let r = app
            .signed(
                &who,
                Method::POST,
                "/v1/campaigns/demo/tickets",
                None,
                &[("Idempotency-Key", "two words")],
            )
            .await;
        expect_problem(r, ProblemCode::InvalidInput).await;
        let (status, _) = app.take(&who).await;
        assert_eq!(status, StatusCode::CREATED);
        app.stop().await;
    }
}
