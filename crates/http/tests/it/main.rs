//! Integration tests: the real router on a temporary SQLite store, with a
//! manual clock, one module per capability. Each test would fail if the
//! rule it names were removed.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

mod bad_input;
mod gate;
mod lockout;
mod login;
mod ops;
mod recovery;
mod revocation;
mod tokens;
mod two_factor;
mod ui;
