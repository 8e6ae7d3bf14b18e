//! `lineup-sim`: when N people want V vouchers from a server that can issue C per second, what
//! does each client strategy cost the server and the people? `model` answers in virtual time
//! (a discrete-event simulation of the protocol and the server's capacity); `load` answers with
//! real HTTP against a real `lineup-server` on loopback; `attack` runs that load beside attackers.

pub mod attack;
pub mod capacity;
pub mod cli;
pub mod load;
pub mod model;
pub mod plot;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod strategy;
