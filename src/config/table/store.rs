//! Rows of the settings table: the SQLite and PostgreSQL stores.

use crate::config::section::section;
use crate::config::show;
use crate::config::value::OneOf;

section! {
    /// The settings of `[sqlite]`.
    pub struct RawSqlite = "sqlite." {
        synchronous: String = ["full".into()] {
            env: "OTPGATE_SQLITE_SYNCHRONOUS",
            check: OneOf(&["full", "normal"]),
            default_doc: "`full`",
            doc: "`full`: a commit is on disk before the answer; `normal`: survives a process crash, not a power loss (under concurrent writes, a commit waits up to 1 ms to serve more of them)",
            show: |c| show::store(c, false, if c.store.sqlite.synchronous_full { "full" } else { "normal" }.to_owned()),
        }
        busy_timeout_ms: u64 = [5000] {
            env: "OTPGATE_SQLITE_BUSY_TIMEOUT_MS",
            default_doc: "`5000`",
            doc: "wait for the write lock",
            show: |c| show::store(c, false, show::ms(c.store.sqlite.busy_timeout)),
        }
        max_connections: u32 = [8] {
            env: "OTPGATE_SQLITE_MAX_CONNECTIONS",
            default_doc: "`8`",
            doc: "read connections kept open (writes go through one writer connection)",
            show: |c| show::store(c, false, c.store.sqlite.max_connections.to_string()),
        }
    }
    children {  }
}

section! {
    /// The settings of `[postgres]`.
    pub struct RawPostgres = "postgres." {
        max_connections: u32 = [16] {
            env: "OTPGATE_POSTGRES_MAX_CONNECTIONS",
            default_doc: "`16`",
            doc: "pool size per instance",
            show: |c| show::store(c, true, c.store.postgres.max_connections.to_string()),
        }
        acquire_timeout_ms: u64 = [5000] {
            env: "OTPGATE_POSTGRES_ACQUIRE_TIMEOUT_MS",
            default_doc: "`5000`",
            doc: "wait for a connection before answering 503",
            show: |c| show::store(c, true, show::ms(c.store.postgres.acquire_timeout)),
        }
        connect_timeout_ms: u64 = [10_000] {
            env: "OTPGATE_POSTGRES_CONNECT_TIMEOUT_MS",
            default_doc: "`10000`",
            doc: "wait for the database at start",
            show: |c| show::store(c, true, show::ms(c.store.postgres.connect_timeout)),
        }
    }
    children {  }
}
