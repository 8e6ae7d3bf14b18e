//! `lineup verify-draw`: the commitment recorded before the draw, the reveal, the whole list
//! and each person's own place checked after it, agreeing with the server; a server that lies
//! about the join order is caught with one line and a non-zero exit.

use crate::harness::{Client, demo, join_session_keyring, start_server};
use crate::proxy;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_draw_agrees_with_the_server_and_fails_on_a_tampered_list() {
    join_session_keyring();
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), demo(4, 5000)).await;
    let clients: Vec<Client> = (0..3).map(|_| Client::new(&server.url)).collect();
    // Before the draw: the commitment is recorded in the profile.
    let early = clients[0].json(&["verify-draw", "demo"]).await;
    assert_eq!(early["drawn"], false, "{early}");
    let commitment = early["commitment"].as_str().unwrap().to_owned();
    let seen = std::fs::read_to_string(clients[0].profile.path().join("draw-commitments.json")).unwrap();
    assert!(seen.contains(&commitment));
    for (i, c) in clients.iter().enumerate() {
        c.register(&format!("draw{i}@example.com")).await;
    }
    // Everyone takes a place before the draw and ends with a voucher (supply 4 for 3 people).
    let claims: Vec<_> = clients.iter().map(|c| c.json(&["claim", "demo"])).collect();
    for r in futures_util::future::join_all(claims).await {
        assert_eq!(r["outcome"], "holding", "{r}");
    }
    let mut positions = Vec::new();
    for c in &clients {
        let v = c.json(&["verify-draw", "demo"]).await;
        assert_eq!(v["verified"], true, "{v}");
        assert_eq!(v["n"], 3);
        assert_eq!(v["commitment"], commitment.as_str());
        // The CLI checked the position the server told against the published draw.
        positions.push(v["mine"]["position"].as_u64().expect("own position checked"));
    }
    positions.sort_unstable();
    assert_eq!(positions, [1, 2, 3]);

    // A server that swaps two ids, or drops one, in the list it serves.
    let p = proxy::start(&server.url).await;
    for (mode, expected) in [
        (1, "the list was changed"),
        (2, "the list has 2 ticket ids but the draw says n = 3"),
    ] {
        p.faults.tamper_draw.store(mode, Ordering::SeqCst);
        // The same profile (identity, recorded commitment) through the lying proxy.
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lineup"))
            .arg("--server")
            .arg(&p.url)
            .arg("--profile")
            .arg(clients[1].profile.path())
            .args(["verify-draw", "demo"])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("LINEUP_SERVER")
            .env_remove("LINEUP_PROFILE")
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("draw check failed") && err.contains(expected), "{err}");
    }
}
