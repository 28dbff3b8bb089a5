//! The documents of each collection and their conversion to and from the model.
//!
//! Integers the model keeps unsigned are stored as `Int64` (BSON has no unsigned types);
//! hashes are lower-case hex strings, so every query is a plain string equality or `$in`.

use mongodb::bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use serde::{Deserialize, Serialize};

use crate::backend::{AspRecord, UserRecord, now};
use crate::error::{Defect, Result, StorageError, StorageErrorKind};
use crate::model::*;

pub use mongodb::bson::oid::ObjectId;

// The model's ids are stored as ObjectIds: the same 12 bytes, so ids keep their creation
// order in the database. This is the only place the two meet.
macro_rules! object_id_conversions {
    ($($id:ident),*) => {$(
        impl From<$id> for ObjectId {
            fn from(id: $id) -> Self {
                ObjectId::from_bytes(id.0.bytes())
            }
        }

        impl From<ObjectId> for $id {
            fn from(id: ObjectId) -> Self {
                $id(RecordId::from_bytes(id.bytes()))
            }
        }
    )*};
}
object_id_conversions!(
    UserId, AddressId, MailboxId, MessageId, AspId, OutboundId, FileId, FilterId, JournalId
);

/// `users`: one per account. `storage_used` moves only by guarded `$inc`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    pub unameview: String,
    pub password: String,
    pub quota: Option<i64>,
    pub storage_used: i64,
    #[serde(deserialize_with = "lenient_bool")]
    pub disabled: bool,
    pub created: i64,
    // Absent from documents written before issue 22.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub suspended: bool,
    #[serde(default)]
    pub disabled_scopes: Vec<Scope>,
}

impl UserDoc {
    pub fn from_record(record: &UserRecord) -> Self {
        let user = &record.user;
        UserDoc {
            id: ObjectId::from(user.id),
            username: user.username.clone(),
            unameview: record.unameview.clone(),
            password: record.password_hash.clone(),
            quota: user.quota.map(|q| q.min(i64::MAX as u64) as i64),
            storage_used: user.storage_used as i64,
            disabled: user.disabled,
            created: user.created,
            suspended: user.suspended,
            disabled_scopes: user.disabled_scopes.clone(),
        }
    }

    pub fn into_record(self) -> UserRecord {
        UserRecord {
            user: User {
                id: UserId::from(self.id),
                username: self.username,
                quota: self.quota.map(|q| q.max(0) as u64),
                storage_used: self.storage_used.max(0) as u64,
                disabled: self.disabled,
                created: self.created,
                suspended: self.suspended,
                disabled_scopes: self.disabled_scopes,
            },
            unameview: self.unameview,
            password_hash: self.password,
        }
    }
}

/// `asps`: application-specific passwords, indexed by `(user, selector)`. Times are seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AspDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user: ObjectId,
    pub selector: String,
    pub password: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    pub ttl: Option<i64>,
    pub expires: Option<i64>,
    pub created: i64,
    pub last_use: Option<AspUse>,
}

impl From<&AspRecord> for AspDoc {
    fn from(record: &AspRecord) -> Self {
        let asp = &record.asp;
        AspDoc {
            id: ObjectId::from(asp.id),
            user: ObjectId::from(asp.user),
            selector: record.selector.clone(),
            password: record.password_hash.clone(),
            description: asp.description.clone(),
            scopes: asp.scopes.clone(),
            ttl: asp.ttl.map(|ttl| ttl.min(i64::MAX as u64) as i64),
            expires: asp.expires,
            created: asp.created,
            last_use: asp.last_use.clone(),
        }
    }
}

impl From<AspDoc> for AspRecord {
    fn from(d: AspDoc) -> Self {
        AspRecord {
            asp: Asp {
                id: AspId::from(d.id),
                user: UserId::from(d.user),
                description: d.description,
                scopes: d.scopes,
                ttl: d.ttl.map(|ttl| ttl.max(0) as u64),
                expires: d.expires,
                created: d.created,
                last_use: d.last_use,
            },
            selector: d.selector,
            password_hash: d.password,
        }
    }
}

/// `addresses`: unique `addrview`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddressDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user: ObjectId,
    pub address: String,
    pub addrview: String,
}

