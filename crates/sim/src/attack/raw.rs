//! Attackers on raw TCP, below any HTTP client: connections that send their headers a byte at
//! a time (slow headers), bodies a byte at a time after declaring 16,000 bytes (slow bodies),
//! or nothing at all (idle). Each of `n` tasks holds one connection; when the server ends it
//! (an answer, a close, a reset), the task opens another, until told to stop. Each kind
//! connects from its own loopback address, so per-address limits can tell it from the calm
//! clients on 127.0.0.1.

use super::tally::{Tally, parse_raw_response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

/// What a raw connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// A request line and a header name, then one byte of header value every `drip`.
    SlowHeaders,
    /// Complete headers of a signed-looking claim with `Content-Length: 16000`, then one byte
    /// of body every `drip`.
    SlowBodies,
    /// Nothing.
    Idle,
}

impl RawKind {
    /// What is sent at once after connecting.
    fn prefix(self, host: SocketAddr) -> Vec<u8> {
        match self {
            RawKind::SlowHeaders => format!("GET /v1/campaigns/sim HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").into_bytes(),
            RawKind::SlowBodies => format!(
                "POST /v1/campaigns/sim/claim HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Idempotency-Key: slow-body\r\nContent-Length: 16000\r\n\r\n{{\"ticket_id\":\""
            )
            .into_bytes(),
            RawKind::Idle => Vec::new(),
        }
    }

    fn drips(self) -> bool {
        !matches!(self, RawKind::Idle)
    }
}

/// Opens a connection to `target` from `source` (any port).
pub async fn connect_from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// `n` connections of one kind from one address.
#[derive(Debug, Clone, Copy)]
pub struct Crowd {
    pub kind: RawKind,
    pub n: usize,
    pub source: IpAddr,
    /// Between two bytes of a slow request.
    pub drip: Duration,
    /// Task i starts after `i * ramp / n`, so the listen queue is not flooded in one instant.
    pub ramp: Duration,
}

/// Runs `crowd` against `target` until `stop`.
pub fn spawn(
    tasks: &mut tokio::task::JoinSet<()>,
    crowd: Crowd,
    target: SocketAddr,
    stop: &watch::Receiver<bool>,
    tally: &Arc<Tally>,
) {
    let Crowd {
        kind,
        n,
        source,
        drip,
        ramp,
    } = crowd;
    for i in 0..n {
        let (stop, tally) = (stop.clone(), tally.clone());
        let delay = ramp.mul_f64(i as f64 / n.max(1) as f64);
        tasks.spawn(async move {
            let mut stopping = stop.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            while !*stop.borrow() {
                let pause = one_connection(kind, source, target, drip, stop.clone(), &tally).await;
                if let Some(p) = pause {
                    tokio::select! {
                        () = tokio::time::sleep(p) => {}
                        _ = stopping.wait_for(|s| *s) => return,
                    }
                }
            }
        });
    }
}

/// One connection until the server ends it or the run stops; returns how long to wait before
/// the next.
async fn one_connection(
    kind: RawKind,
    source: IpAddr,
    target: SocketAddr,
    drip: Duration,
    mut stop: watch::Receiver<bool>,
    tally: &Tally,
) -> Option<Duration> {
    tally.sent();
    let stream = match tokio::time::timeout(Duration::from_secs(5), connect_from(source, target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tally.outcome(format!("connect failed: {}", e.kind()));
            return Some(Duration::from_millis(200));
        }
        Err(_) => {
            tally.outcome("connect timed out");
            return Some(Duration::from_millis(200));
        }
    };
    tally.opened();
    let opened = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let prefix = kind.prefix(target);
    let writer = async {
        if !prefix.is_empty() && wr.write_all(&prefix).await.is_err() {
            return;
        }
        if !kind.drips() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + drip, drip);
        loop {
            tick.tick().await;
            if wr.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 2048];
        let mut got = match rd.read(&mut buf).await {
            Ok(0) => return "closed by server".to_owned(),
            Ok(n) => n,
            Err(e) => return format!("{} by server", e.kind()),
        };
        // The rest of a short answer follows at once, if at all.
        while got < buf.len() {
            match tokio::time::timeout(Duration::from_millis(200), rd.read(&mut buf[got..])).await {
                Ok(Ok(n)) if n > 0 => got += n,
                _ => break,
            }
        }
        match parse_raw_response(&buf[..got]) {
            Some((status, body)) => super::tally::label(status, body),
            None => "unparsable answer".to_owned(),
        }
    };
    // The writer ends only on a write error; the reader then sees why.
    let ended = tokio::select! {
        what = reader => Some(what),
        () = async { writer.await; std::future::pending::<()>().await } => None,
        _ = stop.wait_for(|s| *s) => None,
    };
    tally.closed();
    match ended {
        Some(what) => {
            tally.held(opened.elapsed());
            // Refused for load or rate: the server asks for a second (`Retry-After: 1`). An
            // attacker free to reconnect faster spends its own CPU, which on one machine is the
            // server's too: the harness would measure itself.
            let refused = what.starts_with("503") || what.starts_with("429");
            tally.outcome(what);
            refused.then_some(Duration::from_secs(1))
        }
        None => {
            tally.outcome("still open at the end");
            None
        }
    }
}
