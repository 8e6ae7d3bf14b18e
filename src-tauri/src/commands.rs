//! The IPC commands of docs/app-ipc.md: thin wrappers that parse their arguments at the
//! boundary, call the core through `AppState`, and turn failures into `{code, message}`.
//! Argument names stay snake_case as the contract writes them (Tauri would expect camelCase).

use crate::claims;
use crate::enrol::Step;
use crate::error::{AppError, CmdResult, ErrorCode};
use crate::settings::Settings;
use crate::shell::{EVENT_WALLET_CHANGED, Permission};
use crate::state::AppState;
use lineup_core::engine::Progress;
use lineup_core::wallet::WalletEntry;
use lineup_protocol::{Campaign, CampaignId, Contact, OneTimeCode, ProblemCode};
use serde::Serialize;
use tauri::State;

/// The invoke handler with every command.
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        get_settings,
        set_settings,
        identity_status,
        register,
        verify_code,
        list_campaigns,
        arm_claim,
        claim_status,
        give_back,
        wallet,
        refresh_wallet,
        notification_permission,
        request_notification_permission,
    ]
}

/// `IdentityStatus` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityStatus {
    pub registered: bool,
    pub contact_hint: Option<String>,
    pub server_url: String,
    pub identity: Option<String>,
}

fn parse_campaign(id: &str) -> CmdResult<CampaignId> {
    id.parse()
        .map_err(|_| AppError::invalid(format!("not a campaign id: {id:?}")))
}

#[tauri::command(rename_all = "snake_case")]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.settings()
}

/// Takes raw JSON so a refused value comes back as `invalid_input` like every other failure,
/// not as Tauri's own argument error string.
#[tauri::command(rename_all = "snake_case")]
pub fn set_settings(state: State<'_, AppState>, settings: serde_json::Value) -> CmdResult<Settings> {
    let settings: Settings = serde_json::from_value(settings).map_err(|e| AppError::invalid(e.to_string()))?;
    let saved = state.set_settings(settings)?;
    // The language or the notification switch may have changed what is scheduled.
    crate::reminders::sync(&state);
    Ok(saved)
}

#[tauri::command(rename_all = "snake_case")]
pub fn identity_status(state: State<'_, AppState>) -> CmdResult<IdentityStatus> {
    status_of(&state)
}

/// The identity's status for the current server.
pub fn status_of(state: &AppState) -> CmdResult<IdentityStatus> {
    let server_url = state.server_url();
    let meta = state.identity_meta()?;
    Ok(IdentityStatus {
        registered: meta
            .as_ref()
            .is_some_and(|m| m.registered_at.is_some() && m.server_url == server_url),
        contact_hint: meta.as_ref().and_then(|m| m.contact_hint.clone()),
        identity: meta.map(|m| m.public_key.to_b64()),
        server_url,
    })
}

/// Registers this device: `registered` at once, or `code_sent` (finish with `verify_code`).
#[tauri::command(rename_all = "snake_case")]
pub async fn register(state: State<'_, AppState>, contact: String, consent: bool) -> CmdResult<Step> {
    let contact: Contact = contact
        .parse()
        .map_err(|e| AppError::invalid(format!("this contact cannot be used: {e}")))?;
    if !consent {
        return Err(AppError::new(
            ErrorCode::Problem(ProblemCode::ConsentRequired),
            "Registration needs your consent to keep the contact (as a digest).",
        ));
    }
    crate::enrol::start(&state, contact, consent).await
}

/// The one-time code sent by `register`; `move_here` moves the contact here from the device
/// that holds it ("I changed phones").
#[tauri::command(rename_all = "snake_case")]
pub async fn verify_code(state: State<'_, AppState>, code: String, move_here: bool) -> CmdResult<Step> {
    let code: OneTimeCode = code.parse().map_err(|_| AppError::invalid("a code is six digits"))?;
    crate::enrol::verify(&state, code, move_here).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_campaigns(state: State<'_, AppState>) -> CmdResult<Vec<Campaign>> {
    let list = state.api()?.campaigns().await?;
    state.remember_campaigns(&list.campaigns);
    Ok(list.campaigns)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn arm_claim(state: State<'_, AppState>, campaign_id: String) -> CmdResult<Progress> {
    let id = parse_campaign(&campaign_id)?;
    claims::arm(&state, id).await.map_err(|e| state.noticed(e))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn claim_status(state: State<'_, AppState>, campaign_id: String) -> CmdResult<Option<Progress>> {
    let id = parse_campaign(&campaign_id)?;
    claims::status(&state, id).await.map_err(|e| state.noticed(e))
}

/// Gives the place in line or the unused voucher back (final; calling again answers the same).
#[tauri::command(rename_all = "snake_case")]
pub async fn give_back(state: State<'_, AppState>, campaign_id: String) -> CmdResult<Progress> {
    let id = parse_campaign(&campaign_id)?;
    claims::give_back(&state, id).await.map_err(|e| state.noticed(e))
}

#[tauri::command(rename_all = "snake_case")]
pub fn wallet(state: State<'_, AppState>) -> CmdResult<Vec<WalletEntry>> {
    state
        .wallet()
        .entries(chrono::Utc::now())
        .map_err(|e| AppError::internal(e.to_string()))
}

/// Statuses from the server when it can be reached; the offline wallet otherwise.
#[tauri::command(rename_all = "snake_case")]
pub async fn refresh_wallet(state: State<'_, AppState>) -> CmdResult<Vec<WalletEntry>> {
    let wallet = state.wallet();
    let changed = match state.signed_api() {
        Ok(api) => match wallet.refresh(&api).await {
            Ok(n) => n,
            // The vouchers moved to another device with the registration: these copies are
            // void, and the person is told so (and offered to register again).
            Err(lineup_core::wallet::WalletError::Api(e)) if e.code() == Some(ProblemCode::KeyRevoked) => {
                return Err(state.noticed(e.into()));
            }
            Err(e) => {
                tracing::info!(error = %e, "wallet refresh failed, showing the offline wallet");
                0
            }
        },
        Err(e) if e.code == ErrorCode::NotRegistered => 0,
        Err(e) => return Err(e),
    };
    let entries = wallet
        .entries(chrono::Utc::now())
        .map_err(|e| AppError::internal(e.to_string()))?;
    if changed > 0 {
        state
            .shell
            .emit_json(EVENT_WALLET_CHANGED, serde_json::to_value(&entries).unwrap_or_default());
    }
    Ok(entries)
}

#[tauri::command(rename_all = "snake_case")]
pub fn notification_permission(state: State<'_, AppState>) -> Permission {
    state.shell.permission()
}

#[tauri::command(rename_all = "snake_case")]
pub fn request_notification_permission(state: State<'_, AppState>) -> Permission {
    state.shell.request_permission()
}
