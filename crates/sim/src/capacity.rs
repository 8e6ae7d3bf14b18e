//! The server's capacity in virtual time: one pool of work (C issuances per second) that every
//! request draws on, refused ones included. Load shedding is not free, so an overloaded server's
//! goodput falls: once refusals alone use up the capacity, nothing else gets through.
//!
//! The pool is a single FIFO of work kept as the instant it would run dry (`busy_until`). A
//! request that would start within `max_queue` is served; one that would wait longer is refused
//! at the door with 503 (costing `reject` units); beyond `max_backlog` the listen queue is full
//! and the connection is dropped for free (the client only learns from its timeout).

use crate::scenario::{Micros, Scenario};

/// What the door does with an arriving request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Door {
    /// Served: the work starts at `start` (call [`Capacity::finish`] with its cost).
    Serve { start: f64 },
    /// Refused with 503 at once; the refusal used capacity.
    Shed,
    /// Dropped by a full listen queue; no reply ever comes.
    Drop,
}

/// The server's work pool.
#[derive(Debug, Clone)]
pub struct Capacity {
    micros_per_unit: f64,
    busy_until: f64,
    max_queue: f64,
    max_backlog: f64,
    reject: f64,
}

impl Capacity {
    pub fn new(s: &Scenario) -> Self {
        Capacity {
            micros_per_unit: 1e6 / s.capacity,
            busy_until: 0.0,
            max_queue: s.max_queue_s * 1e6,
            max_backlog: s.max_backlog_s * 1e6,
            reject: s.costs.reject,
        }
    }

    /// A request reaches the server at `t`.
    pub fn arrive(&mut self, t: Micros) -> Door {
        let now = t as f64;
        let start = self.busy_until.max(now);
        let wait = start - now;
        if wait > self.max_backlog {
            Door::Drop
        } else if wait > self.max_queue {
            self.busy_until = start + self.reject * self.micros_per_unit;
            Door::Shed
        } else {
            Door::Serve { start }
        }
    }

    /// Work the server starts by itself at `t` (the issuer's batch): it queues behind what is
    /// already there and is never refused. Returns when it is done (the batch is durable).
    pub fn work(&mut self, t: Micros, units: f64) -> Micros {
        let start = self.busy_until.max(t as f64);
        self.finish(start, units)
    }

    /// Charges `units` of work for a served request that started at `start`; returns when it
    /// is done (the reply leaves the server).
    pub fn finish(&mut self, start: f64, units: f64) -> Micros {
        self.busy_until = start + units * self.micros_per_unit;
        self.busy_until.ceil() as Micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SEC;

    fn cap(reject: f64) -> Capacity {
        let mut s = Scenario {
            capacity: 1000.0,
            max_queue_s: 0.5,
            max_backlog_s: 2.0,
            ..Scenario::default()
        };
        s.costs.reject = reject;
        Capacity::new(&s)
    }

    /// Offers `per_sec` requests per second for `secs` seconds, each costing one unit when
    /// served; returns how many were served.
    fn offer(c: &mut Capacity, per_sec: u64, secs: u64) -> (u64, u64, u64) {
        let (mut served, mut shed, mut dropped) = (0, 0, 0);
        for i in 0..per_sec * secs {
            let t = i * SEC / per_sec;
            match c.arrive(t) {
                Door::Serve { start } => {
                    c.finish(start, 1.0);
                    served += 1;
                }
                Door::Shed => shed += 1,
                Door::Drop => dropped += 1,
            }
        }
        (served, shed, dropped)
    }

    #[test]
    fn internal_work_queues_in_the_same_pool() {
        let mut c = cap(0.0);
        // Half a second of batch work at t = 0: a request at 0.1 s starts after it.
        assert_eq!(c.work(0, 500.0), SEC / 2);
        assert_eq!(
            c.arrive(SEC / 10),
            Door::Serve {
                start: (SEC / 2) as f64
            }
        );
    }

    #[test]
    fn under_capacity_everything_is_served_in_order() {
        let mut c = cap(0.1);
        let (served, shed, dropped) = offer(&mut c, 500, 10);
        assert_eq!((served, shed, dropped), (5000, 0, 0));
    }

    #[test]
    fn free_refusals_keep_goodput_at_capacity() {
        let mut c = cap(0.0);
        let (served, shed, dropped) = offer(&mut c, 10_000, 10);
        // 1,000 per second for 10 s, plus the half second of queue that was accepted.
        assert!((10_000..=10_600).contains(&served), "{served}");
        assert_eq!(served + shed, 100_000);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn costly_refusals_collapse_goodput() {
        // 10,000/s offered, each refusal costing 0.05: refusals alone want 500 units/s,
        // so only about half the capacity is left for real work.
        let mut c = cap(0.05);
        let (served, _, _) = offer(&mut c, 10_000, 10);
        assert!((4_000..=6_000).contains(&served), "{served}");
        // At 0.2 per refusal they want 2,000 units/s: the server does nothing useful.
        let mut c = cap(0.2);
        let (served, shed, dropped) = offer(&mut c, 10_000, 10);
        assert!(served < 700, "{served}");
        assert!(dropped > 0 && shed > 0);
    }
}
