//! Criterion micro-benchmarks of the core's per-request crypto: TOTP
//! verification, JWT issue and verify, a recovery-code check (argon2id at
//! the default cost: this is meant to be slow; alone and on the hashing
//! pool) and an API-key check.
//! Run with `cargo bench -p otpgate-core --bench core` (add
//! `-- --warm-up-time 1 --measurement-time 3` for a quick run).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use otpgate_core::config::Argon2Cost;
use otpgate_core::crypto::digest::sha256_hex;
use otpgate_core::crypto::jwt::{Claims, JwtCodec};
use otpgate_core::crypto::password::{Argon2idHasher, HashingPool};
use otpgate_core::crypto::totp::{TotpVerifier, code_at_step, step_of};
use otpgate_core::secret::{SecretBytes, SecretString, ct_eq};

fn claims() -> Claims {
    Claims {
        sub: "alice".into(),
        id: "alice".into(),
        uid: 1,
        iss: "otpgate".into(),
        iat: 1_795_305_615,
        exp: 1_796_515_215,
        jti: "Q2xhaW1zLWp0aS0xMjM0NQ".into(),
        two_factor: true,
        otp_verified: true,
        two_factor_setup: false,
        aud: None,
    }
}

fn totp(c: &mut Criterion) {
    let secret = SecretBytes::new(b"12345678901234567890".to_vec());
    let v = TotpVerifier { skew_steps: 1 };
    let now = 1_795_305_615;
    let code = code_at_step(secret.expose(), step_of(now), 6);
    c.bench_function("totp_verify_current_step", |b| {
        b.iter(|| v.matching_step(black_box(&secret), black_box(&code), black_box(now)))
    });
    c.bench_function("totp_verify_wrong_code", |b| {
        b.iter(|| v.matching_step(black_box(&secret), black_box("000000"), black_box(now)))
    });
}

fn jwt(c: &mut Criterion) {
    let codec = JwtCodec::new(&SecretBytes::new(vec![7u8; 64]), "otpgate").expect("codec");
    let cl = claims();
    let token = codec.sign(&cl);
    c.bench_function("jwt_issue", |b| b.iter(|| codec.sign(black_box(&cl))));
    c.bench_function("jwt_verify", |b| {
        b.iter(|| codec.verify(black_box(&token), black_box(1_795_305_700)))
    });
}

fn recovery_code(c: &mut Criterion) {
    let hasher = Argon2idHasher::new(Argon2Cost::default()).expect("params");
    let phc = hasher.hash(&SecretString::new("402913")).expect("hash");
    let guess = SecretString::new("118204");
    let mut g = c.benchmark_group("recovery_code");
    g.sample_size(10);
    g.bench_function("check_one_hash_default_cost", |b| {
        b.iter(|| hasher.verify(black_box(&guess), black_box(&phc)))
    });
    // As the gateway runs it: on the hashing pool, whose threads reuse
    // their memory blocks.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pool = HashingPool::new(hasher.clone(), 1, 8);
    g.bench_function("check_one_hash_default_cost_on_the_pool", |b| {
        b.iter(|| rt.block_on(pool.verify(guess.clone(), phc.clone())))
    });
    g.finish();
}

fn api_key(c: &mut Criterion) {
    let stored = sha256_hex(b"q8Vx1N0vYkX2gq4mJcY7T0e3dWb9sFhL5aZrPuKoNiM");
    let presented = "q8Vx1N0vYkX2gq4mJcY7T0e3dWb9sFhL5aZrPuKoNiM";
    c.bench_function("api_key_check", |b| {
        b.iter(|| {
            ct_eq(
                sha256_hex(black_box(presented).as_bytes()).as_bytes(),
                stored.as_bytes(),
            )
        })
    });
}

criterion_group!(benches, totp, jwt, recovery_code, api_key);
criterion_main!(benches);
