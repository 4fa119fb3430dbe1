//! Fuzzes the username rules (crates/core/src/username.rs): normalising
//! never panics and is idempotent; an accepted name is its own canonical
//! form, lower case, with no white space, control or format character and
//! one script; a name and its canonical form are matched as the same user.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otpgate_core::username::{MAX_LEN, canonical, check, names, normalize};

fuzz_target!(|data: &[u8]| {
    // Cheap: usernames are short; longer inputs only cost time.
    let raw = String::from_utf8_lossy(data.get(..256).unwrap_or(data));
    let once = normalize(&raw);
    assert_eq!(normalize(&once), once, "normalize is idempotent: {raw:?}");
    if let Ok(name) = canonical(&raw) {
        assert_eq!(name, once);
        assert!(check(&name).is_ok());
        assert!((1..=MAX_LEN).contains(&name.chars().count()));
        assert!(!name.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert_eq!(name.to_lowercase(), name, "lower case: {raw:?}");
        assert!(matches!(names(&raw, &name), Ok(true)), "{raw:?}");
    }
});
