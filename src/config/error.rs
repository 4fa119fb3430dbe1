//! [`ConfigError`]: every way the configuration can be refused, as one
//! typed enum. Its `Display` is the one-line message `otpgate` prints
//! (the tests and the README quote these messages, so they are stable).

use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` or `OTPGATE_CONFIG` cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for the settings table: one line with the
    /// file, line, column and key.
    #[error("{0}")]
    Toml(String),
    /// An environment variable whose text is not a value of its type.
    #[error("{name}={value:?} is not a valid value")]
    EnvValue {
        /// The variable.
        name: String,
        /// Its text.
        value: String,
    },
    /// A boolean environment variable that is neither true nor false.
    #[error("{name}={value:?} must be true or false")]
    EnvBool {
        /// The variable.
        name: String,
        /// Its text.
        value: String,
    },
    /// A `Name=value,...` environment variable with an entry without `=`.
    #[error("{name}: {pair:?} is not Name=value")]
    EnvPair {
        /// The variable.
        name: String,
        /// The entry.
        pair: String,
    },
    /// A number outside its setting's range (the table's `check`).
    #[error("{key} must be {bounds}")]
    OutOfRange {
        /// The setting (`section.key`).
        key: &'static str,
        /// The range in words, e.g. `between 1 and 100`.
        bounds: String,
    },
    /// A value that is not one of its setting's choices.
    #[error("{key} {value:?} must be {allowed}")]
    NotOneOf {
        /// The setting.
        key: &'static str,
        /// The value given.
        value: String,
        /// The choices in words.
        allowed: String,
    },
    /// A value of the wrong form (an address, a URL, a date, a path ...).
    #[error("{message}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// The message, naming the setting.
        message: String,
    },
    /// A rule between settings (`rules::check`).
    #[error("{0}")]
    Rule(String),
    /// A NethCTI middleware variable (`NETHVOICE_MIDDLEWARE_*`).
    #[error("{0}")]
    DropIn(String),
}

impl ConfigError {
    /// A value of the wrong form for `key`.
    pub fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            message: message.into(),
        }
    }

    /// A broken rule between settings.
    pub fn rule(message: impl Into<String>) -> Self {
        Self::Rule(message.into())
    }
}
