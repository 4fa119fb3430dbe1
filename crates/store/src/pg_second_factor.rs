//! Second-factor successes on PostgreSQL, grouped: concurrent
//! `complete_second_factor` calls of one store go to the database as ONE
//! statement, a call of `otpgate_complete_second_factors` (migration
//! 0012) with one array element per call and one outcome per element.
//!
//! The grouping is natural ([`Lanes`]): [`LANES`] tasks take jobs from
//! one queue; a lane that is free takes the job that arrives and every job
//! waiting at that moment, runs them as one statement, and is free again.
//! While the lanes are busy, new jobs gather. No timer: a lone call is
//! sent at once.
//!
//! Each element keeps the meaning and outcomes of a single call (the
//! function checks before it writes, so an element that fails leaves the
//! others alone). A batch that fails as a whole with a deadlock or a
//! serialization failure (rolled back: nothing of it was written) is run
//! again element by element, each alone, so no element fails for another
//! one's conflict. Any other failure is every element's (the connection
//! went, say: what was committed is unknown, as for a single call).
//!
//! The change feed is told once per batch, after its commit, and only
//! when an element that won revoked a token or enabled a secret.

use std::sync::Arc;

use otpgate_core::StoreError;
use otpgate_core::model::{
    OtpCounter, OtpStatusUse, RevokeToken, SecondFactorProof, SecondFactorWrite, UnixTime, UserId,
};
use sqlx::postgres::PgPool;
use tokio::sync::oneshot;

use crate::error::map;
use crate::pg_feed::Feed;
use crate::pg_lanes::Lanes;

/// The statement: one call for every element.
const COMPLETE_SECOND_FACTORS: &str = "SELECT otpgate_complete_second_factors(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Batches in flight at once per store. One: a second lane halved the
/// groups and added a third to PostgreSQL's CPU per success (143 against
/// 108 us measured, docs/performance.md, session 26); the next group
/// gathers while one commits.
pub(crate) const LANES: usize = 1;
/// Tries of a lone element that meets a deadlock or serialization failure.
const SOLO_TRIES: usize = 3;

/// One call's arguments, as the function takes them.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    user: i64,
    kind: i16,
    step: Option<i64>,
    cutoff: Option<i64>,
    code: Option<i64>,
    revoke_jti: Option<String>,
    revoke_expires: Option<i64>,
    status_app: Option<i64>,
    status_now: Option<i64>,
    unreserved_now: Option<i64>,
}

impl Element {
    pub(crate) fn new(
        user_id: UserId,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Self {
        let (kind, step, cutoff, code) = match proof {
            SecondFactorProof::TotpStep(step) => (0, Some(step), None, None),
            SecondFactorProof::Enable { step, cutoff } => (1, Some(step), Some(cutoff.get()), None),
            SecondFactorProof::RecoveryCode(id) => (2, None, None, Some(id.get())),
        };
        Self {
            user: user_id.get(),
            kind,
            step,
            cutoff,
            code,
            revoke_jti: revoke.map(|r| r.jti.clone()),
            revoke_expires: revoke.map(|r| r.expires_at.get()),
            status_app: otp_status.map(|s| s.app_id.get()),
            status_now: otp_status.map(|s| s.now.get()),
            unreserved_now: match otp_counter {
                OtpCounter::Unreserved { now } => Some(now.get()),
                OtpCounter::Reserved => None,
            },
        }
    }

    /// Whether its success changes what a token check reads.
    fn feeds(&self) -> bool {
        self.revoke_jti.is_some() || self.kind == 1
    }
}

type Reply = oneshot::Sender<Result<SecondFactorWrite, StoreError>>;

/// The lanes of one store.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    lanes: Lanes<(Element, Reply)>,
}

impl Batcher {
    /// Records one second-factor success (or says why not), grouped with
    /// the calls made at the same time. Outside a tokio runtime (no lanes
    /// can run) it is sent alone.
    pub(crate) async fn complete(
        &self,
        pool: &PgPool,
        feed: &Arc<Feed>,
        element: Element,
    ) -> Result<SecondFactorWrite, StoreError> {
        let (reply, answer) = oneshot::channel();
        let (lane_pool, lane_feed) = (pool.clone(), Arc::clone(feed));
        let run = move |jobs| group(lane_pool.clone(), Arc::clone(&lane_feed), jobs);
        if let Err((element, _)) = self.lanes.send(LANES, run, (element, reply)) {
            let feeds = element.feeds();
            let written = solo(pool, element).await?;
            if feeds && written.recorded() {
                feed.changed().await;
            }
            return Ok(written);
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("second-factor lane stopped".into()))?
    }
}

