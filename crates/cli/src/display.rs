//! Human and JSON output: one-line errors, progress lines, voucher summaries.

use chrono::{DateTime, Local, Utc};
use lineup_core::api::ApiError;
use lineup_core::engine::{Phase, Progress};
use lineup_protocol::Voucher;
use serde_json::json;

/// Writes a line to stdout. A closed pipe (`lineup show X | head`) ends the program quietly
/// instead of panicking as `println!` does.
pub fn write_out(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => { $crate::display::write_out(format!($($t)*)) };
}

/// Prints an error as one line on stderr (and as JSON on stdout with `--json`).
pub fn error_line(e: &anyhow::Error, json: bool) {
    let message = format!("{e:#}").replace('\n', " ");
    if json {
        let code = e
            .chain()
            .find_map(|c| c.downcast_ref::<ApiError>())
            .map_or_else(|| "error".to_owned(), ApiError::machine_code);
        write_out(json!({"error": {"code": code, "message": message}}).to_string());
    }
    eprintln!("error: {message}");
}

pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

fn secs(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A one-line description of claim progress.
pub fn progress_line(p: &Progress) -> String {
    let mut parts = vec![match p.phase {
        Phase::Armed => "armed".to_owned(),
        Phase::WaitingOpen => "waiting to join the pre-queue".to_owned(),
        Phase::SlotRequested => "taking a place in line".to_owned(),
        Phase::PreQueue => "in the pre-queue (everyone who joins before the draw is in the same draw)".to_owned(),
        Phase::InLine => "in line".to_owned(),
        Phase::Admitted => "admitted".to_owned(),
        Phase::Claiming => "claiming".to_owned(),
        Phase::Holding => "voucher received".to_owned(),
        Phase::Waitlisted => "waitlisted".to_owned(),
        Phase::SoldOut => "sold out".to_owned(),
        Phase::Expired => "admission window missed".to_owned(),
        Phase::Closed => "campaign closed".to_owned(),
        Phase::Failed => "failed".to_owned(),
        Phase::Returned => "place given back".to_owned(),
    }];
    if let Some(pos) = p.position {
        parts.push(format!("position {pos}"));
    }
    if let Some(a) = p.ahead {
        parts.push(format!("{a} ahead"));
    }
    if let Some(w) = p.waitlist {
        parts.push(format!("waitlist #{w}"));
    }
    if let (Some(at), Some(eta)) = (p.admit_at, p.eta_ms)
        && !p.phase.is_final()
    {
        if p.auto_issue && matches!(p.phase, Phase::InLine | Phase::Admitted) {
            parts.push(format!(
                "your voucher will be issued to you at {} (in {}); you may close this",
                local(at),
                secs(eta)
            ));
        } else {
            parts.push(format!("your turn at {} (in {})", local(at), secs(eta)));
        }
    }
    if let (Some(at), Some(inn)) = (p.next_check_at, p.next_check_in_ms)
        && matches!(p.phase, Phase::WaitingOpen | Phase::PreQueue | Phase::Waitlisted)
    {
        parts.push(format!("next check {} (in {})", local(at), secs(inn)));
    }
    if p.attempts > 0 {
        parts.push(format!("{} requests", p.attempts));
    }
    if let Some(e) = &p.error
        && !matches!(p.phase, Phase::Holding)
    {
        parts.push(format!("last problem: {} ({})", e.message, e.code));
    }
    parts.join(" · ")
}

/// A short human summary of a voucher.
pub fn voucher_lines(v: &Voucher, title: Option<&str>) -> String {
    format!(
        "{}\n  code    {}\n  value   {} {}\n  expires {}\n  status  {:?}\n  token   {}",
        title.unwrap_or(v.campaign_id.as_str()),
        v.code.grouped(),
        v.amount,
        v.currency,
        v.expires_at.format("%Y-%m-%d %H:%M UTC"),
        v.status,
        v.token
    )
}
