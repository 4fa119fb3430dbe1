//! Configuration: an optional `otpgate.toml` overlaid by environment
//! variables (which win), validated into one [`Config`].
//!
//! Every setting is one row of the settings table (`table`), from which
//! the raw file structs, the `OTPGATE_*` overlay, the per-setting checks and
//! `otpgate config check` are generated (`section`). The modules, each with
//! one job:
//! - `table`: the rows; `section`: the macro that expands them; `value`:
//!   the value types and per-setting checks; `forms`: the form of single
//!   values;
//! - `load`: file, then `dropin` (the NethCTI middleware's variables),
//!   then the `OTPGATE_*` overlay;
//! - `rules`: every rule between settings, in one function;
//! - `build`, `build_http`, `notify`: the raw values into the validated
//!   `model` the rest of the binary reads;
//! - `show`: helpers for what `config check` prints;
//! - `error`: `ConfigError`.

mod build;
mod build_http;
mod dropin;
mod error;
mod forms;
mod load;
mod model;
mod notify;
mod rules;
mod section;
mod show;
mod table;
mod value;

pub use model::{Config, LdapConfig, LogFormat, PasswordBackendConfig};
pub use table::all as settings;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
