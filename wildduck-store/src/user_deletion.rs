//! Deferred user deletion, as WildDuck's `DELETE /users/:user?deleteAfter=…`: the account
//! leaves the registry at once — it no longer logs in, lists or resolves, its addresses are
//! released and receive no mail — while its mailboxes, messages and files stay until the
//! date, when [`Store::purge_deleted_users`] (run periodically by `wildduck serve`) deletes
//! it for good. Until then [`Store::restore_user`] brings it back with every address no one
//! took meanwhile.
//!
//! What was released is kept as an operator record (`RegistryKind::DeletedUser`, keyed by
//! the user id), so both engines keep it without a schema of their own. The user's row
//! stays (messages hang off it); the facade treats a user with such a record as absent.
//! Unlike WildDuck the username stays reserved until the purge, so a restore never meets a
//! new account of the same name.

use serde::{Deserialize, Serialize};

use crate::backend::{RegistryEntry, RegistryKind, now};
use crate::domains::{decode, encode};
use crate::error::{AddressError, Error, RegistryError, Result, UserError};
use crate::model::*;
use crate::profiles::AddressDetails;
use crate::store::Store;

const KIND: RegistryKind = RegistryKind::DeletedUser;

/// What a deferred delete released, kept until the purge or a restore.
#[derive(Debug, Serialize, Deserialize)]
struct DeletedUser {
    username: String,
    deleted_at: Timestamp,
    delete_after: Timestamp,
    task: RecordId,
    storage_used: u64,
    tags: Vec<String>,
    addresses: Vec<ReleasedAddress>,
}

/// An address as it was, id included, so a restore gives back the same record.
#[derive(Debug, Serialize, Deserialize)]
struct ReleasedAddress {
    id: AddressId,
    address: String,
    addrview: String,
    details: AddressDetails,
}

/// The answer to a deferred delete: how many addresses were released, when the data goes,
/// and the id of that task (WildDuck's `task`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionScheduled {
    pub addresses_deleted: usize,
    pub delete_after: Timestamp,
    pub task: RecordId,
}

/// What a restore would bring back (WildDuck's `GET /users/:user/restore`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedUserInfo {
    pub username: String,
    pub storage_used: u64,
    pub tags: Vec<String>,
    pub deleted_at: Timestamp,
    pub delete_after: Timestamp,
    /// The released addresses that are still free (or the user's own).
    pub recoverable_addresses: Vec<String>,
}

/// What a restore brought back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub task: RecordId,
    pub recovered: usize,
    /// The main address after the restore, when any address came back.
    pub main: Option<String>,
}

