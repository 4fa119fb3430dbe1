//! The rule for a password an operator sets (NIST SP 800-63B §5.1.1.2):
//! long enough (`Policy::password_min_length`, default 8 characters,
//! counted as Unicode characters), at most [`MAX_PASSWORD_LEN`] bytes, and
//! not one of the commonly used passwords.
//!
//! The list of common passwords is bundled (`data/common-passwords.txt`):
//! the 19,640 entries of Royce Williams' list that Django ships as
//! `django/contrib/auth/common-passwords.txt.gz` (lower-cased, so the
//! comparison ignores case). It is compiled into the binary: no file to
//! install, no network at run time. docs/security.md says why this list.
//!
//! Generated passwords (the first `admin`, `user add` without a password)
//! are 20 random characters and are not checked (a `min_length` above 20
//! applies to the passwords people choose).

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::error::AuthError;
use crate::secret::SecretString;

/// Longest password accepted, in bytes (argon2 takes any length; this
/// bounds the work an oversized body can cause).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The default shortest password, in characters (NIST's minimum).
pub const DEFAULT_MIN_LENGTH: usize = 8;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether `password` is on the bundled list of common passwords
/// (compared without regard to case).
pub fn is_common(password: &str) -> bool {
    COMMON.contains(password.to_lowercase().as_str())
}

/// Refuses a password that breaks the rule, saying which part.
pub fn check(password: &SecretString, min_length: usize) -> Result<(), AuthError> {
    let pw = password.expose();
    if pw.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::invalid(format!(
            "password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let chars = pw.chars().count();
    if chars < min_length.max(1) {
        return Err(AuthError::invalid(format!(
            "password must be at least {} characters (it has {chars})",
            min_length.max(1)
        )));
    }
    if is_common(pw) {
        return Err(AuthError::invalid(
            "password is too common (it is on the list of commonly used passwords); choose another",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(pw: &str, min: usize) -> Result<(), String> {
        check(&SecretString::new(pw), min).map_err(|e| e.to_string())
    }

    #[test]
    fn short_common_and_oversized_passwords_are_refused() {
        let e = check_text("a", 8).expect_err("short");
        assert!(e.contains("at least 8 characters"), "{e}");
        assert!(check_text("", 0).is_err(), "never empty");
        let e = check_text("password", 8).expect_err("common");
        assert!(e.contains("too common"), "{e}");
        assert!(check_text("PassWord1", 8).is_err(), "case is ignored");
        assert!(check_text("12345678", 8).is_err());
        assert!(check_text(&"x".repeat(MAX_PASSWORD_LEN + 1), 8).is_err());
        // Characters, not bytes: 8 accented letters are 16 bytes.
        assert!(check_text("éééééé", 8).is_err());
    }

    #[test]
    fn ordinary_passwords_pass() {
        assert!(check_text("S3cret-Alice", 8).is_ok());
        assert!(check_text("correct horse battery staple", 8).is_ok());
        assert!(check_text("short-ok", 6).is_ok());
        assert!(COMMON.len() > 19_000, "the whole list is bundled");
    }
}
