//! The Lineup client brain, shared by the desktop/mobile app, the `lineup` CLI and the surge
//! simulator: identity and its secret store, the HTTP client, the retry policy, the sans-IO
//! claim engine and its async driver, and the offline wallet. No UI and no Tauri here.

pub mod api;
pub mod backoff;
pub mod clock;
pub mod driver;
pub mod engine;
pub mod enrol;
pub mod identity;
pub mod profile;
pub mod qr;
pub mod reminders;
pub mod wake;
pub mod wallet;