impl From<&Address> for AddressDoc {
    fn from(a: &Address) -> Self {
        AddressDoc {
            id: ObjectId::from(a.id),
            user: ObjectId::from(a.user),
            address: a.address.clone(),
            addrview: a.addrview.clone(),
        }
    }
}

impl From<AddressDoc> for Address {
    fn from(d: AddressDoc) -> Self {
        Address {
            id: AddressId::from(d.id),
            user: UserId::from(d.user),
            address: d.address,
            addrview: d.addrview,
        }
    }
}

/// `mailboxes`: unique `(user, path)`. `uidnext` and `modseq` are *allocation* counters
/// (advanced by `$inc` before the change is written); `pending` maps each in-flight
/// operation's token to the highest MODSEQ known committed when it started (its floor).
/// See the module docs of `sequence` for how readers derive the committed horizon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MailboxDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user: ObjectId,
    pub path: String,
    pub special_use: Option<String>,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub modseq: i64,
    #[serde(default)]
    pub pending: Document,
    #[serde(default)]
    pub journal_floor: i64,
    #[serde(deserialize_with = "lenient_bool")]
    pub subscribed: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub hidden: bool,
    /// Milliseconds, as WildDuck keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<i64>,
}

impl MailboxDoc {
    pub fn new(
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
        uidvalidity: u32,
    ) -> Self {
        MailboxDoc {
            id: ObjectId::new(),
            user: ObjectId::from(user),
            path: path.to_string(),
            special_use: special_use.map(|u| u.attribute().to_string()),
            uidvalidity: uidvalidity as i64,
            uidnext: 1,
            modseq: 0,
            pending: Document::new(),
            journal_floor: 0,
            subscribed: true,
            hidden: false,
            retention: None,
        }
    }

    /// The model's view: `highest_modseq` is the committed horizon, not the allocation
    /// counter, so a reader never announces a MODSEQ whose change is still being written.
    pub fn to_model(&self) -> Mailbox {
        Mailbox {
            id: MailboxId::from(self.id),
            user: UserId::from(self.user),
            path: self.path.clone(),
            special_use: self
                .special_use
                .as_deref()
                .and_then(SpecialUse::from_attribute),
            uidvalidity: self.uidvalidity as u32,
            uidnext: self.uidnext.clamp(1, u32::MAX as i64) as u32,
            highest_modseq: self.horizon(),
            subscribed: self.subscribed,
            hidden: self.hidden,
            retention: self.retention.map(|ms| ms.max(0) as u64),
        }
    }

    /// The highest MODSEQ below which every allocated MODSEQ has committed (or was abandoned).
    pub fn horizon(&self) -> ModSeq {
        let lowest_floor = self
            .pending
            .iter()
            .filter_map(|(_, floor)| bson_int(floor))
            .min();
        let horizon = match lowest_floor {
            Some(floor) => floor.min(self.modseq),
            None => self.modseq,
        };
        horizon.max(0) as u64
    }
}

/// `messages`: unique `(mailbox, uid)`. `added` is the MODSEQ at which the message entered
/// this mailbox (snapshots show it only once that MODSEQ is committed); `expunged` marks a
/// message whose removal is in flight (the document goes once the removal has committed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub mailbox: ObjectId,
    pub user: ObjectId,
    pub uid: i64,
    pub modseq: i64,
    pub added: i64,
    #[serde(default)]
    pub expunged: Option<i64>,
    pub flags: Vec<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub seen: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub deleted: bool,
    pub idate: i64,
    pub hdate: Option<i64>,
    pub size: i64,
    pub msgid: Option<String>,
    pub subject: Option<String>,
    pub envelope: Document,
    pub bodystructure: Document,
    pub layout: Binary,
    pub layout_len: i64,
    /// Blob hashes (hex) in layout order; one reference each.
    pub blobs: Vec<String>,
    pub search_headers: String,
    pub search_body: String,
    /// Seconds; the retention sweep expunges the message after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    /// The id the message had when first stored, on copies and moves; absent means `_id`
    /// (`MessageMeta::email_id`), so older documents need no migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<ObjectId>,
    /// Seconds; when the message was saved into this mailbox (`MessageMeta::saved`), absent
    /// on documents written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<i64>,
}

