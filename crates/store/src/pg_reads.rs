//! Point reads on PostgreSQL, grouped: concurrent calls of one `Read`
//! statement of the table (statements.rs) that return at most one row each
//! go to the database as ONE statement, the original run once per element
//! of its parameters' arrays:
//!
//! ```sql
//! SELECT x.*, k.i FROM unnest($1::BIGINT[], $2::TEXT[]) WITH ORDINALITY AS k(p1, p2, i)
//! CROSS JOIN LATERAL (<the statement, $n read as k.pn>) AS x
//! ```
//!
//! Each caller gets the first row of its element (what `fetch_optional`
//! gives alone). The rows are the statement's own, its columns in their
//! places, so the mappers of rows.rs read them unchanged. A grouped read
//! starts after every call in it was made, so it sees every commit that
//! finished before any of them (read-your-writes holds). Grouping as in
//! [`Lanes`]: no timer, a lone read is sent at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use otpgate_core::StoreError;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::oneshot;

use crate::error::map;
use crate::pg_lanes::Lanes;
use crate::sql::{Sql, Value};

/// Groups of reads in flight at once per store.
const LANES: usize = 4;

type Reply = oneshot::Sender<Result<Option<PgRow>, StoreError>>;
/// A statement (its address in the table) and its parameters' array types.
type Key = (usize, Vec<&'static str>);

/// One read: its statement, its parameters, where its row goes.
struct Job {
    sql: &'static Sql,
    args: Vec<Value<'static>>,
    reply: Reply,
}

/// The read lanes of one store, and the grouped form of each statement.
#[derive(Default)]
pub(crate) struct Reads {
    lanes: Lanes<Job>,
    grouped: Arc<Mutex<HashMap<Key, Arc<str>>>>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reads")
    }
}

impl Reads {
    /// The first row of `sql` with `args`, read together with the calls
    /// made at the same time; `None` when it cannot be grouped (no lane can
    /// run: the caller reads alone).
    pub(crate) async fn first_row(
        &self,
        pool: &PgPool,
        sql: &'static Sql,
        args: &[Value<'_>],
    ) -> Option<Result<Option<PgRow>, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let args = args.iter().map(|v| v.clone().into_owned()).collect();
        let (pool, grouped) = (pool.clone(), Arc::clone(&self.grouped));
        let run = move |jobs| group(pool.clone(), Arc::clone(&grouped), jobs);
        self.lanes.send(LANES, run, Job { sql, args, reply }).ok()?;
        Some(
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("read lane stopped".into()))),
        )
    }
}

/// The jobs one lane took: one statement per distinct statement, all sent
/// at once; each caller answered with its row.
async fn group(pool: PgPool, grouped: Arc<Mutex<HashMap<Key, Arc<str>>>>, jobs: Vec<Job>) {
    // One statement per statement and kinds of parameters (a statement of
    // the table always gets the same kinds; the check costs nothing).
    let mut by_sql: Vec<(&'static Sql, Vec<&'static str>, Vec<Job>)> = Vec::new();
    for job in jobs {
        let types: Vec<&'static str> = job.args.iter().map(array_type).collect();
        match by_sql
            .iter_mut()
            .find(|(s, t, _)| std::ptr::eq(*s, job.sql) && *t == types)
        {
            Some((_, _, same)) => same.push(job),
            None => by_sql.push((job.sql, types, vec![job])),
        }
    }
    let mut running = Vec::with_capacity(by_sql.len());
    for (sql, types, jobs) in by_sql {
        let text = grouped_text(&grouped, sql, types);
        running.push(tokio::spawn(read(pool.clone(), text, jobs)));
    }
    for task in running {
        // A task that panicked dropped its replies: its callers hear so.
        let _ = task.await;
    }
}

/// The grouped statement for `sql` with parameters of `types` (built once).
fn grouped_text(
    grouped: &Mutex<HashMap<Key, Arc<str>>>,
    sql: &'static Sql,
    types: Vec<&'static str>,
) -> Arc<str> {
    let key = (std::ptr::from_ref(sql) as usize, types);
    if let Ok(map) = grouped.lock()
        && let Some(text) = map.get(&key)
    {
        return Arc::clone(text);
    }
    let text: Arc<str> = lateral(sql.pg, &key.1).into();
    if let Ok(mut map) = grouped.lock() {
        map.insert(key, Arc::clone(&text));
    }
    text
}

