//! One normalisation for usernames, used by every entry point.
//!
//! Usernames are matched case-insensitively and kept lower-case, so 2FA
//! state, lockouts and tokens belong to the user, never to the spelling
//! typed (the system we replace keyed state by the literal login string,
//! which let a differently-cased alias skip 2FA).

use crate::error::AuthError;

/// Longest username accepted, in characters.
pub const MAX_LEN: usize = 64;

/// The canonical form of a typed username: surrounding white space removed,
/// lower-cased. Does not validate; see [`validate`].
pub fn normalize(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Checks a username for creation: 1 to 64 characters, no white space, no
/// control characters, no `:` (the legacy `user:token` header uses it) and
/// no `/` or `\`.
pub fn validate(name: &str) -> Result<(), AuthError> {
    let count = name.chars().count();
    if count == 0 || count > MAX_LEN {
        return Err(AuthError::invalid(format!(
            "username must be 1 to {MAX_LEN} characters"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | '/' | '\\'))
    {
        return Err(AuthError::invalid(format!(
            "username may not contain {c:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_space() {
        assert_eq!(normalize("  Alice "), "alice");
        assert_eq!(normalize("ÉRIC"), "éric");
    }

    #[test]
    fn validates() {
        assert!(validate("alice").is_ok());
        assert!(validate("a.b-c_d@example.org").is_ok());
        assert!(validate("").is_err());
        assert!(validate("a b").is_err());
        assert!(validate("a:b").is_err());
        assert!(validate("../x").is_err());
        assert!(validate("a\u{0}b").is_err());
        assert!(validate(&"x".repeat(65)).is_err());
    }
}
