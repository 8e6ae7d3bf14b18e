//! Faults around the claim: lost responses, 503 storms, a server restart mid-claim and a
//! killed client. Every test ends with exactly one voucher in the wallet and exactly one
//! issued by the server.

use crate::harness::{Client, demo, issued_on_server, join_session_keyring, restart_server, start_server};
use crate::proxy;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_claim_response_still_ends_with_exactly_one_voucher() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(3, 3000)).await;
    let p = proxy::start(&server.url).await;
    let c = Client::new(&p.url);
    c.register("drop@example.com").await;
    p.faults.drop_claims.store(2, Ordering::SeqCst);
    // The claim path itself (protocol 1.0): with server-side issuance there is no claim to lose.
    let out = c.json(&["claim", "demo", "--claim-myself"]).await;
    assert_eq!(out["outcome"], "holding");
    assert!(
        p.faults.claims_forwarded.load(Ordering::SeqCst) >= 2,
        "the claim was retried"
    );
    assert_eq!(c.wallet_offline().await.len(), 1);
    assert_eq!(issued_on_server(&server.url).await, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_storm_is_waited_out_honouring_retry_after() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(3, 3000)).await;
    let p = proxy::start(&server.url).await;
    let c = Client::new(&p.url);
    c.register("storm@example.com").await;
    // Everything the claim sends first is refused (the campaign fetch is not retried by the
    // CLI, so let it through, then storm the engine's requests).
    let before = p.faults.requests.load(Ordering::SeqCst);
    let child = c
        .command(&["--json", "claim", "demo"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while p.faults.requests.load(Ordering::SeqCst) < before + 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.faults.storm.store(4, Ordering::SeqCst);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(p.faults.storm.load(Ordering::SeqCst), 0, "the storm was met");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "holding");
    assert_eq!(c.wallet_offline().await.len(), 1);
    assert_eq!(issued_on_server(&server.url).await, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_claim_and_a_killed_client_resume_in_place() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let opts = demo(3, 5000);
    let server = start_server(data.path(), opts.clone()).await;
    let p = proxy::start(&server.url).await;
    let c = Client::new(&p.url);
    c.register("restart@example.com").await;

    // Start claiming; once the place in line is taken (and persisted), kill the client.
    let mut child = c.command(&["--json", "claim", "demo"]).spawn().unwrap();
    let ticket = loop {
        if let Some(r) = c.claim_record()
            && let Some(t) = r["ticket_id"].as_str()
        {
            break t.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().await.unwrap();

    // Restart the server on the same data directory; the proxy follows it.
    server.shutdown().await;
    let server = restart_server(data.path(), opts).await;
    p.retarget(&server.url);

    // The restarted client resumes with the same ticket and idempotency key.
    let key = c.claim_record().unwrap()["idempotency_key"].clone();
    let out = c.json(&["claim", "demo"]).await;
    assert_eq!(out["outcome"], "holding");
    let rec = c.claim_record().unwrap();
    assert_eq!(rec["ticket_id"], ticket.as_str());
    assert_eq!(rec["idempotency_key"], key);
    assert_eq!(c.wallet_offline().await.len(), 1);
    assert_eq!(issued_on_server(&server.url).await, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_whose_response_is_lost_is_retried_to_the_same_200() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(3, 3000)).await;
    let p = proxy::start(&server.url).await;
    let c = Client::new(&p.url);
    c.register("boxoffice@example.com").await;
    let v = c.json(&["claim", "demo"]).await;
    let code = v["voucher"]["code"].as_str().unwrap().to_owned();
    let staff = server.demo_staff_token.clone().unwrap();
    // The server redeems, the box office never hears: the CLI retries with the same key.
    p.faults.drop_redemptions.store(1, Ordering::SeqCst);
    let r = c.json(&["redeem", &code, "--staff-token", &staff]).await;
    assert_eq!(r["code"], code.as_str());
    assert_eq!(
        p.faults.drop_redemptions.load(Ordering::SeqCst),
        0,
        "a response was lost"
    );
    // Another scan of the same voucher is still refused.
    let out = c.run(&["--json", "redeem", &code, "--staff-token", &staff]).await;
    assert!(!out.status.success());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "already_redeemed");
    server.shutdown().await;
}
