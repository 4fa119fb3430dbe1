//! The value types a setting can have: how each is read from an
//! environment variable ([`EnvValue`]), and the per-setting checks a row of
//! the table can name ([`Bounds`], [`OneOf`], [`Form`], [`NoCheck`]).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;

use super::error::ConfigError;

/// A setting's type as read from the environment.
pub trait EnvValue: Sized {
    /// How README writes the variable's form after its name (empty for a
    /// plain value).
    const FORM: &'static str = "";
    /// `value` of variable `name`.
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError>;
}

impl EnvValue for String {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(value.to_owned())
    }
}

impl EnvValue for PathBuf {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(PathBuf::from(value))
    }
}

macro_rules! env_number {
    ($($t:ty),*) => {$(
        impl EnvValue for $t {
            fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
                parse_env(name, value)
            }
        }
    )*};
}
env_number!(u16, u32, u64, usize, i64);

impl EnvValue for bool {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::EnvBool {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
    }
}

impl EnvValue for Vec<String> {
    const FORM: &'static str = " (comma-separated)";
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(comma_list(value))
    }
}

impl EnvValue for BTreeMap<String, String> {
    const FORM: &'static str = " (`Name=value,...`)";
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| ConfigError::EnvPair {
                        name: name.to_owned(),
                        pair: pair.to_owned(),
                    })
            })
            .collect()
    }
}

/// A number (or any `FromStr`) from the environment, spaces trimmed.
pub fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::EnvValue {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

/// `a,b , c` as a list without empty entries.
pub fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A check of one setting's value, named in its row of the table.
pub trait Check<T> {
    /// `Ok` when `value` is acceptable for `key`.
    fn check(&self, key: &'static str, value: &T) -> Result<(), ConfigError>;
}

/// No check beyond the type.
pub struct NoCheck;

impl<T> Check<T> for NoCheck {
    fn check(&self, _: &'static str, _: &T) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// A numeric range, with an optional note after the message.
pub struct Bounds<T> {
    lo: Option<T>,
    hi: Option<T>,
    /// `greater than 0` rather than `at least 1`.
    positive: bool,
    /// The upper bound in words (`100 years`), instead of the number.
    hi_words: Option<&'static str>,
    note: &'static str,
}

impl<T> Bounds<T> {
    /// `lo..=hi`.
    pub const fn between(lo: T, hi: T) -> Self {
        Self {
            lo: Some(lo),
            hi: Some(hi),
            positive: false,
            hi_words: None,
            note: "",
        }
    }

    /// `lo..`.
    pub const fn at_least(lo: T) -> Self {
        Self {
            lo: Some(lo),
            hi: None,
            positive: false,
            hi_words: None,
            note: "",
        }
    }

    /// `..=hi`.
    pub const fn at_most(hi: T) -> Self {
        Self {
            lo: None,
            hi: Some(hi),
            positive: false,
            hi_words: None,
            note: "",
        }
    }

    /// The upper bound in words in the message, e.g. `100 years`.
    pub const fn hi_words(mut self, words: &'static str) -> Self {
        self.hi_words = Some(words);
        self
    }

    /// Said after the range in the message, e.g. ` (0 keeps them forever)`.
    pub const fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }
}

impl<T: From<u8>> Bounds<T> {
    /// Greater than 0 (`1..`), with no upper bound.
    pub fn positive() -> Self {
        Self {
            lo: Some(T::from(1)),
            hi: None,
            positive: true,
            hi_words: None,
            note: "",
        }
    }

    /// Greater than 0 and at most `hi`.
    pub fn positive_up_to(hi: T) -> Self {
        Self {
            lo: Some(T::from(1)),
            hi: Some(hi),
            positive: true,
            hi_words: None,
            note: "",
        }
    }
}

impl<T: PartialOrd + Display> Check<T> for Bounds<T> {
    fn check(&self, key: &'static str, value: &T) -> Result<(), ConfigError> {
        let low = self.lo.as_ref().is_some_and(|lo| value < lo);
        let high = self.hi.as_ref().is_some_and(|hi| value > hi);
        if !(low || high) {
            return Ok(());
        }
        let range = match (&self.lo, &self.hi) {
            _ if self.positive && (low || self.hi.is_none()) => "greater than 0".to_owned(),
            (Some(lo), Some(hi)) if !self.positive => format!("between {lo} and {hi}"),
            (_, Some(hi)) if high => match self.hi_words {
                Some(words) => format!("at most {words}"),
                None => format!("at most {hi}"),
            },
            (Some(lo), _) => format!("at least {lo}"),
            _ => "in range".to_owned(),
        };
        Err(ConfigError::OutOfRange {
            key,
            bounds: format!("{range}{}", self.note),
        })
    }
}

/// One of a few words (compared trimmed and in lower case).
pub struct OneOf(pub &'static [&'static str]);

/// One of a few words, exactly as written.
pub struct Exactly(pub &'static [&'static str]);

impl Check<String> for OneOf {
    fn check(&self, key: &'static str, value: &String) -> Result<(), ConfigError> {
        one_of(key, self.0, value.trim().to_ascii_lowercase())
    }
}

impl Check<String> for Exactly {
    fn check(&self, key: &'static str, value: &String) -> Result<(), ConfigError> {
        one_of(key, self.0, value.clone())
    }
}

/// `Ok` when `v` is one of `words`; else the message listing them.
fn one_of(key: &'static str, words: &[&str], v: String) -> Result<(), ConfigError> {
    if words.contains(&v.as_str()) {
        return Ok(());
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    let allowed = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(ConfigError::NotOneOf {
        key,
        value: v,
        allowed,
    })
}

/// A check of the value's form by a function that returns the message.
pub struct Form<T: ?Sized + 'static>(pub fn(&'static str, &T) -> Result<(), String>);

