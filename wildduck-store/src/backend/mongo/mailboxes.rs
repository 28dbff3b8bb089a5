//! Mailboxes (see [`Mailboxes`]): the tree, subscriptions, the \Recent marker, STATUS.

use super::*;

#[async_trait]
impl Mailboxes for MongoBackend {
    async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.user_doc(user).await?;
        let docs: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        // Sorted here by byte order of the path, as SQLite's ORDER BY path does.
        let mut list: Vec<Mailbox> = docs.iter().map(MailboxDoc::to_model).collect();
        list.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(list)
    }

    async fn mailbox_by_path(&self, user: UserId, path: &str) -> Result<Option<Mailbox>> {
        Ok(self
            .mailboxes
            .find_one(doc! {"user": id_is(user), "path": path})
            .await
            .map_err(db_error)?
            .map(|d| d.to_model()))
    }

    async fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<Option<Mailbox>> {
        Ok(self
            .mailboxes
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .await
            .map_err(db_error)?
            .map(|d| d.to_model()))
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        parents: Vec<String>,
        mailbox: NewMailbox,
    ) -> Result<Mailbox> {
        self.user_doc(user).await?;
        if self.path_exists(user, &mailbox.path).await? {
            return Err(MailboxError::AlreadyExists.into());
        }
        self.create_missing(user, &parents, mailbox.subscribed)
            .await?;
        let created = self.insert_mailbox(user, &mailbox).await?.to_model();
        self.log_event(&crate::events::mailbox_created(
            user,
            created.id,
            &created.path,
        ))
        .await?;
        Ok(created)
    }

    async fn rename_mailbox_tree(
        &self,
        user: UserId,
        from: &str,
        to: &str,
        to_parents: Vec<String>,
    ) -> Result<()> {
        self.user_doc(user).await?;
        if !self.path_exists(user, from).await? {
            return Err(MailboxError::NotFound.into());
        }
        let prefix = format!("{from}/");
        let all: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        let renamed: Vec<(ObjectId, String, String)> = all
            .into_iter()
            .filter(|m| m.path == from || m.path.starts_with(&prefix))
            .map(|m| {
                let new_path = format!("{to}{}", &m.path[from.len()..]);
                (m.id, m.path, new_path)
            })
            .collect();
        for (_, _, new_path) in &renamed {
            if self.path_exists(user, new_path).await? {
                return Err(MailboxError::AlreadyExists.into());
            }
        }
        for (done, (id, _, new_path)) in renamed.iter().enumerate() {
            let result = self
                .mailboxes
                .update_one(doc! {"_id": id}, doc! {"$set": {"path": new_path}})
                .await;
            if let Err(e) = result {
                // Put back what moved already, so the tree is never half renamed.
                for (id, old_path, _) in &renamed[..done] {
                    let _ = self
                        .mailboxes
                        .update_one(doc! {"_id": id}, doc! {"$set": {"path": old_path}})
                        .await;
                }
                return Err(if is_duplicate_key(&e) {
                    MailboxError::AlreadyExists.into()
                } else {
                    db_error(e)
                });
            }
        }
        if let Some((id, _, _)) = renamed.iter().find(|(_, old_path, _)| old_path == from) {
            let event = crate::events::mailbox_renamed(user, MailboxId::from(*id), from, to);
            self.log_event(&event).await?;
        }
        self.create_missing(user, &to_parents, true).await
    }

    async fn delete_mailbox(&self, mailbox: MailboxId) -> Result<Vec<Wake>> {
        let record = self.mailbox_doc(mailbox).await?;
        self.drop_mailbox(&record, true).await?;
        let user = UserId::from(record.user);
        self.log_event(&crate::events::mailbox_deleted(user, mailbox, &record.path))
            .await?;
        Ok(vec![Wake {
            user: UserId::from(record.user),
            mailbox,
            modseq: record.modseq as u64 + 1,
        }])
    }

    async fn set_subscribed(&self, mailbox: MailboxId, subscribed: bool) -> Result<()> {
        let result = self
            .mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$set": {"subscribed": subscribed}},
            )
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(MailboxError::NotFound.into());
        }
        Ok(())
    }

    async fn claim_recent(&self, mailbox: MailboxId, up_to: Uid) -> Result<Uid> {
        // `$max` on one document is atomic; the document as it was tells what this claim won.
        let before = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one_and_update(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$max": {RECENT_MARKER: i64::from(up_to)}},
            )
            .projection(doc! {RECENT_MARKER: 1})
            .return_document(ReturnDocument::Before)
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        Ok(recent_marker_of(&before))
    }

    async fn recent_marker(&self, mailbox: MailboxId) -> Result<Uid> {
        let record = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .projection(doc! {RECENT_MARKER: 1})
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        Ok(recent_marker_of(&record))
    }

    async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let mut cursor = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox)})
            .projection(doc! {"added": 1, "expunged": 1, "seen": 1, "size": 1})
            .await
            .map_err(db_error)?;
        let (mut messages, mut unseen, mut size) = (0u32, 0u32, 0u64);
        while let Some(m) = cursor.try_next().await.map_err(db_error)? {
            if visible_at(
                int_field(&m, "added")?,
                optional_int(&m, "expunged"),
                horizon,
            ) {
                messages += 1;
                unseen += u32::from(!bool_field(&m, "seen"));
                size += int_field(&m, "size")?.max(0) as u64;
            }
        }
        let model = record.to_model();
        Ok(MailboxStatus {
            messages,
            unseen,
            uidnext: model.uidnext,
            uidvalidity: model.uidvalidity,
            highest_modseq: horizon,
            size,
        })
    }

    async fn quota_of_mailbox(&self, mailbox: MailboxId) -> Result<(u64, Option<u64>)> {
        let record = self.mailbox_doc(mailbox).await?;
        let user = self
            .user_doc(UserId::from(record.user))
            .await?
            .into_record()
            .user;
        Ok((user.storage_used, user.quota))
    }
}

