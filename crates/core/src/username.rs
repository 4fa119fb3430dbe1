//! One normalisation for usernames, used by every entry point (every
//! dialect's route, Socket.IO and the CLI, through the core).
//!
//! Usernames are matched case-insensitively and kept lower-case, so 2FA
//! state, lockouts and tokens belong to the user, never to the spelling
//! typed (the system we replace keyed state by the literal login string,
//! which let a differently-cased alias skip 2FA). Since issue 15 the
//! canonical form is Unicode NFKC, then lower case (API.md §1): the
//! fullwidth `ｖｉｃｔｉｍ` and the circled `ⓥictim` *are* `victim`. Names
//! that would still render like another one are refused
//! ([`check`], Unicode TR 39): control, format (zero-width) and white-space
//! characters, any other character TR 39's General Security Profile does
//! not allow in identifiers, a mix of scripts (Latin with Cyrillic `і`),
//! and a non-ASCII name whose TR 39 skeleton is plain ASCII (`vıctim` with
//! a dotless i, an all-Cyrillic `асе`): it looks like an ASCII name.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript, skeleton};

use crate::error::AuthError;

/// Longest username accepted, in characters.
pub const MAX_LEN: usize = 64;

/// How many NFKC + lower-case rounds [`normalize`] runs at most: one is
/// almost always a fixed point; lower-casing can (rarely) produce a string
/// NFKC changes again.
const MAX_ROUNDS: usize = 4;

/// The canonical form of a typed username: surrounding white space removed,
/// Unicode NFKC, lower case. Does not validate; see [`check`].
pub fn normalize(raw: &str) -> String {
    let mut name: String = raw.trim().to_owned();
    for _ in 0..MAX_ROUNDS {
        let next: String = name.nfkc().collect::<String>().to_lowercase();
        if next == name {
            break;
        }
        name = next;
    }
    name.trim().to_owned()
}

/// The form names were stored in before NFKC was applied (surrounding white
/// space removed, lower case): a user created then is still found by it.
pub fn earlier_form(raw: &str) -> String {
    raw.trim().to_lowercase()
}

fn refuse(detail: String) -> AuthError {
    AuthError::InvalidUsername(detail)
}

/// Checks a canonical name (the output of [`normalize`]): 1 to 64
/// characters; no white space, control or format character, no `:` (the
/// legacy `user:token` header uses it), `/` or `\`; beyond ASCII, only
/// characters TR 39 allows in identifiers, one script, and not an ASCII
/// look-alike. Refusals are [`AuthError::InvalidUsername`].
pub fn check(name: &str) -> Result<(), AuthError> {
    let count = name.chars().count();
    if count == 0 || count > MAX_LEN {
        return Err(refuse(format!(
            "username must be 1 to {MAX_LEN} characters"
        )));
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, ':' | '/' | '\\')
            || (!c.is_ascii() && !c.identifier_allowed())
    }) {
        return Err(refuse(format!(
            "username may not contain U+{:04X} (white space, control, format and \
             other characters not allowed in identifiers by Unicode TR 39, or : / \\)",
            u32::from(c)
        )));
    }
    if name.is_ascii() {
        return Ok(());
    }
    if !name.is_single_script() {
        return Err(refuse(
            "username mixes scripts (Unicode TR 39): it could look like another name".into(),
        ));
    }
    if skeleton(name).all(|c| c.is_ascii()) {
        return Err(refuse(
            "username is confusable with an ASCII name (Unicode TR 39 skeleton)".into(),
        ));
    }
    Ok(())
}

/// [`normalize`], then [`check`]: the name a new user gets.
pub fn canonical(raw: &str) -> Result<String, AuthError> {
    let name = normalize(raw);
    check(&name)?;
    Ok(name)
}

