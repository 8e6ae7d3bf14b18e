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
