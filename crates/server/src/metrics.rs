//! Prometheus metrics, one registry per server instance (several servers in one test process
//! keep separate numbers). Request counts and latencies are recorded by a middleware; campaign
//! totals mirror the database (so they are campaign-wide even with several instances).

use crate::store::CampaignCounters;
use lineup_protocol::CampaignId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: &'static str,
}

/// Where a ticket row for an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketSource {
    /// This instance's ticket cache (no database read).
    Cache,
    /// One indexed database read.
    Store,
}

impl TicketSource {
    fn label(self) -> &'static str {
        match self {
            TicketSource::Cache => "cache",
            TicketSource::Store => "store",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignLabels {
    pub campaign: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    shed: Counter,
    timeouts: Counter,
    queue_length: Family<CampaignLabels, Gauge>,
    admitted: Family<CampaignLabels, Counter>,
    issued: Family<CampaignLabels, Counter>,
    redeemed: Family<CampaignLabels, Counter>,
    ticket_reads: Family<SourceLabels, Counter>,
    ticket_cache_entries: Gauge,
    issued_by_server: Counter,
    rate_limited: Family<PolicyLabels, Counter>,
    rate_limit_keys: Gauge,
    pushes: Family<OutcomeLabels, Counter>,
    push_in_flight: Gauge,
    push_pending: Gauge,
    identity_moves: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let shed = Counter::default();
        let timeouts = Counter::default();
        let queue_length = Family::<CampaignLabels, Gauge>::default();
        let admitted = Family::<CampaignLabels, Counter>::default();
        let issued = Family::<CampaignLabels, Counter>::default();
        let redeemed = Family::<CampaignLabels, Counter>::default();
        let ticket_reads = Family::<SourceLabels, Counter>::default();
        let ticket_cache_entries = Gauge::default();
        let issued_by_server = Counter::default();
        let rate_limited = Family::<PolicyLabels, Counter>::default();
        let rate_limit_keys = Gauge::default();
        let pushes = Family::<OutcomeLabels, Counter>::default();
        let push_in_flight = Gauge::default();
        let push_pending = Gauge::default();
        let identity_moves = Counter::default();
        registry.register(
            "lineup_pushes",
            "Push messages this instance finished, by outcome (delivered, gone, retried, given_up)",
            pushes.clone(),
        );
        registry.register(
            "lineup_push_in_flight",
            "Push requests this instance has open now",
            push_in_flight.clone(),
        );
        registry.register(
            "lineup_push_pending",
            "Push messages waiting to be sent (all instances)",
            push_pending.clone(),
        );
        registry.register(
            "lineup_identity_moves",
            "People who moved their contact, places and vouchers to a new device key on this instance",
            identity_moves.clone(),
        );
        registry.register(
            "lineup_rate_limited",
            "Requests refused with 429 rate_limited, by limit (address, identity)",
            rate_limited.clone(),
        );
        registry.register(
            "lineup_rate_limit_keys",
            "Addresses and identities the rate limiters hold state for",
            rate_limit_keys.clone(),
        );
        registry.register(
            "lineup_server_issued",
            "Vouchers this instance issued by itself at their admission (opted-in tickets)",
            issued_by_server.clone(),
        );
        registry.register("lineup_requests", "HTTP requests by route and status", requests.clone());
        registry.register(
            "lineup_request_duration_seconds",
            "Time to answer a request",
            duration.clone(),
        );
        registry.register("lineup_shed", "Requests refused with 503 overloaded", shed.clone());
        registry.register("lineup_timeouts", "Requests ended with 503 timeout", timeouts.clone());
        registry.register(
            "lineup_queue_length",
            "Tickets taken and not yet admitted",
            queue_length.clone(),
        );
        registry.register(
            "lineup_admitted",
            "Tickets whose admission instant has come",
            admitted.clone(),
        );
        registry.register("lineup_issued", "Vouchers issued", issued.clone());
        registry.register("lineup_redeemed", "Vouchers redeemed", redeemed.clone());
        registry.register(
            "lineup_ticket_reads",
            "Ticket rows used for an answer, by source (cache: no database read)",
            ticket_reads.clone(),
        );
        registry.register(
            "lineup_ticket_cache_entries",
            "Rows and write fences in this instance's ticket cache",
            ticket_cache_entries.clone(),
        );
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            duration,
            shed,
            timeouts,
            queue_length,
            admitted,
            issued,
            redeemed,
            ticket_reads,
            ticket_cache_entries,
            issued_by_server,
            rate_limited,
            rate_limit_keys,
            pushes,
            push_in_flight,
            push_pending,
            identity_moves,
        }
    }

