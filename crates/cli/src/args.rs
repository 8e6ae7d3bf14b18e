//! Command-line arguments of `lineup`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Claim limited vouchers calmly: take a place in line before opening, wait for the
/// server's moment, claim exactly once, keep the voucher offline.
#[derive(Debug, Parser)]
#[command(name = "lineup", version, about)]
pub struct Cli {
    /// The claim server (default: the one this profile registered with).
    #[arg(long, global = true, env = "LINEUP_SERVER")]
    pub server: Option<String>,
    /// Profile directory: keeps identities, claims and wallets apart.
    #[arg(long, global = true, env = "LINEUP_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log filter (e.g. `debug`); logs go to stderr.
    #[arg(long, global = true, env = "LINEUP_LOG", default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this device's identity (secret in the OS credential store) and register it.
    Register {
        /// E-mail address or phone number (one identity per contact).
        #[arg(long)]
        contact: String,
        /// The one-time code the server sent to the contact (second step, on servers that
        /// verify contacts): `lineup register --contact ... --code 123456`.
        #[arg(long)]
        code: Option<String>,
        /// I changed phones: this contact is registered on my old device (lost, wiped, or
        /// replaced); move it here. The old device's key stops working, and my places in line
        /// and vouchers move to this device (unused vouchers get new codes; old copies are void).
        #[arg(long)]
        changed_phone: bool,
    },
    /// Show this profile's identity.
    Whoami,
    /// List the server's campaigns.
    Campaigns,
    /// Take a place in line, wait for the server's moment and claim (safe to run again).
    Claim {
        /// The campaign id, e.g. `demo`.
        campaign: String,
        /// Claim at my turn myself (protocol 1.0) instead of letting the server issue the
        /// voucher to me at my turn (the default: nothing has to run at that moment).
        #[arg(long, env = "LINEUP_CLAIM_MYSELF")]
        claim_myself: bool,
    },
    /// List the vouchers in the wallet (statuses refreshed when the server is reachable).
    Wallet {
        /// Do not contact the server.
        #[arg(long)]
        offline: bool,
    },
    /// Show a voucher with its QR code in the terminal.
    Show {
        /// The voucher code (e.g. `7KQM-R2XD-94HZ`), its token, or `campaign/serial`.
        #[arg(allow_hyphen_values = true)]
        voucher: String,
    },
    /// Check a voucher token's signature offline with the stored issuer keys.
    Verify { token: String },
    /// Check a campaign's draw: the revealed seed against its commitment, the list of tickets
    /// against its Merkle root, every position, and your own place.
    VerifyDraw {
        /// The campaign id, e.g. `demo`.
        campaign: String,
    },
    /// Box office: redeem a voucher (token or code) once.
    Redeem {
        /// The scanned token or the typed code.
        #[arg(allow_hyphen_values = true)]
        voucher: String,
        /// The campaign's staff token.
        #[arg(long, env = "LINEUP_STAFF_TOKEN", hide_env_values = true, allow_hyphen_values = true)]
        staff_token: String,
    },
}