impl<T> Check<T> for Form<T> {
    fn check(&self, key: &'static str, value: &T) -> Result<(), ConfigError> {
        (self.0)(key, value).map_err(|message| ConfigError::Invalid { key, message })
    }
}

/// A text setting checked by a function of `&str`.
impl Check<String> for Form<str> {
    fn check(&self, key: &'static str, value: &String) -> Result<(), ConfigError> {
        (self.0)(key, value).map_err(|message| ConfigError::Invalid { key, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_say_the_range_in_words() {
        let msg = |c: &dyn Check<u32>, v| c.check("k", &v).map_err(|e| e.to_string());
        assert_eq!(
            msg(&Bounds::between(1, 100), 0),
            Err("k must be between 1 and 100".into())
        );
        assert_eq!(
            msg(&Bounds::at_least(100), 5),
            Err("k must be at least 100".into())
        );
        assert_eq!(
            msg(&Bounds::at_most(10).note(" (x)"), 11),
            Err("k must be at most 10 (x)".into())
        );
        assert_eq!(
            msg(&Bounds::positive(), 0),
            Err("k must be greater than 0".into())
        );
        assert_eq!(
            msg(&Bounds::positive_up_to(9), 10),
            Err("k must be at most 9".into())
        );
        assert_eq!(msg(&Bounds::between(1, 100), 100), Ok(()));
        let e = Exactly(&["text", "json"]).check("log_format", &"xml".to_owned());
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("log_format \"xml\" must be \"text\" or \"json\"".into())
        );
        assert!(Exactly(&["json"]).check("k", &"JSON".to_owned()).is_err());
        assert!(OneOf(&["json"]).check("k", &" JSON".to_owned()).is_ok());
        let years = Bounds::positive_up_to(9).hi_words("nine");
        assert_eq!(msg(&years, 10), Err("k must be at most nine".into()));
        assert_eq!(msg(&years, 0), Err("k must be greater than 0".into()));
    }
}