impl Store {
    /// Takes `user` out of the registry now and deletes their data at `delete_after`.
    pub async fn schedule_user_deletion(
        &self,
        user: UserId,
        delete_after: Timestamp,
    ) -> Result<DeletionScheduled> {
        let record = self.get_user(user).await?;
        let profile = self.user_profile(user).await?;
        let mut addresses = Vec::new();
        for address in self.backend().list_addresses(user).await? {
            let details = self.backend().address_details(address.id).await?;
            addresses.push(ReleasedAddress {
                id: address.id,
                address: address.address,
                addrview: address.addrview,
                details,
            });
        }
        let deleted = DeletedUser {
            username: record.username,
            deleted_at: now(),
            delete_after,
            task: RecordId::new(),
            storage_used: record.storage_used,
            tags: profile.tags,
            addresses,
        };
        let entry = RegistryEntry {
            id: deleted.task,
            key: user.to_string(),
            body: encode(&deleted),
        };
        // The record first: from here on the user is absent, and a crash before the
        // addresses are released leaves them to the purge or the restore.
        if !self.backend().insert_entry(KIND, entry).await? {
            return Err(UserError::NotFound.into());
        }
        for address in &deleted.addresses {
            match self.backend().remove_address(user, &address.addrview).await {
                Ok(()) | Err(Error::Address(AddressError::NotFound)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(DeletionScheduled {
            addresses_deleted: deleted.addresses.len(),
            delete_after,
            task: deleted.task,
        })
    }

    /// Whether `user` is deleted and waiting for the purge.
    pub(crate) async fn is_deleted(&self, user: UserId) -> Result<bool> {
        Ok(self
            .backend()
            .entry_by_key(KIND, &user.to_string())
            .await?
            .is_some())
    }

    /// The users waiting for the purge, for listings to leave out.
    pub(crate) async fn deleted_users(&self) -> Result<Vec<UserId>> {
        let entries = self.backend().list_entries(KIND).await?;
        Ok(entries
            .iter()
            .filter_map(|entry| entry.key.parse().ok().map(UserId))
            .collect())
    }

    pub async fn deleted_user_info(&self, user: UserId) -> Result<DeletedUserInfo> {
        let (_, deleted) = self.deleted_record(user).await?;
        let mut recoverable_addresses = Vec::new();
        for address in &deleted.addresses {
            if self.address_free_for(user, &address.addrview).await? {
                recoverable_addresses.push(address.address.clone());
            }
        }
        Ok(DeletedUserInfo {
            username: deleted.username,
            storage_used: deleted.storage_used,
            tags: deleted.tags,
            deleted_at: deleted.deleted_at,
            delete_after: deleted.delete_after,
            recoverable_addresses,
        })
    }

    /// Cancels a deferred delete: the addresses no one took come back (same ids, same
    /// details), then the user is present again. Safe to repeat after a crash.
    pub async fn restore_user(&self, user: UserId) -> Result<Restored> {
        let (entry, deleted) = self.deleted_record(user).await?;
        let mut recovered = 0;
        for released in deleted.addresses {
            let address = Address {
                id: released.id,
                user,
                address: released.address,
                addrview: released.addrview,
            };
            match self.backend().address_by_view(&address.addrview).await? {
                Some(existing) if existing.user == user => recovered += 1,
                Some(_) => {}
                None => match self.backend().add_address(address.clone()).await {
                    Ok(()) => {
                        self.backend()
                            .set_address_details(address.id, released.details)
                            .await?;
                        recovered += 1;
                    }
                    // Taken in the meantime: WildDuck skips it too.
                    Err(Error::Address(AddressError::AlreadyExists)) => {}
                    Err(err) => return Err(err),
                },
            }
        }
        self.backend().delete_entry(KIND, entry.id).await?;
        let main = self.main_address(user).await?.map(|a| a.address);
        Ok(Restored {
            task: deleted.task,
            recovered,
            main,
        })
    }

    /// Deletes for good every deferred user whose date has come; returns how many.
    pub async fn purge_deleted_users(&self, at: Timestamp) -> Result<usize> {
        let mut purged = 0;
        for entry in self.backend().list_entries(KIND).await? {
            let deleted: DeletedUser = decode(&entry)?;
            if deleted.delete_after > at {
                continue;
            }
            let Ok(user) = entry.key.parse().map(UserId) else {
                continue;
            };
            // The data first, then the record: a crash between leaves a record whose user
            // is gone, which the next round clears.
            match self.delete_user(user).await {
                Ok(()) | Err(Error::User(UserError::NotFound)) => {}
                Err(err) => return Err(err),
            }
            self.backend().delete_entry(KIND, entry.id).await?;
            purged += 1;
        }
        Ok(purged)
    }

    async fn deleted_record(&self, user: UserId) -> Result<(RegistryEntry, DeletedUser)> {
        let entry = self
            .backend()
            .entry_by_key(KIND, &user.to_string())
            .await?
            .ok_or(RegistryError::NotFound(KIND))?;
        let deleted = decode(&entry)?;
        Ok((entry, deleted))
    }

    async fn address_free_for(&self, user: UserId, addrview: &str) -> Result<bool> {
        Ok(self
            .backend()
            .address_by_view(addrview)
            .await?
            .is_none_or(|existing| existing.user == user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    #[tokio::test]
    async fn data_stays_until_the_date_then_the_purge_removes_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let user = store
            .create_user(NewUser {
                username: "paula".into(),
                password: "secret".into(),
                address: Some("paula@example.com".into()),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let at = now() + 3600;
        let scheduled = store.schedule_user_deletion(user.id, at).await.unwrap();
        assert_eq!(scheduled.addresses_deleted, 1);

        // Absent for the facade, kept underneath.
        assert!(matches!(
            store.get_user(user.id).await,
            Err(Error::User(UserError::NotFound))
        ));
        assert!(store.list_users().await.unwrap().is_empty());
        assert!(store.backend().user_by_id(user.id).await.unwrap().is_some());
        assert!(!store.list_mailboxes(user.id).await.unwrap().is_empty());

        assert_eq!(store.purge_deleted_users(at - 1).await.unwrap(), 0);
        assert!(store.backend().user_by_id(user.id).await.unwrap().is_some());
        assert_eq!(store.purge_deleted_users(at).await.unwrap(), 1);
        assert!(store.backend().user_by_id(user.id).await.unwrap().is_none());
        assert!(matches!(
            store.list_mailboxes(user.id).await,
            Err(Error::User(UserError::NotFound))
        ));
        assert_eq!(store.purge_deleted_users(at).await.unwrap(), 0);
        assert!(matches!(
            store.restore_user(user.id).await,
            Err(Error::Registry(RegistryError::NotFound(KIND)))
        ));
        // The username is free again once the data is gone.
        store
            .create_user(NewUser {
                username: "paula".into(),
                password: "secret".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
}
