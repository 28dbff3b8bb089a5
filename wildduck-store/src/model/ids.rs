//! Record ids (the store's own, laid out as MongoDB's ObjectId) and the typed ids
//! and counters built on them.

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A 12-byte record id, the same on every engine: 4 bytes of seconds since the epoch
/// (big-endian), 5 random bytes per process and a 3-byte counter, the layout of MongoDB's
/// ObjectId, so ids sort by creation time. Shown as 24 lower-case hex digits, as WildDuck's
/// API shows ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 12]);

impl RecordId {
    /// A fresh id: now, this process, the next count.
    pub fn new() -> Self {
        static PROCESS: LazyLock<[u8; 5]> = LazyLock::new(rand::random);
        static COUNTER: LazyLock<AtomicU32> = LazyLock::new(|| AtomicU32::new(rand::random()));
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as u32);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..9].copy_from_slice(&*PROCESS);
        bytes[9..].copy_from_slice(&count[1..]);
        Self(bytes)
    }

    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    pub const fn bytes(self) -> [u8; 12] {
        self.0
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// Text that is not 24 hex digits, given where an id was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (24 hex digits): {0:?}")]
pub struct InvalidRecordId(pub String);

impl std::str::FromStr for RecordId {
    type Err = InvalidRecordId;
    /// Reads 24 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidRecordId(s.to_string());
        if s.len() != 24 {
            return Err(invalid());
        }
        let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        let mut bytes = [0u8; 12];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks(2)) {
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(high, low)| high << 4 | low)
                .ok_or_else(invalid)?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub RecordId);

        impl $name {
            pub fn new() -> Self {
                Self(RecordId::new())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidRecordId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies an e-mail address record.
    AddressId
);
id_type!(
    /// Identifies an application-specific password.
    AspId
);
id_type!(
    /// Identifies a mailbox (folder).
    MailboxId
);
id_type!(
    /// Identifies one stored message (one copy in one mailbox).
    MessageId
);
id_type!(
    /// Identifies one entry of the outbound queue.
    OutboundId
);
id_type!(
    /// Identifies a file a user stored (WildDuck's storage: attachments for drafts).
    FileId
);

id_type!(
    /// Identifies a user's delivery filter.
    FilterId
);

/// A message's unique id within its mailbox (RFC 3501 UID). Never 0, never reused.
pub type Uid = u32;
/// A modification sequence number (RFC 7162). Strictly increasing per mailbox.
pub type ModSeq = u64;
/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn record_ids_show_as_24_lower_case_hex_and_read_back() {
        let id = RecordId::from_bytes([0x65, 0x4a, 0, 1, 0xab, 0xcd, 0xef, 2, 3, 4, 5, 0xff]);
        assert_eq!(id.to_string(), "654a0001abcdef02030405ff");
        assert_eq!("654A0001ABCDEF02030405FF".parse::<RecordId>(), Ok(id));
        let user = UserId(id);
        assert_eq!(user.to_string().parse::<UserId>(), Ok(user));
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            "\"654a0001abcdef02030405ff\""
        );
        assert_eq!(
            serde_json::from_str::<UserId>("\"654a0001abcdef02030405ff\"").unwrap(),
            user
        );
    }

    #[test]
    fn text_that_is_not_an_id_is_refused() {
        for bad in [
            "",
            "654a0001abcdef02030405f",
            "654a0001abcdef02030405fff",
            "654a0001abcdef02030405fg",
            "+54a0001abcdef02030405ff",
            "654a0001abcdef02030405é",
        ] {
            assert_eq!(
                bad.parse::<RecordId>(),
                Err(InvalidRecordId(bad.to_string()))
            );
        }
        assert!(serde_json::from_str::<MailboxId>("\"nope\"").is_err());
    }

    #[test]
    fn new_ids_start_with_the_time_and_sort_by_creation() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ids: Vec<RecordId> = (0..1000).map(|_| RecordId::new()).collect();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = |id: &RecordId| u32::from_be_bytes(id.bytes()[..4].try_into().unwrap());
        assert!(
            ids.iter()
                .all(|id| (before..=after).contains(&(seconds(id) as u64)))
        );
        // The process part is the same for all; the counter tells them apart in order
        // (unless it wrapped past 2^24 within this run, which 1000 ids can do only at the end).
        assert!(
            ids.iter()
                .all(|id| id.bytes()[4..9] == ids[0].bytes()[4..9])
        );
        let ordered = ids.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!(
            ordered >= ids.len() - 2,
            "only {ordered} of {} in order",
            ids.len() - 1
        );
        let distinct: BTreeSet<RecordId> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
