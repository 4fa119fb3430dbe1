//! What `otpgate config check` prints: every row of the settings table, one
//! `key: value` line each, under its TOML name (`section.key`), with the
//! value in force (the file, the environment or the default), in the
//! table's order. Each row says how its value prints (`show`): secrets
//! (passwords, tokens, header values, a URL's password) as `***`, and a
//! section whose feature is not in use says so.

use crate::config::{Config, settings as rows};

/// The `(key, value)` pairs, in the table's order.
pub fn settings(c: &Config) -> Vec<(&'static str, String)> {
    rows().into_iter().map(|s| (s.key, (s.show)(c))).collect()
}

#[cfg(test)]
#[path = "config_report_tests.rs"]
mod tests;
