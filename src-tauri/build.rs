//! Generates the Tauri context (config, capabilities, icons) the app embeds at compile time.
//!
//! Declaring the app's commands here makes Tauri generate one `allow-<command>` permission per
//! command, so `capabilities/default.json` must grant each one by name: a command added to the
//! code but not to the capability is refused at the IPC boundary instead of silently exposed.

/// Every command `lineup_app_lib::commands` registers (the contract is `docs/app-ipc.md`).
const COMMANDS: &[&str] = &[
    "get_settings",
    "set_settings",
    "identity_status",
    "register",
    "verify_code",
    "list_campaigns",
    "arm_claim",
    "claim_status",
    "give_back",
    "wallet",
    "refresh_wallet",
    "notification_permission",
    "request_notification_permission",
];

fn main() {
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        // A build script reports failure by panicking; print the cause first so cargo shows it.
        eprintln!("tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
