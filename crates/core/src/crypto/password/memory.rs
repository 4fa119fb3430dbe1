//! The argon2 memory blocks the hashing pool's threads reuse.
//!
//! A hash at the default cost works in 19 MiB. Allocating them for every
//! hash costs page faults and zeroing, and glibc keeps a freed block of
//! that size in the freeing thread's arena instead of returning it, so
//! every thread that ever hashed stayed 19 MiB larger. The pool's threads
//! instead take a block from this cache and put it back after the hash; at
//! most one block per running hash exists. Once the pool has been idle for
//! a moment the blocks are freed, so an idle gateway does not hold them.

use std::sync::{Mutex, MutexGuard, PoisonError};

use argon2::Block;

/// Blocks of this many 1 KiB blocks or more are reserved with more
/// capacity than glibc's largest dynamic mmap threshold (32 MiB), so malloc
/// always maps them and free always unmaps them: a released block goes back
/// to the system. Only the pages a hash writes are ever resident.
const MAPPED_BLOCKS: usize = 32 * 1024 + 1;

/// Free blocks, each of `blocks` 1 KiB blocks.
#[derive(Debug)]
pub(super) struct BlockCache {
    blocks: usize,
    free: Mutex<Vec<Vec<Block>>>,
}

impl BlockCache {
    /// A cache of blocks of `blocks` 1 KiB blocks (allocated on first use).
    pub(super) fn new(blocks: usize) -> Self {
        Self {
            blocks,
            free: Mutex::new(Vec::new()),
        }
    }

    /// The size of the blocks, in 1 KiB blocks.
    pub(super) fn block_len(&self) -> usize {
        self.blocks
    }

    fn free(&self) -> MutexGuard<'_, Vec<Vec<Block>>> {
        // A poisoned lock is fine: every hash overwrites a block before
        // reading it.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free block, or a new one.
    pub(super) fn take(&self) -> Vec<Block> {
        if let Some(block) = self.free().pop() {
            return block;
        }
        let mut block = Vec::with_capacity(self.blocks.max(MAPPED_BLOCKS));
        block.resize(self.blocks, Block::new());
        block
    }

    /// Gives `block` back for the next hash.
    pub(super) fn put(&self, block: Vec<Block>) {
        self.free().push(block);
    }

    /// Frees the blocks no hash is using.
    pub(super) fn release(&self) {
        let freed = std::mem::take(&mut *self.free());
        drop(freed);
    }

    /// Blocks kept for the next hashes.
    pub(super) fn kept(&self) -> usize {
        self.free().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_until_released() {
        let cache = BlockCache::new(64);
        let a = cache.take();
        assert_eq!(a.len(), 64);
        let address = a.as_ptr();
        cache.put(a);
        assert_eq!(cache.kept(), 1);
        let b = cache.take();
        assert_eq!(b.as_ptr(), address, "the same block again");
        let c = cache.take();
        assert_ne!(c.as_ptr(), address, "a second hash gets its own");
        cache.put(b);
        cache.put(c);
        assert_eq!(cache.kept(), 2);
        cache.release();
        assert_eq!(cache.kept(), 0);
    }
}
