//! The event queue of the discrete-event simulation: a binary heap of (time, client) packed into
//! one `u128`, so a million pending events take 16 MB and compare as integers. Ties break in
//! insertion order, which keeps runs deterministic and fair between clients.

use crate::scenario::Micros;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-queue of client wake-ups.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<u128>>,
    seq: u32,
}

impl EventQueue {
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
            seq: 0,
        }
    }

    /// Wakes `client` at `at`.
    pub fn push(&mut self, at: Micros, client: u32) {
        // The 32-bit sequence wraps after 4 billion events; only the order of exact ties
        // between events that far apart could change, never correctness.
        self.seq = self.seq.wrapping_add(1);
        let key = (u128::from(at) << 64) | (u128::from(self.seq) << 32) | u128::from(client);
        self.heap.push(Reverse(key));
    }

    /// The earliest wake-up.
    pub fn pop(&mut self) -> Option<(Micros, u32)> {
        let Reverse(key) = self.heap.pop()?;
        Some(((key >> 64) as Micros, key as u32))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_ties_in_insertion_order() {
        let mut q = EventQueue::with_capacity(4);
        q.push(30, 1);
        q.push(10, 7);
        q.push(10, 2);
        q.push(u64::MAX, u32::MAX);
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop(), Some((10, 7)));
        assert_eq!(q.pop(), Some((10, 2)));
        assert_eq!(q.pop(), Some((30, 1)));
        assert_eq!(q.pop(), Some((u64::MAX, u32::MAX)));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }
}
