//! The writes a domain rename needs (`crate::domain_rename`), each engine's in its
//! `renames.rs`.

use async_trait::async_trait;

use super::RegistryKind;
use crate::error::Result;
use crate::model::{Address, RecordId};

#[async_trait]
pub trait Renames: Send + Sync {
    /// Gives address `renamed.id` its new `address` and `addrview`, keeping its id, user and
    /// details. `AddressError::AlreadyExists` when another address or a forwarded one has
    /// the addrview, `AddressError::NotFound` when there is no such address.
    async fn rename_address(&self, renamed: Address) -> Result<()>;
    /// Moves registry entry `id` of `kind` to `key`, keeping its id and body; `false` (and
    /// nothing changed) when there is no such entry or another entry has `key`.
    async fn rekey_entry(&self, kind: RegistryKind, id: RecordId, key: String) -> Result<bool>;
}
