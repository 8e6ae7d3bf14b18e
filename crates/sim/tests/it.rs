//! Integration tests of `lineup-sim`: a small `model` scenario (library and binary), a small
//! `load` scenario against a spawned `lineup-server`, and the same on three instances sharing
//! PostgreSQL.

mod it {
    mod load;
    mod model;
    mod postgres;
}
