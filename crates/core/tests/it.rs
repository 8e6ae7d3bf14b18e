//! The driver and API client against the real server (in process, port 0).

use lineup_core::api::{ApiClient, ApiConfig};
use lineup_core::clock::{Clock, MonotonicClock};
use lineup_core::driver::{FileRecordStore, RecordStore, run_claim};
use lineup_core::engine::{EngineConfig, Outcome, Phase};
use lineup_core::identity::{Identity, MemoryStore};
use lineup_core::profile::Profile;
use lineup_core::wallet::Wallet;
use lineup_server::{DemoOptions, ServerConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_winner_claims_with_three_requests_and_the_voucher_verifies() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(data.path());
    cfg.demo = Some(DemoOptions {
        vouchers: 2,
        open_in: Duration::from_millis(3000),
        draw_lead: Some(Duration::from_millis(1500)),
        admission_rate_per_s: 50,
        admission_window: Duration::from_secs(60),
        closes_after: Duration::from_secs(600),
    });
    let server = lineup_server::spawn(cfg).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::open(dir.path()).unwrap();
    let secrets = MemoryStore::new();
    let id = Identity::load_or_create(&profile, &secrets, &server.url).unwrap();
    let api = ApiClient::new(&server.url, ApiConfig::default())
        .unwrap()
        .with_identity(id.signing_key().clone());
    let (reg, created) = api.register("lee@example.com".parse().unwrap(), true).await.unwrap();
    assert!(created);
    assert_eq!(reg.identity, id.public_key());

    let clock = MonotonicClock::new();
    let campaign = api.campaign(&"demo".parse().unwrap()).await.unwrap();
    let fetched = clock.now();
    let store = FileRecordStore::new(&profile, &server.url);
    let mut phases = Vec::new();
    let outcome = run_claim(&api, &campaign, fetched, &clock, &store, EngineConfig::default(), |p| {
        if phases.last() != Some(&p.phase) {
            phases.push(p.phase);
        }
    })
    .await
    .unwrap();
    let Outcome::Holding(v) = outcome else {
        panic!("no voucher: {outcome:?}")
    };
    let rec = store.load(&campaign.id).unwrap().unwrap();
    assert_eq!(rec.phase, Phase::Holding);
    assert_eq!(rec.attempts, 3, "slot, result check, claim; phases {phases:?}");
    assert!(
        phases.contains(&Phase::PreQueue) && phases.contains(&Phase::InLine),
        "{phases:?}"
    );

    let wallet = Wallet::open(&profile);
    wallet.refresh(&api).await.unwrap();
    let entries = wallet.entries(chrono::Utc::now()).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].verified, "{:?}", entries[0].verify_error);
    assert_eq!(entries[0].voucher.token, v.token);
    server.shutdown().await;
}

/// The client's push-subscription calls against the real server: the VAPID key, a
/// registration (new, then updated), the cap's problem code, and removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_subscriptions_register_update_and_remove() {
    use lineup_protocol::ProblemCode;
    use lineup_protocol::push::{PushKeys, PushLocale, PushSubscriptionRequest};
    let data = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(data.path());
    cfg.push.max_subscriptions = 1;
    // Subscriptions are accepted; nothing is sent in this test.
    cfg.push.enabled = false;
    let server = lineup_server::spawn(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::open(dir.path()).unwrap();
    let id = Identity::load_or_create(&profile, &MemoryStore::new(), &server.url).unwrap();
    let api = ApiClient::new(&server.url, ApiConfig::default())
        .unwrap()
        .with_identity(id.signing_key().clone());
    api.register("push@example.com".parse().unwrap(), true).await.unwrap();
    let vapid = api.push_vapid_key().await.unwrap();
    assert_eq!(vapid.public_key.len(), 87, "65 bytes, unpadded base64url");
    // RFC 8291 appendix A's subscriber key and auth secret.
    let req = |endpoint: &str| PushSubscriptionRequest {
        endpoint: endpoint.into(),
        keys: PushKeys {
            p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
            auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
        },
        hide_code: true,
        locale: PushLocale::Ko,
    };
    let (sub, created) = api.push_subscribe(&req("https://push.example.org/a")).await.unwrap();
    assert!(created && sub.hide_code && sub.subscriptions == 1);
    let (_, created) = api.push_subscribe(&req("https://push.example.org/a")).await.unwrap();
    assert!(!created, "the same endpoint again is an update");
    let e = api
        .push_subscribe(&req("https://push.example.org/b"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ProblemCode::TooManySubscriptions));
    let e = api.push_subscribe(&req("https://10.0.0.1/b")).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(ProblemCode::InvalidInput),
        "a private address is refused"
    );
    assert!(api.push_unsubscribe("https://push.example.org/a").await.unwrap());
    assert!(!api.push_unsubscribe("https://push.example.org/a").await.unwrap());
    server.shutdown().await;
}

/// A server that verifies contacts: the first step says a code was sent (and the one-step
/// `register` says plainly that it cannot finish); the code registers; a wrong one is refused
/// with the tries left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_with_a_one_time_code() {
    use lineup_core::api::RegisterStep;
    use lineup_protocol::ProblemCode;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(data.path());
    cfg.verify = lineup_server::verify::VerifyConfig::log();
    let server = lineup_server::spawn(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::open(dir.path()).unwrap();
    let secrets = MemoryStore::new();
    let id = Identity::load_or_create(&profile, &secrets, &server.url).unwrap();
    let api = ApiClient::new(&server.url, ApiConfig::default())
        .unwrap()
        .with_identity(id.signing_key().clone());
    let contact: lineup_protocol::Contact = "010-3333-0001".parse().unwrap();
    match api.register_start(contact.clone(), true).await.unwrap() {
        RegisterStep::CodeSent(sent) => assert_eq!(sent.expires_in_s, 600),
        other => panic!("expected a code to be sent, got {other:?}"),
    }
    let code = server.state.demo_code(&contact).unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let e = api.verify_code(wrong.parse().unwrap(), false).await.unwrap_err();
    match e {
        lineup_core::api::ApiError::Problem { problem, .. } => {
            assert_eq!(problem.code, ProblemCode::WrongCode);
            assert_eq!(problem.attempts_left, Some(4));
        }
        other => panic!("expected wrong_code, got {other:?}"),
    }
    let (reg, created) = api.verify_code(code.parse().unwrap(), false).await.unwrap();
    assert!(created);
    assert_eq!(reg.identity, id.public_key());
    // The one-step call on this server: registered already (200), and a new key is told why it
    // cannot finish.
    let (_, created) = api.register(contact.clone(), true).await.unwrap();
    assert!(!created);
    let other = ApiClient::new(&server.url, ApiConfig::default())
        .unwrap()
        .with_identity(ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
    let e = other
        .register("lee@example.com".parse().unwrap(), true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("one-time code"), "{e}");
    server.shutdown().await;
}
