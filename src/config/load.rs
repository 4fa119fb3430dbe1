//! Reading the configuration: the file (`--config`, `OTPGATE_CONFIG` or
//! `./otpgate.toml`, parsed strictly: an unknown key is an error), then the
//! NethCTI middleware's variables, then the `OTPGATE_*` ones (which win),
//! then validation (`build`).

use std::path::{Path, PathBuf};

use super::build::build;
use super::dropin;
use super::error::ConfigError;
use super::model::Config;
use super::table::Raw;

/// The file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "otpgate.toml";

impl Config {
    /// Loads the configuration: `explicit` file (must exist) or
    /// `./otpgate.toml` if present, then the environment `env`.
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => env("OTPGATE_CONFIG").map(PathBuf::from).or_else(|| {
                Path::new(DEFAULT_CONFIG_FILE)
                    .is_file()
                    .then(|| PathBuf::from(DEFAULT_CONFIG_FILE))
            }),
        };
        let mut raw = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                toml::from_str::<Raw>(&text)
                    .map_err(|e| ConfigError::Toml(toml_error(p, &text, &e)))?
            }
            None => Raw::default(),
        };
        dropin::apply(&mut raw, env)?;
        raw.apply_env(env)?;
        build(raw, file)
    }
}

/// A TOML error as one line: the file, line and column, the key being
/// read (table and key name of that line) and what was wrong.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end_matches('\n').replace('\n', " ");
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return format!("config file {}: {message}", path.display());
    };
    let before = text.get(..at).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    let line = text
        .get(line_start..)
        .and_then(|l| l.lines().next())
        .unwrap_or("");
    // The table this line is in: the last `[header]` above it.
    let table = before
        .lines()
        .rev()
        .skip(1)
        .map(str::trim)
        .find_map(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|t| t.trim_matches(['[', ']']).trim().to_owned());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = match (table, key) {
        (Some(t), Some(k)) => format!(", key `{t}.{k}`"),
        (None, Some(k)) => format!(", key `{k}`"),
        _ => String::new(),
    };
    format!(
        "config file {}: line {line_no}, column {column}{key}: {message}",
        path.display()
    )
}
