//! The happy path: register, claim, verify, claim again, wallet, show, redeem.

use crate::harness::{Client, demo, issued_on_server, join_session_keyring, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_claim_then_verify_then_claim_again_yields_the_same_voucher() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(5, 3000)).await;
    let c = Client::new(&server.url);

    let reg = c.register("kim@example.com").await;
    assert_eq!(reg["store"], "keyutils");
    assert_eq!(reg["created"], true);
    // The secret is not in the profile directory.
    let meta = std::fs::read_to_string(c.profile.path().join("identity.json")).unwrap();
    assert!(meta.contains(reg["identity"].as_str().unwrap()));

    let campaigns = c.json(&["campaigns"]).await;
    assert_eq!(campaigns["campaigns"][0]["id"], "demo");

    let first = c.json(&["claim", "demo"]).await;
    assert_eq!(first["outcome"], "holding");
    assert_eq!(first["verified"], true);
    let token = first["voucher"]["token"].as_str().unwrap().to_owned();
    let code = first["voucher"]["code"].as_str().unwrap().to_owned();

    let v = c.json(&["verify", &token]).await;
    assert_eq!(v["valid"], true);
    assert_eq!(v["campaign"], "demo");
    // A tampered token is refused with one line and a non-zero exit.
    let mut bad = token.clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let out = c.run(&["verify", &String::from_utf8(bad).unwrap()]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: invalid voucher"), "{err}");

    let again = c.json(&["claim", "demo"]).await;
    assert_eq!(again["voucher"], first["voucher"]);
    assert_eq!(c.wallet_offline().await.len(), 1);
    assert_eq!(issued_on_server(&server.url).await, 1);

    // The text output shows the QR code and the grouped code.
    let shown = c.run(&["show", &code]).await;
    assert!(shown.status.success());
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains('▀') || text.contains('▄'), "{text}");
    assert!(text.contains(&code));

    // Box office: the first redemption wins, the second is refused.
    let staff = server.demo_staff_token.clone().unwrap();
    let r = c.json(&["redeem", &token, "--staff-token", &staff]).await;
    assert_eq!(r["serial"], first["voucher"]["serial"]);
    let out = c.run(&["--json", "redeem", &code, "--staff-token", &staff]).await;
    assert!(!out.status.success());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "already_redeemed");
    // The wallet learns the new status when online.
    let w = c.json(&["wallet"]).await;
    assert_eq!(w[0]["status"], "redeemed");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_fail_with_one_line_and_a_non_zero_exit() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(1, 3000)).await;
    let c = Client::new(&server.url);
    // Not registered yet.
    let out = c.run(&["claim", "demo"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("register"), "{err}");
    // A bad contact.
    let out = c.run(&["register", "--contact", "nobody"]).await;
    assert!(!out.status.success());
    // An unknown campaign.
    c.register("+82 10-1234-5678").await;
    let out = c.run(&["--json", "claim", "nope"]).await;
    assert!(!out.status.success());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "unknown_campaign");
    server.shutdown().await;
}