impl MessageDoc {
    /// `MessageMeta::email_id` of this document.
    pub fn email_id(&self) -> ObjectId {
        self.email_id.unwrap_or(self.id)
    }
}

/// `MessageMeta::email_id` of a raw message document (its `email_id`, else its `_id`).
pub fn email_id_of(m: &Document) -> Result<MessageId> {
    let id = match m.get_object_id("email_id") {
        Ok(id) => id,
        Err(_) => m.get_object_id("_id").map_err(super::field_error)?,
    };
    Ok(MessageId::from(id))
}

pub fn flags_to_strings(flags: &Flags) -> Vec<String> {
    flags.iter().map(|f| f.to_string()).collect()
}

pub fn flags_from_strings(list: &[String]) -> Flags {
    list.iter().map(|s| Flag::parse(s)).collect()
}

/// `$set` fields that give a message these flags.
pub fn flag_fields(flags: &Flags) -> Document {
    doc! {
        "flags": flags_to_strings(flags),
        "seen": flags.contains(&Flag::Seen),
        "deleted": flags.contains(&Flag::Deleted),
    }
}

pub fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

pub fn to_document<T: Serialize>(value: &T) -> Result<Document> {
    mongodb::bson::serialize_to_document(value)
        .map_err(|e| StorageError::new(StorageErrorKind::Internal, e).into())
}

pub fn from_document<T: serde::de::DeserializeOwned>(doc: Document) -> Result<T> {
    mongodb::bson::deserialize_from_document(doc)
        .map_err(|e| StorageError::new(StorageErrorKind::Corrupt, e).into())
}

/// A boolean as stored, or as 0/1: nx-27017 hands back booleans set by `$set` as integers.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Bson::deserialize(deserializer)? {
        Bson::Boolean(b) => Ok(b),
        other => bson_int(&other).map(|i| i != 0).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a boolean, found {other:?}"))
        }),
    }
}

/// A boolean field stored as a boolean or as 0/1 (missing = false).
pub fn bool_field(doc: &Document, key: &str) -> bool {
    match doc.get(key) {
        Some(Bson::Boolean(b)) => *b,
        Some(other) => bson_int(other).is_some_and(|i| i != 0),
        None => false,
    }
}

/// An integer field however the server chose to encode it.
pub fn bson_int(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(*v as i64),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

pub fn int_field(doc: &Document, key: &str) -> Result<i64> {
    doc.get(key).and_then(bson_int).ok_or_else(|| {
        Defect::Malformed {
            what: "record",
            detail: format!("no integer field {key}"),
        }
        .into()
    })
}

/// `journal`: one entry per message per change, read by `changes_since`.
pub const KIND_EXISTS: i32 = 1;
pub const KIND_EXPUNGE: i32 = 2;
pub const KIND_FLAGS: i32 = 3;

pub fn journal_entry(
    mailbox: MailboxId,
    modseq: ModSeq,
    uid: Uid,
    kind: i32,
    flags: Option<&Flags>,
) -> Document {
    doc! {
        "mailbox": ObjectId::from(mailbox),
        "modseq": modseq as i64,
        "uid": uid as i64,
        "kind": kind,
        "flags": flags.map(flags_to_strings),
        "created": now(),
    }
}

pub fn change_from_entry(entry: &Document) -> Result<Change> {
    let kind = match int_field(entry, "kind")? as i32 {
        KIND_EXISTS => ChangeKind::Exists,
        KIND_EXPUNGE => ChangeKind::Expunge,
        _ => ChangeKind::Flags(flags_from_strings(&string_list(entry, "flags"))),
    };
    Ok(Change {
        modseq: int_field(entry, "modseq")? as u64,
        uid: int_field(entry, "uid")? as u32,
        kind,
    })
}

/// Filter value matching a field that holds `id`. A one-element `$in`, which MongoDB plans
/// exactly like an equality, because nx-27017 (the CI server) does not match plain ObjectId
/// equality on fields other than `_id`.
pub fn id_is(id: impl Into<ObjectId>) -> Document {
    doc! {"$in": [id.into()]}
}

/// The strings of an array field (missing or null = empty).
pub fn string_list(doc: &Document, key: &str) -> Vec<String> {
    doc.get_array(key)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
