//! Argon2id password hashing: [`Argon2idHasher`], and [`HashingPool`],
//! which runs it off the async runtime.
//!
//! The hasher drives the argon2 crate's computation itself rather than its
//! `PasswordHasher`, so that the pool's threads can reuse their memory
//! blocks (`memory`); the PHC strings are the crate's own
//! (`$argon2id$v=19$m=...`), byte for byte, and every string the crate
//! accepts is verified the same way.

mod argon2id;
mod memory;
mod pool;

pub use argon2id::Argon2idHasher;
pub use pool::HashingPool;
