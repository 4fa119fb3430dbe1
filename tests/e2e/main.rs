//! End-to-end tests: the real `otpgate` binary, started as the README
//! says, driven over HTTP and through its CLI, with codes computed by a
//! TOTP implementation that is not ours (`oathtool`) and QR images decoded
//! by `zbarimg`; the self-service page in Debian's Chromium driven by npm
//! playwright-core.
//!
//! These tools come from Debian and npm (`.ci/run` installs them). Where one is
//! missing, its test prints `SKIPPED` with the install command and passes,
//! unless `OTPGATE_REQUIRE_E2E=1` (set by CI), which makes it fail.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod clients;
mod support;

/// The CTI-server stand-in of the HTTP crate's tests, shared.
#[path = "../../crates/http/tests/it/cti_server.rs"]
#[allow(dead_code)]
mod cti_server;

/// The race helper of the HTTP crate's tests, shared.
#[path = "../../crates/http/tests/it/race.rs"]
mod race;

/// The dialects' routes and bodies of the HTTP crate's tests, shared.
#[path = "../../crates/http/tests/it/dialects.rs"]
mod dialects;

mod applications;
mod balancer;
mod cli;
mod connections;
mod crash;
mod cti_socketio;
mod deploy;
mod ldap;
mod logs;
mod nethcti;
mod notifiers;
mod races;
mod readme;
mod restart;
mod schemathesis;
mod secrets_at_rest;
mod several_instances;
mod socketio;
mod ui;
mod walkthrough;
