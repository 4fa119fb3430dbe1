//! [`Store::change_stamp`] for SQLite: whether anyone committed, read from
//! the wal-index header without a query.
//!
//! Every commit, by any connection of any process, rewrites the wal-index
//! header at the start of the `-shm` file: its `iChange` counter, the
//! frame count, the salts and checksums
//! (<https://sqlite.org/walformat.html>, "the WAL-index header"). SQLite's
//! own readers compare that header to decide whether their page cache is
//! still good; this does the same with one `pread` and no lock, which
//! costs a fraction of a read transaction (that one takes POSIX locks on
//! the `-shm` file and a process-wide mutex).
//!
//! The header is written twice, copy 1 then copy 0; a read that finds the
//! two copies different caught a commit mid-write, and an uninitialised
//! header or any read error gives no stamp at all: the caller then reads
//! the database, which is always the fallback.
//!
//! [`Store::change_stamp`]: otpgate_core::store::TokenStore::change_stamp

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use otpgate_core::store::ChangeStamp;

/// The wal-index header: two copies of a 48-byte `WalIndexHdr`.
const HEADER_BYTES: usize = 96;
const COPY_BYTES: usize = 48;
/// `WalIndexHdr.iVersion` of every SQLite since 3.7.0.
const WAL_INDEX_VERSION: u32 = 3_007_000;

/// The `-shm` file of one database, opened for reading its header.
#[derive(Debug)]
pub(crate) struct WalIndex {
    /// `None` when the file could not be opened or its header made no
    /// sense: no stamps then.
    shm: Option<File>,
}

impl WalIndex {
    /// The wal-index of the database at `db_path`. The `-shm` file must
    /// exist already (a connection has read the database in WAL mode).
    pub(crate) fn open(db_path: &Path) -> Self {
        let mut shm_path = db_path.as_os_str().to_owned();
        shm_path.push("-shm");
        let index = Self {
            shm: File::open(&shm_path).ok(),
        };
        if index.stamp().is_none() {
            return Self { shm: None };
        }
        index
    }

    /// The stamp of the header as it reads now: `iChange`, `mxFrame` and
    /// the two salts (a checkpoint that restarts the log changes the salts).
    pub(crate) fn stamp(&self) -> Option<ChangeStamp> {
        let shm = self.shm.as_ref()?;
        let mut header = [0u8; HEADER_BYTES];
        shm.read_exact_at(&mut header, 0).ok()?;
        let (first, second) = header.split_at(COPY_BYTES);
        if first != second {
            return None;
        }
        let word = |at: usize| {
            first
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_ne_bytes)
        };
        // WalIndexHdr: iVersion 0, unused 4, iChange 8, isInit 12,
        // bigEndCksum 13, szPage 14, mxFrame 16, nPage 20, aFrameCksum 24,
        // aSalt 32, aCksum 40.
        if word(0)? != WAL_INDEX_VERSION || first.get(12).copied() != Some(1) {
            return None;
        }
        let stamp = [word(8)?, word(16)?, word(32)?, word(36)?]
            .into_iter()
            .fold(0u128, |acc, w| (acc << 32) | u128::from(w));
        Some(ChangeStamp(stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// A WAL database with one table, and a connection that has read it.
    fn wal_db(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("t.db");
        let c = Connection::open(&path).expect("open");
        c.pragma_update(None, "journal_mode", "WAL").expect("wal");
        c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .expect("schema");
        (path, c)
    }

    #[test]
    fn reads_keep_the_stamp_and_every_commit_changes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, c) = wal_db(dir.path());
        let index = WalIndex::open(&path);
        let mut seen = vec![index.stamp().expect("a WAL database has a header")];
        let _: i64 = c
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(index.stamp(), seen.first().copied(), "reads change nothing");
        // Commits by another connection (as another process would make),
        // and one across a checkpoint that restarts the log.
        let other = Connection::open(&path).expect("open");
        for i in 0..5 {
            other.execute("UPDATE t SET x = ?", [i]).expect("commit");
            if i == 2 {
                other
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .expect("checkpoint");
            }
            let now = index.stamp().expect("stamp");
            assert!(!seen.contains(&now), "commit {i} changed the stamp");
            seen.push(now);
        }
    }

    #[test]
    fn no_shm_file_means_no_stamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = WalIndex::open(&dir.path().join("missing.db"));
        assert_eq!(index.stamp(), None);
    }
}
