//! Races: `n` copies of one request at once, and counting their outcomes.
//!
//! Every single-use value (a TOTP step, a recovery code, an out-of-band
//! code, a Capillary session, a legacy nonce, a persistent token) and
//! every lockout is tested by firing many identical attempts together and
//! counting the winners. This module is that loop, written once: the
//! HTTP crate's tests (`it`) and the end-to-end tests (`tests/e2e`, which
//! include this file by path) both use it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;

/// Runs `n` copies of `f(i)` (`i` in `0..n`), each on its own task,
/// released together by a barrier once all are spawned; returns their
/// results in the order of `i`. A panic in one copy fails the caller.
pub async fn race<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let attempt = f(i);
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            (i, attempt.await)
        });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, v) = joined.unwrap();
        out[i] = Some(v);
    }
    let out: Vec<T> = out.into_iter().flatten().collect();
    assert_eq!(out.len(), n, "every copy of the race answered");
    out
}

/// How many of `items` satisfy `pred`.
pub fn count_where<T>(items: &[T], pred: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|x| pred(x)).count()
}

/// How many times each key occurs (for example each status of a race),
/// in key order: compare it with an expected table, or print it.
pub fn tally<K: Ord + Copy>(keys: impl IntoIterator<Item = K>) -> BTreeMap<K, usize> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}