impl MongoBackend {
    pub(super) async fn insert_mailbox(
        &self,
        user: UserId,
        new: &NewMailbox,
    ) -> Result<MailboxDoc> {
        let mut doc = MailboxDoc::new(
            user,
            &new.path,
            new.special_use,
            self.next_uidvalidity().await?,
        );
        doc.subscribed = new.subscribed;
        doc.hidden = new.settings.hidden;
        doc.retention = new
            .settings
            .retention
            .map(|ms| ms.min(i64::MAX as u64) as i64);
        match self.mailboxes.insert_one(&doc).await {
            Ok(_) => Ok(doc),
            Err(e) if is_duplicate_key(&e) => Err(MailboxError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn create_missing(&self, user: UserId, paths: &[String], subscribed: bool) -> Result<()> {
        for path in paths {
            let new = NewMailbox {
                path: path.clone(),
                special_use: None,
                subscribed,
                settings: MailboxSettings::default(),
            };
            match self.insert_mailbox(user, &new).await {
                Ok(_) | Err(Error::Mailbox(MailboxError::AlreadyExists)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn path_exists(&self, user: UserId, path: &str) -> Result<bool> {
        Ok(self
            .mailboxes
            .find_one(doc! {"user": id_is(user), "path": path})
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Deletes a mailbox document, then its messages (releasing blobs and, when
    /// `release_quota`, the owner's quota) and its journal.
    pub(super) async fn drop_mailbox(
        &self,
        mailbox: &MailboxDoc,
        release_quota: bool,
    ) -> Result<()> {
        let deleted = self
            .mailboxes
            .delete_one(doc! {"_id": mailbox.id})
            .await
            .map_err(db_error)?;
        if deleted.deleted_count == 0 {
            return Err(MailboxError::NotFound.into());
        }
        let messages: Vec<Removal> = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox.id)})
            .projection(doc! {"_id": 1, "size": 1, "blobs": 1})
            .all()
            .await?
            .iter()
            .map(removal_from_doc)
            .collect::<Result<_>>()?;
        let owner = release_quota.then_some(UserId::from(mailbox.user));
        self.remove_messages(&messages, owner).await?;
        self.journal
            .delete_many(doc! {"mailbox": id_is(mailbox.id)})
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

/// The mailbox field holding the recent marker (absent until a session claims).
const RECENT_MARKER: &str = "recent_uid";

fn recent_marker_of(mailbox: &Document) -> Uid {
    optional_int(mailbox, RECENT_MARKER).map_or(0, |uid| uid.clamp(0, i64::from(Uid::MAX)) as Uid)
}
