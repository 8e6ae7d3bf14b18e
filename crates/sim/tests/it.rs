//! Integration tests of `lineup-sim`: a small `model` scenario (library and binary) and a
//! small `load` scenario against a spawned `lineup-server`.

mod it {
    mod load;
    mod model;
}
