//! The argon2id hasher itself: fixed cost, PHC strings byte for byte the
//! argon2 crate's, hashes computed in memory blocks the pool's threads
//! reuse ([`super::memory`]). A leaf of [`super`], so the pool can use it
//! without naming its parent.

use std::sync::Arc;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};

use super::memory::BlockCache;
use crate::config::Argon2Cost;
use crate::error::AuthError;
use crate::secret::SecretString;

/// A fixed-cost argon2id hasher.
#[derive(Clone)]
pub struct Argon2idHasher {
    argon: Argon2<'static>,
    /// The memory blocks the pool's threads reuse; `None` elsewhere (a
    /// hash then allocates its memory and frees it when done).
    memory: Option<Arc<BlockCache>>,
}

impl std::fmt::Debug for Argon2idHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2idHasher")
    }
}

/// The algorithm and version of every hash this module makes.
const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

impl Argon2idHasher {
    /// A hasher with that cost.
    pub fn new(cost: Argon2Cost) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            argon: Argon2::new(ALGORITHM, VERSION, params),
            memory: None,
        })
    }

    /// The same hasher, reusing memory blocks across its hashes (for the
    /// pool's threads, which share it).
    pub(super) fn with_reused_memory(&self) -> Self {
        Self {
            argon: self.argon.clone(),
            memory: Some(Arc::new(BlockCache::new(self.argon.params().block_count()))),
        }
    }

    /// Memory blocks kept for the next hashes.
    pub(super) fn kept_blocks(&self) -> usize {
        self.memory.as_deref().map_or(0, BlockCache::kept)
    }

    /// Frees the memory blocks no hash is using.
    pub(super) fn release_blocks(&self) {
        if let Some(m) = &self.memory {
            m.release();
        }
    }

    /// The PHC string of `secret` with a fresh random salt.
    pub fn hash(&self, secret: &SecretString) -> Result<String, AuthError> {
        let salt = argon2::password_hash::try_generate_salt()
            .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?;
        self.hash_with_salt(secret, &salt)
    }

    /// The PHC string of `secret` with `salt`: the same string as the
    /// argon2 crate's `PasswordHasher::hash_password_with_salt`.
    fn hash_with_salt(&self, secret: &SecretString, salt: &[u8]) -> Result<String, AuthError> {
        let failed = |e: &dyn std::fmt::Display| AuthError::Internal(format!("argon2 hash: {e}"));
        let params = self.argon.params();
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
            .ok_or_else(|| failed(&"output length"))?;
        self.compute(&self.argon, secret.expose().as_bytes(), salt, out)
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: ALGORITHM.ident(),
            version: Some(VERSION.into()),
            params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `secret` matches the PHC string `phc` (algorithm, version
    /// and parameters are taken from the string, as the argon2 crate's
    /// `PasswordVerifier` does). A malformed string never matches.
    pub fn verify(&self, secret: &SecretString, phc: &str) -> bool {
        self.matches(secret, phc).unwrap_or(false)
    }

    fn matches(&self, secret: &SecretString, phc: &str) -> Option<bool> {
        let phc = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&phc).ok()?;
        let (salt, expected) = (phc.salt?, phc.hash?);
        let argon = Argon2::new(algorithm, version, params);
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer.get_mut(..expected.len())?;
        self.compute(&argon, secret.expose().as_bytes(), &salt, out)
            .ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(out).ok()? == expected)
    }

    /// Runs `argon` in a reused memory block when this hasher has some and
    /// the hash needs no more than a block holds (a stored hash of a higher
    /// cost cannot make the pool keep more), else in memory allocated for
    /// this hash.
    fn compute(
        &self,
        argon: &Argon2<'_>,
        pwd: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        match &self.memory {
            Some(memory) if argon.params().block_count() <= memory.block_len() => {
                let mut block = memory.take();
                let r = argon.hash_password_into_with_memory(pwd, salt, out, block.as_mut_slice());
                memory.put(block);
                r
            }
            _ => argon.hash_password_into(pwd, salt, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn cost() -> Argon2Cost {
        Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(cost()).expect("params")
    }

    /// The argon2 crate's own hasher with the same cost.
    fn plain(cost: Argon2Cost) -> Argon2<'static> {
        let params =
            Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).expect("params");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[test]
    fn hash_is_salted_argon2id_and_verifies() {
        let h = cheap();
        let pw = SecretString::new("correct horse");
        let a = h.hash(&pw).expect("hash");
        let b = h.hash(&pw).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(h.verify(&pw, &a));
        assert!(!h.verify(&SecretString::new("wrong"), &a));
        assert!(!h.verify(&pw, "not a phc string"));
        assert!(!h.verify(&pw, "$argon2id$v=19$m=1024,t=1,p=1"));
    }

    #[test]
    fn reused_memory_gives_the_argon2_crates_strings_and_accepts_its_hashes() {
        let pw = SecretString::new("correct horse");
        let reusing = cheap().with_reused_memory();
        let salt = *b"0123456789abcdef";
        let reference = plain(cost())
            .hash_password_with_salt(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        // Twice: the second hash runs in memory the first one filled.
        for _ in 0..2 {
            assert_eq!(reusing.hash_with_salt(&pw, &salt).expect("hash"), reference);
            let ours = reusing.hash(&pw).expect("hash");
            plain(cost())
                .verify_password(b"correct horse", ours.as_str())
                .expect("the argon2 crate accepts our hash");
            assert!(reusing.verify(&pw, &reference));
            assert!(!reusing.verify(&SecretString::new("wrong"), &reference));
        }
        // Hashes of other costs: fewer blocks (in the reused memory) and
        // more blocks (in memory of their own), and the other variants.
        for (m, t, alg) in [
            (64, 3, Algorithm::Argon2id),
            (4096, 1, Algorithm::Argon2id),
            (256, 2, Algorithm::Argon2i),
            (256, 2, Algorithm::Argon2d),
        ] {
            let params = Params::new(m, t, 1, None).expect("params");
            let other = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"correct horse")
                .expect("hash")
                .to_string();
            assert!(reusing.verify(&pw, &other), "{other}");
            assert!(!reusing.verify(&SecretString::new("wrong"), &other));
        }
        assert_eq!(reusing.kept_blocks(), 1, "one block, reused");
        assert_eq!(cheap().kept_blocks(), 0, "a plain hasher keeps nothing");
    }
}
