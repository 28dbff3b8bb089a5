//! TOTP state on MongoDB (see [`TwoFactor`]): the `totp` collection, `_id` = the user. Each
//! change is one conditional update, so two nodes can not both accept one code. The sealed
//! seed is kept as base64 text: the MongoDB-wire server of the tests fails a `replace_one`
//! holding binary ("Object of type bytes is not JSON serializable").

use super::*;

fn record_of(doc: &Document) -> Result<TotpRecord> {
    let broken = || {
        Error::from(Defect::Malformed {
            what: "totp document",
            detail: format!("{doc}"),
        })
    };
    let sealed_seed = doc
        .get_str("seed")
        .ok()
        .and_then(|text| data_encoding::BASE64.decode(text.as_bytes()).ok())
        .ok_or_else(broken)?;
    // Read as numbers of any width: a server may narrow what fits (the test server keeps
    // `true` as 1 and small 64-bit integers as 32-bit ones).
    let enabled = match doc.get("enabled") {
        Some(Bson::Boolean(enabled)) => *enabled,
        Some(Bson::Int32(flag)) => *flag != 0,
        _ => return Err(broken()),
    };
    let last_step = match doc.get("last_step") {
        None | Some(Bson::Null) => None,
        Some(Bson::Int64(step)) => Some(*step),
        Some(Bson::Int32(step)) => Some(i64::from(*step)),
        Some(_) => return Err(broken()),
    };
    Ok(TotpRecord {
        sealed_seed,
        enabled,
        last_step,
    })
}

#[async_trait]
impl TwoFactor for MongoBackend {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>> {
        let found = self
            .totp
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        found.as_ref().map(record_of).transpose()
    }

    async fn set_pending_totp(&self, user: UserId, sealed_seed: Vec<u8>) -> Result<bool> {
        self.user_doc(user).await?;
        let pending = doc! {
            "_id": ObjectId::from(user),
            "seed": data_encoding::BASE64.encode(&sealed_seed),
            "enabled": false,
            "last_step": Bson::Null,
        };
        // Replaces a pending record, or inserts where there is none; an enabled one stays.
        let replaced = self
            .totp
            .replace_one(
                doc! {"_id": ObjectId::from(user), "enabled": false},
                pending.clone(),
            )
            .await
            .map_err(db_error)?;
        if replaced.matched_count == 1 {
            return Ok(true);
        }
        match self.totp.insert_one(pending).await {
            Ok(_) => Ok(true),
            // The user has an enabled record (or one appeared meanwhile).
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn enable_totp(&self, user: UserId, step: i64) -> Result<bool> {
        let result = self
            .totp
            .update_one(
                doc! {"_id": ObjectId::from(user), "enabled": false},
                doc! {"$set": {"enabled": true, "last_step": step}},
            )
            .await
            .map_err(db_error)?;
        Ok(result.modified_count == 1)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let result = self
            .totp
            .update_one(
                doc! {
                    "_id": ObjectId::from(user),
                    "enabled": true,
                    "$or": [{"last_step": Bson::Null}, {"last_step": {"$lt": step}}],
                },
                doc! {"$set": {"last_step": step}},
            )
            .await
            .map_err(db_error)?;
        Ok(result.modified_count == 1)
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool> {
        let result = self
            .totp
            .delete_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        Ok(result.deleted_count == 1)
    }
}
