//! The one integration test binary of lineup-server.

mod auto_issue;
mod common;
mod concurrency;
mod connections;
mod crash;
mod draw_verify;
mod errors;
mod inflight;
mod late_claim;
mod lifecycle;
mod limits;
mod openapi;
mod origin;
mod postgres;
mod push;
mod recovery;
mod restart;
mod secrets;
mod status_cache;
mod verify;
