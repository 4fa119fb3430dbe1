//! Integration tests: the real router on a temporary SQLite store, with a
//! manual clock, one module per capability. Each test would fail if the
//! rule it names were removed.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod clients;
mod cti_server;
mod dialects;
mod race;
mod sio;
mod support;

mod applications;
mod audience;
mod audit;
mod bad_input;
mod brute_force;
mod capillary;
mod cti_forward;
mod gate;
mod legacy;
mod lockout;
mod login;
mod mandatory;
mod metrics;
mod mudbase;
mod nagle;
mod nethcti;
mod openapi;
mod ops;
mod persistent_tokens;
mod profile_memo;
mod proxy;
mod proxy_hygiene;
mod recovery;
mod relay;
mod revocation;
mod single_connect;
mod tokens;
mod two_factor;
mod ui;
mod usernames;
mod ws;
