//! Byte-compatibility vectors: another implementation of the protocol can check itself
//! against `tests/vectors/*.json`. Set `LINEUP_REGENERATE_VECTORS=1` to rewrite them after
//! an intentional format change (and bump the token version).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use lineup_protocol::auth::{SignedHeader, sign_request};
use lineup_protocol::voucher::{self, PublicKeySet, TOKEN_VERSION, VoucherClaims};
use lineup_protocol::{IdentityKey, VoucherCode};
use serde_json::{Value, json};
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn generate() -> Value {
    let mut vouchers = Vec::new();
    for (i, (seed, campaign, serial, amount, expires, holder_seed)) in [
        (1u8, "demo", 1u64, 6000u32, 1_798_761_600u64, 10u8),
        (2, "demo", 1000, 6000, 1_798_761_600, 11),
        (3, "cgv-2026-winter", 4_500_000, 6000, 1_800_000_000, 12),
    ]
    .into_iter()
    .enumerate()
    {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let holder = IdentityKey([holder_seed; 32]);
        let claims = VoucherClaims {
            version: TOKEN_VERSION,
            kid: i as u32 + 1,
            campaign: campaign.parse().unwrap(),
            serial,
            amount,
            currency: *b"KRW",
            expires,
            holder: holder.holder_binding(),
        };
        let t = voucher::sign(&claims, &key).unwrap();
        vouchers.push(json!({
            "signing_key_seed": URL_SAFE_NO_PAD.encode([seed; 32]),
            "public_key": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            "kid": claims.kid,
            "campaign": campaign,
            "serial": serial,
            "amount": amount,
            "currency": "KRW",
            "expires": expires,
            "holder_key": holder.to_b64(),
            "holder_binding_hex": claims.holder.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "token": t.text,
            "code": t.code().grouped(),
        }));
    }
    let key = SigningKey::from_bytes(&[5; 32]);
    let header = sign_request(
        &key,
        &"https://lineup.example".parse().unwrap(),
        "POST",
        "/v1/campaigns/demo/claim",
        1_790_000_000,
        br#"{"ticket_id":"t-1"}"#,
    );
    json!({
        "vouchers": vouchers,
        "requests": [{
            "signing_key_seed": URL_SAFE_NO_PAD.encode([5u8; 32]),
            "origin": "https://lineup.example",
            "method": "POST",
            "path": "/v1/campaigns/demo/claim",
            "ts": 1_790_000_000,
            "body": r#"{"ticket_id":"t-1"}"#,
            "authorization": header,
        }]
    })
}

#[test]
fn vectors_match() {
    let path = vectors_dir().join("v1.json");
    let fresh = generate();
    if std::env::var_os("LINEUP_REGENERATE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&fresh).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors file")).unwrap();
    assert_eq!(stored, fresh, "the encoder no longer produces the committed vectors");

    // And the committed tokens verify from their public keys alone, as a scanner would.
    for v in stored["vouchers"].as_array().unwrap() {
        let resp = lineup_protocol::KeysResponse {
            keys: vec![lineup_protocol::PublicKeyInfo {
                kid: v["kid"].as_u64().unwrap() as u32,
                alg: "Ed25519".into(),
                public_key: v["public_key"].as_str().unwrap().into(),
            }],
        };
        let keys = PublicKeySet::from_response(&resp).unwrap();
        let t = voucher::verify(v["token"].as_str().unwrap(), &keys, None).unwrap();
        assert_eq!(t.claims.serial, v["serial"].as_u64().unwrap());
        assert_eq!(t.code(), v["code"].as_str().unwrap().parse::<VoucherCode>().unwrap());
        assert!(t.claims.is_held_by(&v["holder_key"].as_str().unwrap().parse().unwrap()));
    }
    for r in stored["requests"].as_array().unwrap() {
        let h = SignedHeader::parse(r["authorization"].as_str().unwrap()).unwrap();
        let ts = r["ts"].as_i64().unwrap();
        h.verify(
            &[r["origin"].as_str().unwrap().parse().unwrap()],
            r["method"].as_str().unwrap(),
            r["path"].as_str().unwrap(),
            r["body"].as_str().unwrap().as_bytes(),
            ts,
        )
        .unwrap();
    }
}
