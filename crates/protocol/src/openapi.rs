//! OpenAPI schemas that the derive cannot say: `consent` must be `true`, and a redemption names
//! exactly one of `token` and `code`. Built only with the `openapi` feature (the server's).

use crate::api::RedeemRequest;
use crate::code::VoucherCode;
use crate::voucher::MAX_TOKEN_CHARS;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

/// `RegisterRequest.consent`: a boolean that can only be `true`.
pub fn consent() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .description(Some(
            "The person agreed to the terms and to the contact being kept (as a digest). Must be true: false is 422 consent_required.",
        ))
        .into()
}

/// The signed voucher token as scanned: unpadded base64url, at most [`MAX_TOKEN_CHARS`]
/// characters. Only its signature tells a real one (422 `invalid_voucher` otherwise).
fn token() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .min_length(Some(1))
        .max_length(Some(MAX_TOKEN_CHARS))
        .description(Some(
            "The scanned voucher token: unpadded base64url, at most 512 characters. One that is not a token the issuer signed (forged, altered, or not a token at all) is 422 invalid_voucher; an expired one 410 voucher_expired.",
        ))
        .into()
}

fn null() -> Schema {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

/// One way to name the voucher: `given` holds `schema`, the other member is absent or null.
fn only(given: &str, schema: impl Into<RefOr<Schema>>, other: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(given, schema)
        .property(other, null())
        .required(given)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
        .into()
}

impl PartialSchema for RedeemRequest {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(only("token", token(), "code"))
            .item(only(
                "code",
                schema::Ref::from_schema_name(VoucherCode::name()),
                "token",
            ))
            .description(Some(
                "Exactly one of token (scanned QR) or code (typed in); neither or both is 400 invalid_input.",
            ))
            .into()
    }
}

impl ToSchema for RedeemRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((VoucherCode::name().into_owned(), VoucherCode::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemption_is_one_of_token_or_code() {
        let v = serde_json::to_value(RedeemRequest::schema()).unwrap();
        let alts = v["oneOf"].as_array().unwrap();
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[0]["required"], serde_json::json!(["token"]));
        assert_eq!(alts[1]["required"], serde_json::json!(["code"]));
        assert_eq!(
            alts[1]["properties"]["code"]["$ref"],
            "#/components/schemas/VoucherCode"
        );
        assert_eq!(alts[0]["additionalProperties"], false);
        let consent = serde_json::to_value(consent()).unwrap();
        assert_eq!(consent["enum"], serde_json::json!([true]));
    }
}
