//! Sets of UIDs.

use serde::{Deserialize, Serialize};

use super::*;

/// A set of UIDs as sorted, non-overlapping inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UidSet {
    ranges: Vec<(Uid, Uid)>,
}

impl UidSet {
    /// Every UID (1 to u32::MAX).
    pub fn all() -> Self {
        Self {
            ranges: vec![(1, Uid::MAX)],
        }
    }

    /// Builds a set from inclusive ranges in any order (reversed ranges are turned round).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (Uid, Uid)>) -> Self {
        let mut ranges: Vec<(Uid, Uid)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(Uid, Uid)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Self { ranges: merged }
    }

    pub fn contains(&self, uid: Uid) -> bool {
        self.ranges
            .binary_search_by(|&(a, b)| {
                if uid < a {
                    std::cmp::Ordering::Greater
                } else if uid > b {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub fn ranges(&self) -> &[(Uid, Uid)] {
        &self.ranges
    }

    /// How many UIDs the set names (present or not).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(first, last)| u64::from(last - first) + 1)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromIterator<Uid> for UidSet {
    fn from_iter<I: IntoIterator<Item = Uid>>(iter: I) -> Self {
        Self::from_ranges(iter.into_iter().map(|u| (u, u)))
    }
}