/// One group: one statement, then the answers, after the feed heard when
/// an element that won changed what a token check reads (in a task of its
/// own, so the lane is free for the next group at once).
async fn group(pool: PgPool, feed: Arc<Feed>, jobs: Vec<(Element, Reply)>) {
    let (elements, replies): (Vec<Element>, Vec<Reply>) = jobs.into_iter().unzip();
    let outcomes = run(&pool, &elements).await;
    let feeds = outcomes
        .iter()
        .zip(&elements)
        .any(|(o, e)| e.feeds() && matches!(o, Ok(SecondFactorWrite::Recorded)));
    let answer = |replies: Vec<Reply>, outcomes: Vec<_>| {
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that went away needs no answer.
            let _ = reply.send(outcome);
        }
    };
    if feeds {
        tokio::spawn(async move {
            feed.changed().await;
            answer(replies, outcomes);
        });
    } else {
        answer(replies, outcomes);
    }
}

/// The outcome of every element: one statement, or, when that statement
/// was rolled back for a deadlock or serialization failure, each element
/// alone.
pub(crate) async fn run(
    pool: &PgPool,
    elements: &[Element],
) -> Vec<Result<SecondFactorWrite, StoreError>> {
    match call(pool, elements).await {
        Ok(outcomes) => outcomes,
        Err(e) if conflict(&e) => {
            let mut out = Vec::with_capacity(elements.len());
            for element in elements {
                out.push(solo(pool, element.clone()).await);
            }
            out
        }
        Err(e) => {
            let err = map(e);
            elements.iter().map(|_| Err(err.clone())).collect()
        }
    }
}

/// One element alone, tried again after a deadlock or serialization
/// failure.
async fn solo(pool: &PgPool, element: Element) -> Result<SecondFactorWrite, StoreError> {
    let elements = [element];
    let mut tries = 0;
    loop {
        tries += 1;
        match call(pool, &elements).await {
            Ok(mut outcomes) => {
                return outcomes.pop().unwrap_or_else(|| {
                    Err(StoreError::Other(
                        "complete_second_factors: no outcome".into(),
                    ))
                });
            }
            Err(e) if tries < SOLO_TRIES && conflict(&e) => {}
            Err(e) => return Err(map(e)),
        }
    }
}

/// A failure that rolled the statement back and is worth running again.
fn conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// The statement for `elements`, and their outcomes in their order.
async fn call(
    pool: &PgPool,
    elements: &[Element],
) -> Result<Vec<Result<SecondFactorWrite, StoreError>>, sqlx::Error> {
    let column = |f: fn(&Element) -> Option<i64>| elements.iter().map(f).collect::<Vec<_>>();
    let raw: Vec<i64> = sqlx::query_scalar(COMPLETE_SECOND_FACTORS)
        .bind(elements.iter().map(|e| e.user).collect::<Vec<_>>())
        .bind(elements.iter().map(|e| e.kind).collect::<Vec<_>>())
        .bind(column(|e| e.step))
        .bind(column(|e| e.cutoff))
        .bind(column(|e| e.code))
        .bind(
            elements
                .iter()
                .map(|e| e.revoke_jti.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(column(|e| e.revoke_expires))
        .bind(column(|e| e.status_app))
        .bind(column(|e| e.status_now))
        .bind(column(|e| e.unreserved_now))
        .fetch_one(pool)
        .await?;
    if raw.len() != elements.len() {
        let message = format!(
            "complete_second_factors: {} outcomes for {} elements",
            raw.len(),
            elements.len()
        );
        return Ok(elements
            .iter()
            .map(|_| Err(StoreError::Other(message.clone())))
            .collect());
    }
    Ok(raw
        .into_iter()
        .map(|o| match o {
            0 => Ok(SecondFactorWrite::Recorded),
            -1 => Ok(SecondFactorWrite::StatusGone),
            -2 => Ok(SecondFactorWrite::ProofLost),
            until if until > 0 => Ok(SecondFactorWrite::Locked {
                until: UnixTime::new(until),
            }),
            other => Err(StoreError::Other(format!(
                "complete_second_factors: unexpected outcome {other}"
            ))),
        })
        .collect())
}
