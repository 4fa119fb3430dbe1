//! Caps on what the libraries otpgate links may log, whatever `OTPGATE_LOG`
//! (or `RUST_LOG`) asks for: their debug and trace output prints payloads
//! (a Socket.IO `login` event with its JWT, an SMTP transcript with the
//! code and the relay password, HTTP frames with `Authorization`, JSON
//! bodies in axum's rejections), and logs never hold a secret (API.md §7).
//!
//! The caps are a second, fixed filter beside the operator's: the most
//! specific `OTPGATE_LOG` directive cannot lift them. otpgate's own targets
//! are not capped; they log no payload at any level.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// Each capped target (a crate, with its modules) and the most it may log.
pub const CAPS: &[(&str, LevelFilter)] = &[
    // Packets and handler-extraction errors (which quote the payload).
    ("socketioxide", LevelFilter::OFF),
    ("socketioxide_core", LevelFilter::WARN),
    ("socketioxide_parser_common", LevelFilter::OFF),
    ("engineioxide", LevelFilter::WARN),
    ("engineioxide_core", LevelFilter::WARN),
    // Frames and headers.
    ("tungstenite", LevelFilter::INFO),
    ("tokio_tungstenite", LevelFilter::INFO),
    ("hyper", LevelFilter::INFO),
    ("hyper_util", LevelFilter::INFO),
    ("h2", LevelFilter::INFO),
    ("reqwest", LevelFilter::INFO),
    ("rustls", LevelFilter::INFO),
    // Rejections quote the body that failed to parse.
    ("axum", LevelFilter::INFO),
    ("axum_core", LevelFilter::INFO),
    ("tower_http", LevelFilter::INFO),
    // Statements (and, for some, their arguments).
    ("sqlx", LevelFilter::WARN),
    ("sqlx_core", LevelFilter::WARN),
    ("sqlx_postgres", LevelFilter::WARN),
    ("rusqlite", LevelFilter::WARN),
    // The SMTP transcript: AUTH, and the message with its code.
    ("lettre", LevelFilter::INFO),
];

/// The fixed filter: everything at any level, except the capped targets.
pub fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_capped_targets_and_their_modules_stay_at_their_cap() {
        let caps = caps();
        assert!(!caps.would_enable("socketioxide::handler::message", &Level::ERROR));
        assert!(!caps.would_enable("engineioxide::socket", &Level::DEBUG));
        assert!(caps.would_enable("engineioxide::socket", &Level::WARN));
        assert!(!caps.would_enable("lettre::transport::smtp", &Level::DEBUG));
        assert!(!caps.would_enable("hyper::proto::h1", &Level::TRACE));
        assert!(!caps.would_enable("axum::rejection", &Level::TRACE));
        assert!(!caps.would_enable("sqlx::query", &Level::INFO));
        assert!(caps.would_enable("otpgate::auth", &Level::TRACE));
        assert!(caps.would_enable("otpgate_http::proxy", &Level::TRACE));
    }
}
