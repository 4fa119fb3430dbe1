//! The `section!` macro that turns rows of the settings table into code,
//! and [`Setting`], what is known about one row at run time.
//!
//! One row says everything about a setting: its TOML key (the field name in
//! its section), type, default, check, environment variable, README text
//! and what `config check` prints. From the rows of a section the macro
//! generates:
//! - the raw section struct (serde, unknown keys refused), every field an
//!   `Option` (absent from the file and the environment: `None`);
//! - an accessor per setting, `raw.section.key()`, that returns the value
//!   or the default, checked (range, choices, form); the accessor is the
//!   only way the rest of `config` reads a setting, so a value is checked
//!   exactly when its feature is in use, as before;
//! - `apply_env`, the `OTPGATE_*` overlay of the section, and
//!   `apply_dropin`, the NethCTI middleware's variable of each row that has
//!   one (`dropin:`);
//! - `SETTINGS`, the rows as [`Setting`]s, for `config check` and for the
//!   tests that pin README's table and `otpgate.example.toml` to the rows.

use super::model::Config;

/// One row of the settings table, as data.
#[derive(Debug)]
pub struct Setting {
    /// `section.key` (`key` for the top level).
    pub key: &'static str,
    /// The `OTPGATE_*` variable.
    #[cfg_attr(not(test), allow(dead_code))]
    pub env: &'static str,
    /// The NethCTI middleware's variable that means the same (README
    /// "Drop-in configuration"), if any.
    #[cfg_attr(not(test), allow(dead_code))]
    pub dropin: Option<&'static str>,
    /// How README writes the variable's form, e.g. ` (comma-separated)`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub env_form: &'static str,
    /// README's "default" cell.
    #[cfg_attr(not(test), allow(dead_code))]
    pub default_doc: &'static str,
    /// README's "meaning" cell.
    #[cfg_attr(not(test), allow(dead_code))]
    pub doc: &'static str,
    /// The typed default as a TOML value (`None`: no fixed default).
    #[cfg_attr(not(test), allow(dead_code))]
    pub default_toml: fn() -> Option<toml::Value>,
    /// The value in force, secrets as `***`, as `config check` prints it.
    pub show: fn(&Config) -> String,
}

/// Declares one section of the settings table (see the module doc).
///
/// ```text
/// section! {
///     /// doc
///     pub struct RawJwt = "jwt." {
///         lifetime_secs: i64 = [1_209_600] {
///             env: "OTPGATE_JWT_LIFETIME_SECS",
///             check: Bounds::positive(),
///             default_doc: "`1209600` (14 days)",
///             doc: "token lifetime",
///             show: |c| c.policy.token_lifetime_secs.to_string(),
///         }
///     }
///     children {}
/// }
/// ```
/// `= []` declares a setting without a fixed default (its accessor returns
/// an `Option`); without `check`, the type is the only check; `dropin:
/// "NETHVOICE_MIDDLEWARE_..."` (after `env`) names the NethCTI middleware's
/// variable of the same meaning, read before `env`.
macro_rules! section {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident = $prefix:literal {
            $(
                $field:ident : $ty:ty = [$($default:expr)?] {
                    env: $env:literal,
                    $(dropin: $dropin:literal,)?
                    $(check: $check:expr,)?
                    default_doc: $ddoc:literal,
                    doc: $doc:literal,
                    show: $show:expr $(,)?
                }
            )*
        }
        children { $($child:ident : $cty:ty),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $(pub(crate) $field: Option<$ty>,)*
            $(
                #[serde(default)]
                pub(crate) $child: $cty,
            )*
        }

        impl $name {
            /// The rows of this section (not of its children).
            pub const SETTINGS: &'static [$crate::config::section::Setting] = &[$(
                $crate::config::section::Setting {
                    key: concat!($prefix, stringify!($field)),
                    env: $env,
                    dropin: section!(@some $($dropin)?),
                    env_form: <$ty as $crate::config::value::EnvValue>::FORM,
                    default_doc: $ddoc,
                    doc: $doc,
                    default_toml: || section!(@toml $ty $(, $default)?),
                    show: $show,
                },
            )*];

            /// Reads this section's `NETHVOICE_MIDDLEWARE_*` variables (and
            /// its children's); blank ones are ignored. (`env` is unused in a
            /// section without such a variable.)
            #[allow(unused_variables)]
            pub fn apply_dropin(
                &mut self,
                env: &dyn Fn(&str) -> Option<String>,
            ) -> Result<(), $crate::config::error::ConfigError> {
                $($(
                    if let Some(v) = env($dropin).filter(|v| !v.trim().is_empty()) {
                        self.$field = Some(
                            <$ty as $crate::config::value::EnvValue>::from_env($dropin, &v)?,
                        );
                    }
                )?)*
                $(self.$child.apply_dropin(env)?;)*
                Ok(())
            }

            /// Reads this section's `OTPGATE_*` variables (and its
            /// children's) over the file's values.
            pub fn apply_env(
                &mut self,
                env: &dyn Fn(&str) -> Option<String>,
            ) -> Result<(), $crate::config::error::ConfigError> {
                $(
                    if let Some(v) = env($env) {
                        self.$field = Some(
                            <$ty as $crate::config::value::EnvValue>::from_env($env, &v)?,
                        );
                    }
                )*
                $(self.$child.apply_env(env)?;)*
                Ok(())
            }

            /// Appends the rows of this section and its children.
            pub fn collect(out: &mut Vec<&'static $crate::config::section::Setting>) {
                out.extend(Self::SETTINGS.iter());
                $(<$cty>::collect(out);)*
            }

            $(
                #[doc = concat!("`", $prefix, stringify!($field), "`: ", $doc)]
                pub fn $field(
                    &self,
                ) -> Result<section!(@ret $ty $(, $default)?), $crate::config::error::ConfigError> {
                    let value: Option<$ty> = self.$field.clone() $(.or_else(|| Some($default)))?;
                    if let Some(v) = &value {
                        $crate::config::value::Check::<$ty>::check(
                            &section!(@check $($check)?),
                            concat!($prefix, stringify!($field)),
                            v,
                        )?;
                    }
                    Ok(section!(@out value $(, $default)?))
                }
            )*
        }
    };
    (@some) => { None };
    (@some $v:literal) => { Some($v) };
    (@check) => { $crate::config::value::NoCheck };
    (@check $check:expr) => { $check };
    (@ret $ty:ty) => { Option<$ty> };
    (@ret $ty:ty, $default:expr) => { $ty };
    (@out $v:ident) => { $v };
    (@out $v:ident, $default:expr) => { $v.unwrap_or_else(|| $default) };
    (@toml $ty:ty) => { None };
    (@toml $ty:ty, $default:expr) => {{
        let d: $ty = $default;
        toml::Value::try_from(d).ok()
    }};
}

pub(crate) use section;