    /// A push message finished with `outcome`.
    pub fn push_finished(&self, outcome: &'static str) {
        self.pushes.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Push requests open now, and messages waiting in the outbox.
    pub fn push_queue(&self, in_flight: u64, pending: u64) {
        self.push_in_flight.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.push_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// A person moved to a new device key.
    pub fn identity_moved(&self) {
        self.identity_moves.inc();
    }

    pub fn rate_limited(&self, policy: crate::limit::Policy) {
        let policy = match policy {
            crate::limit::Policy::Address => "address",
            crate::limit::Policy::Identity => "identity",
        };
        self.rate_limited.get_or_create(&PolicyLabels { policy }).inc();
    }

    pub fn rate_limit_keys(&self, n: usize) {
        self.rate_limit_keys.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn issued_by_server(&self, n: u64) {
        self.issued_by_server.inc_by(n);
    }

    pub fn record_request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn shed(&self) {
        self.shed.inc();
    }

    pub fn timeout(&self) {
        self.timeouts.inc();
    }

    /// Mirrors a campaign's database totals.
    pub fn observe_counters(&self, id: &CampaignId, c: &CampaignCounters) {
        let l = CampaignLabels {
            campaign: id.to_string(),
        };
        raise(&self.issued.get_or_create(&l), c.issued);
        raise(&self.redeemed.get_or_create(&l), c.redeemed);
    }

    /// Mirrors how many tickets of a campaign were admitted and how many still wait.
    pub fn observe_admission(&self, id: &CampaignId, tickets: u64, admitted: u64) {
        let l = CampaignLabels {
            campaign: id.to_string(),
        };
        raise(&self.admitted.get_or_create(&l), admitted);
        self.queue_length
            .get_or_create(&l)
            .set(i64::try_from(tickets.saturating_sub(admitted)).unwrap_or(i64::MAX));
    }

    /// Counts a ticket row used for an answer, and how many entries the ticket cache holds.
    pub fn ticket_read(&self, source: TicketSource, cache_entries: usize) {
        self.ticket_reads
            .get_or_create(&SourceLabels { source: source.label() })
            .inc();
        self.ticket_cache_entries
            .set(i64::try_from(cache_entries).unwrap_or(i64::MAX));
    }

    /// Ticket rows used so far from `source` (a test seam: status polls must not each reach the store).
    pub fn ticket_reads(&self, source: TicketSource) -> u64 {
        self.ticket_reads
            .get_or_create(&SourceLabels { source: source.label() })
            .get()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}

/// Moves a counter up to a total read from the database (totals only grow).
fn raise(c: &Counter, total: u64) {
    let cur = c.get();
    if total > cur {
        c.inc_by(total - cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_and_mirrors_totals() {
        let m = Metrics::new();
        m.record_request("/v1/campaigns/{id}", 200, 0.002);
        m.shed();
        let id: CampaignId = "demo".parse().unwrap();
        let c = CampaignCounters {
            issued: 5,
            redeemed: 2,
            ..Default::default()
        };
        m.observe_counters(&id, &c);
        m.observe_counters(&id, &c);
        m.observe_admission(&id, 10, 4);
        m.ticket_read(TicketSource::Store, 1);
        m.ticket_read(TicketSource::Cache, 1);
        m.ticket_read(TicketSource::Cache, 1);
        assert_eq!(m.ticket_reads(TicketSource::Cache), 2);
        let text = m.render();
        assert!(
            text.contains(r#"lineup_requests_total{route="/v1/campaigns/{id}",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("lineup_shed_total 1"), "{text}");
        assert!(text.contains(r#"lineup_issued_total{campaign="demo"} 5"#), "{text}");
        assert!(text.contains(r#"lineup_queue_length{campaign="demo"} 6"#), "{text}");
        assert!(text.contains("lineup_request_duration_seconds_bucket"), "{text}");
        assert!(
            text.contains(r#"lineup_ticket_reads_total{source="store"} 1"#),
            "{text}"
        );
        assert!(text.contains("lineup_ticket_cache_entries 1"), "{text}");
    }
}