/// The array type a parameter travels in.
fn array_type(v: &Value<'_>) -> &'static str {
    match v {
        Value::Int(_) => "BIGINT[]",
        Value::Bool(_) => "BOOLEAN[]",
        Value::Text(_) => "TEXT[]",
        Value::Blob(_) => "BYTEA[]",
    }
}

/// `statement` run once per element of its parameters' arrays.
///
/// `OFFSET 0` keeps the statement a subquery run per element (PostgreSQL
/// does not pull such a subquery up into the join): each element is then
/// the statement's own index probe. Pulled up, a group of a few hundred
/// elements was planned as a hash join over the whole `users` table and a
/// hashed `EXISTS` over the whole `revoked_tokens` table, built again for
/// every group: 11 ms for 200 elements against 0.8 ms, and growing with
/// the tables (docs/performance.md, session 26).
pub fn lateral(statement: &str, types: &[&str]) -> String {
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(n, t)| format!("${}::{t}", n + 1))
        .collect();
    let names: Vec<String> = (1..=types.len()).map(|n| format!("p{n}")).collect();
    format!(
        "SELECT x.*, k.i FROM unnest({}) WITH ORDINALITY AS k({}, i) \
         CROSS JOIN LATERAL (SELECT * FROM ({}) AS s OFFSET 0) AS x",
        arrays.join(", "),
        names.join(", "),
        parameters_renamed(statement)
    )
}

/// `$n` read as `k.pn` (the statements of the table hold no `$` in
/// strings or identifiers).
fn parameters_renamed(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 16);
    let mut chars = statement.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("k.p");
        } else {
            out.push(c);
        }
    }
    out
}

/// Parameter `n` of every job, as one array (`None` where a job's value is
/// NULL or of another kind).
fn column<T>(
    jobs: &[Job],
    n: usize,
    pick: impl Fn(&Value<'static>) -> Option<T>,
) -> Vec<Option<T>> {
    jobs.iter().map(|j| j.args.get(n).and_then(&pick)).collect()
}

/// Runs one grouped statement and answers each job with its first row.
async fn read(pool: PgPool, text: Arc<str>, jobs: Vec<Job>) {
    let width = jobs.first().map_or(0, |j| j.args.len());
    let mut q = sqlx::query(AssertSqlSafe(text));
    for n in 0..width {
        q = match jobs.first().and_then(|j| j.args.get(n)) {
            Some(Value::Int(_)) => q.bind(column(&jobs, n, |v| match v {
                Value::Int(i) => *i,
                _ => None,
            })),
            Some(Value::Bool(_)) => q.bind(column(&jobs, n, |v| match v {
                Value::Bool(b) => *b,
                _ => None,
            })),
            Some(Value::Text(_)) => q.bind(column(&jobs, n, |v| match v {
                Value::Text(s) => s.as_deref().map(str::to_owned),
                _ => None,
            })),
            _ => q.bind(column(&jobs, n, |v| match v {
                Value::Blob(b) => b.as_deref().map(<[u8]>::to_vec),
                _ => None,
            })),
        };
    }
    match q.fetch_all(&pool).await {
        Ok(rows) => {
            let mut first: Vec<Option<PgRow>> = jobs.iter().map(|_| None).collect();
            for row in rows {
                let Some(last) = row.len().checked_sub(1) else {
                    continue;
                };
                let i: i64 = match row.try_get(last) {
                    Ok(i) => i,
                    Err(_) => continue,
                };
                let slot = usize::try_from(i - 1).ok().and_then(|i| first.get_mut(i));
                if let Some(slot) = slot
                    && slot.is_none()
                {
                    *slot = Some(row);
                }
            }
            for (job, row) in jobs.into_iter().zip(first) {
                let _ = job.reply.send(Ok(row));
            }
        }
        Err(e) => {
            let message = map(e);
            for job in jobs {
                let _ = job.reply.send(Err(message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_the_arrays_columns() {
        assert_eq!(
            lateral(
                "SELECT a FROM t WHERE b = $1 AND c > $2 AND $10 IS NULL",
                &["TEXT[]", "BIGINT[]"]
            ),
            "SELECT x.*, k.i FROM unnest($1::TEXT[], $2::BIGINT[]) WITH ORDINALITY AS k(p1, p2, i) \
             CROSS JOIN LATERAL (SELECT * FROM (SELECT a FROM t WHERE b = k.p1 AND c > k.p2 AND k.p10 IS NULL) AS s OFFSET 0) AS x"
        );
    }
}
