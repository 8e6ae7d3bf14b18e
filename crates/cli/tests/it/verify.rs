//! Two-step registration on a server that verifies contacts: `lineup register` says a code was
//! sent, `lineup register --code` finishes; a wrong code is one line and a non-zero exit.

use crate::harness::{Client, demo, join_session_keyring};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_the_code_registers() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = lineup_server::ServerConfig::new(data.path());
    cfg.demo = Some(demo(5, 60_000));
    cfg.verify = lineup_server::verify::VerifyConfig::log();
    let server = lineup_server::spawn(cfg).await.expect("server starts");
    let c = Client::new(&server.url);

    let sent = c.register("010-4444-0001").await;
    assert_eq!(sent["status"], "verification_sent");
    assert_eq!(sent["contact"], "+821044440001");
    // Not registered yet: commands that need an identity say so.
    let out = c.run(&["claim", "demo"]).await;
    assert!(!out.status.success());

    let phone: lineup_protocol::Contact = "+821044440001".parse().unwrap();
    let code = server.state.demo_code(&phone).expect("the demo sender kept the code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let out = c
        .run(&["register", "--contact", "010-4444-0001", "--code", wrong])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("verification failed"), "{err}");

    let reg = c
        .json(&["register", "--contact", "010-4444-0001", "--code", &code])
        .await;
    assert_eq!(reg["created"], true);
    assert_eq!(reg["contact_hint"], "+8210****0001");
    let who = c.json(&["whoami"]).await;
    assert_eq!(who["public_key"], reg["identity"]);
    server.shutdown().await;
}

/// "I changed phones": the voucher claimed on the old device moves to the new one with a new
/// code; the old copy is refused at the box office; the old device gets a fresh key when it
/// registers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_phones_moves_the_voucher_to_the_new_device() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = lineup_server::ServerConfig::new(data.path());
    cfg.demo = Some(demo(5, 3000));
    cfg.verify = lineup_server::verify::VerifyConfig::log();
    // One code per contact per 2 s (a minute by default), so the test waits on real time and
    // the CLI's signatures stay on the server's clock.
    cfg.verify.per_contact.min_gap = std::time::Duration::from_secs(2);
    let server = lineup_server::spawn(cfg).await.expect("server starts");
    let staff = server.demo_staff_token.clone().unwrap();
    let contact: lineup_protocol::Contact = "kim@example.com".parse().unwrap();
    let old_phone = Client::new(&server.url);
    let new_phone = Client::new(&server.url);

    old_phone.register("kim@example.com").await;
    let code = server.state.demo_code(&contact).unwrap();
    old_phone
        .json(&["register", "--contact", "kim@example.com", "--code", &code])
        .await;
    let claimed = old_phone.json(&["claim", "demo"]).await;
    assert_eq!(claimed["outcome"], "holding", "{claimed}");
    let old_code = claimed["voucher"]["code"].as_str().unwrap().to_owned();

    // The new phone.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let sent = new_phone
        .run(&["register", "--contact", "kim@example.com", "--changed-phone"])
        .await;
    assert!(sent.status.success());
    assert!(String::from_utf8_lossy(&sent.stdout).contains("--changed-phone"));
    let code = server.state.demo_code(&contact).unwrap();
    // Without the flag: one line that says how to move.
    let out = new_phone
        .run(&["register", "--contact", "kim@example.com", "--code", &code])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--changed-phone"), "{err}");
    let moved = new_phone
        .json(&[
            "register",
            "--contact",
            "kim@example.com",
            "--code",
            &code,
            "--changed-phone",
        ])
        .await;
    assert_eq!(moved["moved"]["vouchers_reissued"], 1, "{moved}");
    // The voucher came along into the new phone's wallet, with a new code that verifies.
    let wallet = new_phone.wallet_offline().await;
    assert_eq!(wallet.len(), 1);
    let new_code = wallet[0]["voucher"]["code"].as_str().unwrap().to_owned();
    assert_ne!(new_code, old_code);
    assert_eq!(wallet[0]["verified"], true);

    // The old copy is void at the box office; the new one is good once.
    let out = old_phone
        .run(&["--json", "redeem", &old_code, "--staff-token", &staff])
        .await;
    assert!(!out.status.success());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "voucher_moved");
    let r = new_phone.json(&["redeem", &new_code, "--staff-token", &staff]).await;
    assert_eq!(r["serial"], claimed["voucher"]["serial"]);

    // The old device: its key is refused; registering again makes a fresh key.
    let out = old_phone.run(&["wallet"]).await;
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("key_revoked") || note.contains("replaced"), "{note}");
    let before = old_phone.json(&["whoami"]).await;
    let again = old_phone.register("kim.second@example.com").await;
    assert_eq!(again["status"], "verification_sent");
    let after = old_phone.json(&["whoami"]).await;
    assert_ne!(after["public_key"], before["public_key"]);
    server.shutdown().await;
}