/// Whether the typed `raw` names the user stored as `stored` (a token's
/// subject): its canonical or its earlier form equals it. A name that
/// names nobody and breaks the rules is [`AuthError::InvalidUsername`].
pub fn names(raw: &str, stored: &str) -> Result<bool, AuthError> {
    let name = normalize(raw);
    if name == stored || earlier_form(raw) == stored {
        return Ok(true);
    }
    check(&name)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        matches!(canonical(raw), Err(AuthError::InvalidUsername(_)))
    }

    #[test]
    fn normalizes_case_space_and_compatibility_forms() {
        assert_eq!(normalize("  Alice "), "alice");
        assert_eq!(normalize("ÉRIC"), "éric");
        // Decomposed é composes (NFKC), so both spellings are one name.
        assert_eq!(normalize("E\u{301}ric"), "éric");
        assert_eq!(normalize("ｖｉｃｔｉｍ"), "victim", "fullwidth");
        assert_eq!(normalize("ＶＩＣＴＩＭ"), "victim", "fullwidth capitals");
        assert_eq!(normalize("ⓥictim"), "victim", "circled");
        assert_eq!(normalize("ﬁona"), "fiona", "ligature");
        for raw in ["Alice", "ｖｉｃｔｉｍ", "ǅemal", "ΣΊΣΥΦΟΣ", "İstanbul"] {
            let once = normalize(raw);
            assert_eq!(normalize(&once), once, "a fixed point: {raw}");
        }
    }

    #[test]
    fn the_look_alikes_of_victim_are_victim_or_refused() {
        // NFKC folds these to `victim` itself: the same user, not a new one.
        assert_eq!(canonical("ｖｉｃｔｉｍ").ok().as_deref(), Some("victim"));
        assert_eq!(canonical("ⓥictim").ok().as_deref(), Some("victim"));
        // These stay different strings that render alike: refused.
        assert!(refused("vıctim"), "dotless i (Latin only: skeleton)");
        assert!(refused("v\u{456}ct\u{456}m"), "Cyrillic і (mixed scripts)");
        assert!(refused("victim\u{200B}"), "zero-width space (format)");
        assert!(refused("vic\u{200D}tim"), "zero-width joiner (format)");
        assert!(refused("victim\u{FEFF}"), "BOM (format)");
        assert!(refused("vic\u{AD}tim"), "soft hyphen (format)");
        assert!(refused("\u{430}\u{441}\u{435}"), "all-Cyrillic асе");
        assert!(refused("vic\u{202E}mit"), "right-to-left override");
    }

    #[test]
    fn control_and_white_space_and_separators_are_refused() {
        for raw in [
            "",
            "   ",
            "a b",
            "a\u{a0}b",
            "a\u{3000}b",
            "a\tb",
            "a\u{0}b",
            "a\u{85}b",
            "a:b",
            "../x",
            "a\\b",
            &"x".repeat(65),
        ] {
            assert!(refused(raw), "{raw:?}");
        }
    }

    #[test]
    fn ordinary_names_in_any_one_script_pass() {
        for raw in [
            "alice",
            "a.b-c_d@example.org",
            "o'brien",
            "user+tag",
            "éric",
            "josé",
            "müller",
            "straße",
            "łukasz",
            "дмитрий",
            "ελένη",
            "山田太郎",
            "やまだ",
            &"x".repeat(64),
        ] {
            assert!(canonical(raw).is_ok(), "{raw:?}: {:?}", canonical(raw));
        }
    }

    #[test]
    fn names_matches_a_stored_name_by_its_canonical_or_earlier_form() {
        assert!(matches!(names("ALICE", "alice"), Ok(true)));
        assert!(matches!(names("ｖｉｃｔｉｍ", "victim"), Ok(true)));
        assert!(matches!(names("bob", "alice"), Ok(false)));
        // A name stored before the rules is still matched as stored.
        assert!(matches!(names("Vıctim", "vıctim"), Ok(true)));
        assert!(matches!(
            names("victim\u{200B}", "victim"),
            Err(AuthError::InvalidUsername(_))
        ));
    }
}
