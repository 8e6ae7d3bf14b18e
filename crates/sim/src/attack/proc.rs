//! What the server process costs the machine while it is attacked: resident memory (`VmRSS`,
//! and its peak `VmHWM`) from `/proc/<pid>/status` and open file descriptors (the entries of
//! `/proc/<pid>/fd`), sampled on a timer. Also raises this process's descriptor limit, since
//! ten thousand idle sockets do not fit in the usual 1,024.

use serde::Serialize;
use std::time::Duration;
use tokio::sync::watch;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcSample {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub fds: u64,
}

/// `VmRSS` and `VmHWM` (KiB) from the text of `/proc/<pid>/status`; `None` if either is missing.
pub fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Reads `pid` now; `None` once the process is gone (or on a system without `/proc`).
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let (rss_kib, hwm_kib) = parse_status(&status)?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(ProcSample { rss_kib, hwm_kib, fds })
}

/// What a sampler saw over one phase of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcSummary {
    /// Before the attackers start (clients made, server up with its campaign).
    pub before: ProcSample,
    /// Largest `VmRSS` and descriptor count seen while the calm clients ran.
    pub peak_rss_kib: u64,
    pub peak_fds: u64,
    /// After the attackers stopped and the server's deadlines had time to close what they
    /// left open.
    pub after: ProcSample,
    pub samples: u64,
}

impl ProcSummary {
    pub fn add(&mut self, s: ProcSample) {
        self.peak_rss_kib = self.peak_rss_kib.max(s.rss_kib);
        self.peak_fds = self.peak_fds.max(s.fds);
        self.samples += 1;
    }
}

/// Samples `pid` every `every` until `stop` turns true, returning the peaks.
pub async fn watch_peaks(pid: u32, every: Duration, mut stop: watch::Receiver<bool>) -> ProcSummary {
    let mut summary = ProcSummary::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(s) = sample(pid) {
                    summary.add(s);
                }
            }
            _ = stop.wait_for(|s| *s) => return summary,
        }
    }
}

/// Raises this process's open-file limit towards `want` (soft and, as root, hard), returning
/// the soft limit in force afterwards. Children inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return want;
        }
        // Not allowed to raise the hard limit: go as far as it.
        let capped = libc::rlimit {
            rlim_cur: lim.rlim_max.min(want),
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &capped) == 0 {
            return capped.rlim_cur;
        }
        lim.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let text = "Name:\tlineup-server\nVmPeak:\t  900 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   48000 kB\nThreads:\t3\n";
        assert_eq!(parse_status(text), Some((48_000, 51_234)));
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t12 kB\n"), None);
        assert_eq!(parse_status("VmRSS:\tlots kB\nVmHWM:\t1 kB\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("/proc/self");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib && s.fds >= 3, "{s:?}");
        let mut sum = ProcSummary::default();
        sum.add(ProcSample {
            rss_kib: 5,
            hwm_kib: 5,
            fds: 9,
        });
        sum.add(ProcSample {
            rss_kib: 7,
            hwm_kib: 7,
            fds: 4,
        });
        assert_eq!((sum.peak_rss_kib, sum.peak_fds, sum.samples), (7, 9, 2));
    }
}
