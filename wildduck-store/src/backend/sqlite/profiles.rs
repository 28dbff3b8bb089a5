//! Profiles, temporary passwords, address details and forwarded addresses on SQLite (see
//! [`Profiles`]): `user_profiles` and `address_details` hold JSON beside their owner's id
//! (triggers remove them with the owner), `forwarded_addresses` a JSON record beside its
//! unique addrview. A forwarded address and a user's address are checked against each other
//! inside the same write unit, so no two can share an addrview.

use super::*;
use crate::profiles::{AddressDetails, ForwardedAddress, TempPassword, UserProfile};

fn forwarded_from_row(row: &Row) -> rusqlite::Result<String> {
    row.get(0)
}

fn addrview_taken(tx: &Connection, addrview: &str, except: Option<AddressId>) -> TxResult<bool> {
    let except = except.map(|id| id_bytes(id.0).to_vec()).unwrap_or_default();
    Ok(tx
        .query_row(
            "SELECT 1 FROM addresses WHERE addrview = ?1
             UNION ALL SELECT 1 FROM forwarded_addresses WHERE addrview = ?1 AND id != ?2",
            params![addrview, except],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

#[async_trait]
impl Profiles for SqliteBackend {
    async fn user_profile(&self, user: UserId) -> Result<UserProfile> {
        self.read_small(move |tx| {
            let text: Option<String> = tx
                .prepare_cached("SELECT profile FROM user_profiles WHERE user = ?1")?
                .query_row([id_bytes(user.0)], |r| r.get(0))
                .optional()?;
            text.map_or_else(|| Ok(UserProfile::default()), |t| from_json(&t))
        })
        .await
    }

    async fn set_user_profile(&self, user: UserId, profile: UserProfile) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, user)?;
            tx.execute(
                "INSERT INTO user_profiles (user, profile) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET profile = excluded.profile",
                params![id_bytes(user.0), to_json(&profile)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn temp_password(&self, user: UserId) -> Result<Option<TempPassword>> {
        self.read_small(move |tx| {
            let text: Option<Option<String>> = tx
                .prepare_cached("SELECT temp_password FROM user_profiles WHERE user = ?1")?
                .query_row([id_bytes(user.0)], |r| r.get(0))
                .optional()?;
            text.flatten().map(|t| from_json(&t)).transpose()
        })
        .await
    }

    async fn set_temp_password(&self, user: UserId, temp: Option<TempPassword>) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, user)?;
            let text = temp.as_ref().map(to_json).transpose()?;
            tx.execute(
                "INSERT INTO user_profiles (user, temp_password) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET temp_password = excluded.temp_password",
                params![id_bytes(user.0), text],
            )?;
            Ok(())
        })
        .await
    }

    async fn address_details(&self, address: AddressId) -> Result<AddressDetails> {
        self.read_small(move |tx| {
            let text: Option<String> = tx
                .prepare_cached("SELECT details FROM address_details WHERE address = ?1")?
                .query_row([id_bytes(address.0)], |r| r.get(0))
                .optional()?;
            text.map_or_else(|| Ok(AddressDetails::default()), |t| from_json(&t))
        })
        .await
    }

    async fn set_address_details(&self, address: AddressId, details: AddressDetails) -> Result<()> {
        self.write(move |tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM addresses WHERE id = ?1",
                    [id_bytes(address.0)],
                    |_| Ok(()),
                )
                .optional()?;
            if exists.is_none() {
                return Err(AddressError::NotFound.into());
            }
            tx.execute(
                "INSERT INTO address_details (address, details) VALUES (?1, ?2)
                 ON CONFLICT (address) DO UPDATE SET details = excluded.details",
                params![id_bytes(address.0), to_json(&details)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_forwarded(&self, forwarded: ForwardedAddress) -> Result<()> {
        self.write(move |tx| {
            if addrview_taken(tx, &forwarded.addrview, None)? {
                return Err(AddressError::AlreadyExists.into());
            }
            tx.execute(
                "INSERT INTO forwarded_addresses (id, addrview, record) VALUES (?1, ?2, ?3)",
                params![
                    id_bytes(forwarded.id.0),
                    forwarded.addrview,
                    to_json(&forwarded)?
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn forwarded_by_id(&self, id: AddressId) -> Result<Option<ForwardedAddress>> {
        self.read_small(move |tx| {
            tx.prepare_cached("SELECT record FROM forwarded_addresses WHERE id = ?1")?
                .query_row([id_bytes(id.0)], forwarded_from_row)
                .optional()?
                .map(|t| from_json(&t))
                .transpose()
        })
        .await
    }

    async fn forwarded_by_view(&self, addrview: &str) -> Result<Option<ForwardedAddress>> {
        let addrview = addrview.to_string();
        self.read_small(move |tx| {
            tx.prepare_cached("SELECT record FROM forwarded_addresses WHERE addrview = ?1")?
                .query_row([addrview], forwarded_from_row)
                .optional()?
                .map(|t| from_json(&t))
                .transpose()
        })
        .await
    }

    async fn list_forwarded(&self) -> Result<Vec<ForwardedAddress>> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT record FROM forwarded_addresses ORDER BY id")?;
            let texts = stmt
                .query_map([], forwarded_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            texts.iter().map(|t| from_json(t)).collect()
        })
        .await
    }

    async fn update_forwarded(&self, forwarded: ForwardedAddress) -> Result<()> {
        self.write(move |tx| {
            if addrview_taken(tx, &forwarded.addrview, Some(forwarded.id))? {
                return Err(AddressError::AlreadyExists.into());
            }
            let changed = tx.execute(
                "UPDATE forwarded_addresses SET addrview = ?2, record = ?3 WHERE id = ?1",
                params![
                    id_bytes(forwarded.id.0),
                    forwarded.addrview,
                    to_json(&forwarded)?
                ],
            )?;
            if changed == 0 {
                return Err(AddressError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn delete_forwarded(&self, id: AddressId) -> Result<()> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM forwarded_addresses WHERE id = ?1",
                [id_bytes(id.0)],
            )?;
            if removed == 0 {
                return Err(AddressError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn recount_storage(&self, user: UserId) -> Result<(u64, u64)> {
        // One write unit: no append can slip between the count and the update.
        self.write(move |tx| {
            let previous = get_user(tx, user)?.user.storage_used;
            let counted: i64 = tx.query_row(
                "SELECT coalesce(sum(size), 0) FROM messages WHERE user = ?1",
                [id_bytes(user.0)],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE users SET storage_used = ?2 WHERE id = ?1",
                params![id_bytes(user.0), counted],
            )?;
            Ok((previous, counted.max(0) as u64))
        })
        .await
    }
}
