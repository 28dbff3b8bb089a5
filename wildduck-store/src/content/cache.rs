//! Parsed layouts kept in memory, so repeated reads of a message (a client fetching it
//! again, BODY[] after BODYSTRUCTURE, POP3 RETR after TOP) neither decompress its skeleton
//! nor split its part tree again.
//!
//! Keyed by the stored layout bytes themselves, compared in full on a hit: a layout never
//! changes once written (content is immutable), and equal bytes parse to the same layout, so
//! nothing ever has to be invalidated and no two messages can be served each other's parts.
//! Bounded by bytes; the least recently used layouts leave first.

use std::sync::{Arc, Mutex};

use hashlink::LruCache;

use super::ParsedLayout;
use crate::error::Result;

/// Bytes of parsed layouts (and their keys) kept at most.
const CAPACITY_BYTES: usize = 16 * 1024 * 1024;
/// Layouts holding more than this are parsed per read and not kept (one would crowd out
/// many ordinary messages).
const LARGEST_KEPT: usize = CAPACITY_BYTES / 64;

pub(crate) struct LayoutCache {
    kept: Mutex<Kept>,
    capacity: usize,
}

struct Kept {
    layouts: LruCache<Box<[u8]>, Arc<ParsedLayout>>,
    bytes: usize,
}

impl LayoutCache {
    pub(crate) fn new() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }

    fn with_capacity(capacity: usize) -> Self {
        LayoutCache {
            kept: Mutex::new(Kept {
                layouts: LruCache::new_unbounded(),
                bytes: 0,
            }),
            capacity,
        }
    }

    /// The parsed form of `layout`, from memory when it was parsed before.
    pub(crate) fn parsed(&self, layout: &[u8]) -> Result<Arc<ParsedLayout>> {
        if let Some(found) = self.lock().layouts.get(layout) {
            return Ok(found.clone());
        }
        // Parsed outside the lock: two readers of a new layout may both parse it; the
        // second insert replaces an equal value.
        let parsed = ParsedLayout::parse(layout)?;
        let held = weight(layout, &parsed);
        if held <= LARGEST_KEPT.min(self.capacity) {
            let mut kept = self.lock();
            if let Some(replaced) = kept.layouts.insert(layout.into(), parsed.clone()) {
                kept.bytes -= weight(layout, &replaced);
            }
            kept.bytes += held;
            while kept.bytes > self.capacity {
                let Some((key, evicted)) = kept.layouts.remove_lru() else {
                    break;
                };
                kept.bytes -= weight(&key, &evicted);
            }
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // The map is consistent after every statement, so a panic elsewhere leaves it usable.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().layouts.len()
    }
}

fn weight(key: &[u8], parsed: &ParsedLayout) -> usize {
    key.len() + parsed.held_bytes()
}

#[cfg(test)]
mod tests;
