//! End-to-end tests of the `lineup` binary against the real `lineup-server`, in process on
//! port 0, with a fault-injecting proxy in front of it where a test needs one.

#[path = "it/claim.rs"]
mod claim;
#[path = "it/draw.rs"]
mod draw;
#[path = "it/faults.rs"]
mod faults;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/proxy.rs"]
mod proxy;
#[path = "it/verify.rs"]
mod verify;
