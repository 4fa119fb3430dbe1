//! What both backends share to run a statement written once: the
//! statement in both placeholder forms ([`Sql`], made at compile time by
//! [`sql!`]), its parameters ([`Value`]), and the small execution
//! interface ([`Exec`]) each backend implements, so that the generated
//! `Store` methods (`statements.rs`) name no driver.
//!
//! Statements are written in PostgreSQL's `$1` form; SQLite reads the same
//! numbers as `?1`, so the SQLite text is the same bytes with `$` turned
//! into `?` (same length, made by a `const fn`): rusqlite's
//! `prepare_cached` keeps its cache key, and nothing is converted at run
//! time.

use std::borrow::Cow;
use std::future::Future;

use otpgate_core::StoreError;
use otpgate_core::store::ChangeStamp;

use crate::rows::{FromRow, Int};

/// One statement, in each backend's placeholder form.
#[derive(Debug)]
pub(crate) struct Sql {
    pub pg: &'static str,
    pub sqlite: &'static str,
}

/// `pg` with every `$` turned into `?` (SQLite's `?N` reads like `$N`).
/// Meant for `const` items only ([`sql!`]): evaluated while compiling, an
/// index out of range would be a build error, never a panic at run time.
#[allow(clippy::indexing_slicing)]
pub(crate) const fn sqlite_form<const N: usize>(pg: &str) -> [u8; N] {
    let bytes = pg.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if bytes[i] == b'$' { b'?' } else { bytes[i] };
        i += 1;
    }
    out
}

/// A `&'static Sql` from one portable statement (`sql!("...")`), or from
/// one text per backend where they genuinely differ
/// (`sql!(pg: "...", sqlite: "...")`).
macro_rules! sql {
    (pg: $pg:expr, sqlite: $lite:expr $(,)?) => {{
        const S: $crate::sql::Sql = $crate::sql::Sql {
            pg: $pg,
            sqlite: $lite,
        };
        &S
    }};
    ($pg:expr) => {{
        const PG: &str = $pg;
        const BYTES: [u8; PG.len()] = $crate::sql::sqlite_form::<{ PG.len() }>(PG);
        const S: $crate::sql::Sql = $crate::sql::Sql {
            pg: PG,
            sqlite: match std::str::from_utf8(&BYTES) {
                Ok(s) => s,
                // Unreachable: swapping one ASCII byte for another keeps UTF-8.
                Err(_) => "",
            },
        };
        &S
    }};
}
pub(crate) use sql;

/// Moves the user's cut-off past every token issued so far (see
/// `Store::revoke_all_tokens`) to at least the parameter `$n`: the one
/// expression every such write uses, in both backends.
macro_rules! move_cutoff {
    ($n:literal) => {
        concat!(
            "tokens_valid_after = CASE WHEN tokens_valid_after + 1 > ",
            $n,
            " THEN tokens_valid_after + 1 ELSE ",
            $n,
            " END"
        )
    };
}
pub(crate) use move_cutoff;

/// One statement parameter (`None`: SQL NULL).
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<Cow<'a, str>>),
    Blob(Option<Cow<'a, [u8]>>),
}

impl Value<'_> {
    /// The same value owning its text (for a write job on another thread).
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Int(v) => Value::Int(v),
            Value::Bool(v) => Value::Bool(v),
            Value::Text(v) => Value::Text(v.map(|t| Cow::Owned(t.into_owned()))),
            Value::Blob(v) => Value::Blob(v.map(|b| Cow::Owned(b.into_owned()))),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl<'a> From<$t> for Value<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

impl<T: Int> From<T> for Value<'_> {
    fn from(v: T) -> Self {
        Value::Int(Some(v.int()))
    }
}

impl<T: Int> From<Option<T>> for Value<'_> {
    fn from(v: Option<T>) -> Self {
        Value::Int(v.map(Int::int))
    }
}

value_from! {
    bool => |v| Value::Bool(Some(v));
    Option<bool> => |v| Value::Bool(v);
    &'a str => |v| Value::Text(Some(Cow::Borrowed(v)));
    &'a String => |v| Value::Text(Some(Cow::Borrowed(v)));
    String => |v| Value::Text(Some(Cow::Owned(v)));
    Option<&'a str> => |v| Value::Text(v.map(Cow::Borrowed));
    &'a Option<String> => |v| Value::Text(v.as_deref().map(Cow::Borrowed));
    Option<String> => |v| Value::Text(v.map(Cow::Owned));
    &'a [u8] => |v| Value::Blob(Some(Cow::Borrowed(v)));
    Option<&'a [u8]> => |v| Value::Blob(v.map(Cow::Borrowed));
}

/// Where a statement runs. PostgreSQL runs all of them on its pool; the
/// modes matter to SQLite's engine, and `Feed` to PostgreSQL's change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A point read: inline on the caller's thread (SQLite).
    Read,
    /// A read of many rows: off the async runtime (SQLite).
    Scan,
    /// A write: a job for the group-committing writer (SQLite).
    Write,
    /// A write that changes what a token check reads (a user row, a
    /// revoked token id): PostgreSQL also notifies the change feed.
    Feed,
}

/// One statement of a [`Exec::batch`].
#[derive(Debug)]
pub(crate) struct Step {
    pub sql: &'static Sql,
    pub args: Vec<Value<'static>>,
    /// When this statement changes no row (a query: returns none), the
    /// batch stops here (what ran before stays).
    pub guard: bool,
    /// The statement's first row is what [`Exec::batch_fetch`] returns.
    pub fetch: bool,
}

impl Step {
    pub(crate) fn new(sql: &'static Sql, args: Vec<Value<'_>>) -> Self {
        let args = args.into_iter().map(Value::into_owned).collect();
        Self {
            sql,
            args,
            guard: false,
            fetch: false,
        }
    }

    pub(crate) fn guard(sql: &'static Sql, args: Vec<Value<'_>>) -> Self {
        Self {
            guard: true,
            ..Self::new(sql, args)
        }
    }

    pub(crate) fn fetch(sql: &'static Sql, args: Vec<Value<'_>>) -> Self {
        Self {
            fetch: true,
            ..Self::new(sql, args)
        }
    }
}

/// What a backend does with a statement: the one interface the generated
/// `Store` methods call.
pub(crate) trait Exec: Sync {
    /// The first row the statement returns, if any.
    fn opt<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;

    /// Every row the statement returns.
    fn all<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;

    /// The number of rows the statement changed.
    fn affected<const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs the steps in order in one transaction (see [`Step::guard`]);
    /// the rows each changed (or returned), and the first row of the
    /// [`Step::fetch`] step.
    fn batch_fetch<T: FromRow>(
        &self,
        mode: Mode,
        steps: Vec<Step>,
    ) -> impl Future<Output = Result<(Vec<u64>, Option<T>), StoreError>> + Send;

    /// `Store::change_stamp` of this backend.
    fn stamp(&self) -> Option<ChangeStamp>;

    /// [`Exec::batch_fetch`] for the counts only.
    fn batch(
        &self,
        mode: Mode,
        steps: Vec<Step>,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send {
        async move { Ok(self.batch_fetch::<i64>(mode, steps).await?.0) }
    }

    /// The row the statement always returns.
    fn one<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        async move {
            self.opt(mode, sql, args)
                .await?
                .ok_or_else(|| StoreError::Other("the statement returned no row".into()))
        }
    }

    /// Whether the statement changed exactly one row.
    fn changed<const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move { Ok(self.affected(mode, sql, args).await? == 1) }
    }

    /// Runs the statement for its effect only.
    fn done<const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.affected(mode, sql, args).await.map(drop) }
    }
}
