//! Store operations only the tests and the bench use, kept out of the
//! core's `Store` trait: the second factor's single conditional writes,
//! each on its own (the service only ever makes them inside
//! `Store::complete_second_factor`). Behind the `test-support` feature.

use async_trait::async_trait;
use otpgate_core::model::{RecoveryCodeId, UnixTime, UserId};
use otpgate_core::{Store, StoreError};

/// A [`Store`] that also offers the single-use writes one by one.
#[async_trait]
pub trait TestStore: Store {
    /// Atomically turns the pending secret into the enabled one, records
    /// `step` as the last accepted step and moves the cut-off (see
    /// [`otpgate_core::store::TokenStore::revoke_all_tokens`]). False if
    /// there was no pending secret.
    async fn enable_totp(
        &self,
        user_id: UserId,
        step: i64,
        valid_after: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Atomically records `step` as accepted if it is later than the last
    /// accepted one and 2FA is on. False means replay (or 2FA off).
    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError>;
    /// Deletes one recovery code; true only for the one caller that
    /// deleted it.
    async fn consume_recovery_code(&self, code_id: RecoveryCodeId) -> Result<bool, StoreError>;
}
