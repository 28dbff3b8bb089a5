//! The single-document steps a change of messages is made of, in the order that keeps every
//! reader right (see the module comment of `mongo`): quota reserved before, messages marked
//! expunged and journalled, then removed, and the undo of a step that failed.

use super::*;
use crate::message_rules::flags::{FlagChange, flag_change};
use crate::message_rules::quota::check_quota;

/// A message document about to go: what releasing it needs.
pub(super) struct Removal {
    pub(super) id: ObjectId,
    pub(super) size: i64,
    pub(super) blobs: Vec<String>,
}

impl From<&MessageDoc> for Removal {
    fn from(m: &MessageDoc) -> Self {
        Removal {
            id: m.id,
            size: m.size,
            blobs: m.blobs.clone(),
        }
    }
}

pub(super) fn removal_from_doc(doc: &Document) -> Result<Removal> {
    Ok(Removal {
        id: doc.get_object_id("_id").map_err(field_error)?,
        size: int_field(doc, "size")?,
        blobs: string_list(doc, "blobs"),
    })
}

impl MongoBackend {
    /// Takes `needed` bytes of the user's quota in one guarded `$inc`: the quota rule
    /// (`check_quota`) decides on the counters just read, and the filter names that quota
    /// and requires `storage_used ≤ quota − needed`, so concurrent reservations can never
    /// overshoot; a quota changed meanwhile makes us re-read.
    pub(super) async fn reserve_quota(&self, user: UserId, needed: u64) -> Result<()> {
        let needed_i = needed.min(i64::MAX as u64) as i64;
        loop {
            let record = self.user_doc(user).await?;
            let filter = match record.quota {
                None => doc! {"_id": ObjectId::from(user), "quota": Bson::Null},
                Some(quota) => {
                    let used = record.storage_used.max(0) as u64;
                    check_quota(used, Some(quota.max(0) as u64), needed)?;
                    doc! {
                    "_id": ObjectId::from(user),
                    "quota": quota,
                        "storage_used": {"$lte": quota - needed_i},
                    }
                }
            };
            let reserved = self
                .users
                .update_one(filter, doc! {"$inc": {"storage_used": needed_i}})
                .await
                .map_err(db_error)?;
            if reserved.matched_count == 1 {
                return Ok(());
            }
            telemetry::transaction_retry(Engine::Mongodb, Access::Write);
        }
    }

    /// Moves `storage_used` by `delta`. Used after the change it accounts for (or to undo a
    /// reservation); a failure leaves drift for `verify`, so it is logged, not returned.
    pub(super) async fn add_storage(&self, user: UserId, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Err(e) = self
            .users
            .update_one(
                doc! {"_id": ObjectId::from(user)},
                doc! {"$inc": {"storage_used": delta}},
            )
            .await
        {
            tracing::warn!(%user, delta, error = %e, "could not adjust storage_used");
        }
    }

    /// Deletes message documents; whoever deletes a document releases its blobs (and quota
    /// of `quota_owner`), so two removers never release twice. Returns the deleted ones' ids.
    pub(super) async fn remove_messages(
        &self,
        victims: &[Removal],
        quota_owner: Option<UserId>,
    ) -> Result<Vec<ObjectId>> {
        let mut freed = 0i64;
        let mut gone = Vec::with_capacity(victims.len());
        let mut failure = None;
        for victim in victims {
            match self.messages.delete_one(doc! {"_id": victim.id}).await {
                Ok(r) if r.deleted_count == 1 => {
                    self.release_blobs(&victim.blobs).await;
                    freed += victim.size;
                    gone.push(victim.id);
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(db_error(e));
                    break;
                }
            }
        }
        if let Some(owner) = quota_owner {
            self.add_storage(owner, -freed).await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(gone),
        }
    }

    /// The full documents of the messages of `uids` not being removed, in UID order.
    pub(super) async fn messages_in(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
    ) -> Result<Vec<MessageDoc>> {
        find_in_set(&self.messages, mailbox, uids, None).await
    }

    pub(super) async fn insert_journal(&self, entries: Vec<Document>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.journal.insert_many(entries).await.map_err(db_error)?;
        Ok(())
    }

    /// Gives back what an operation took before it failed: the pending MODSEQ (left as a
    /// gap), its journal entries, the documents it inserted, their blobs and quota.
    pub(super) async fn undo(
        &self,
        allocation: Option<&Allocation>,
        inserted: &[Removal],
        not_inserted_blobs: &[String],
        quota: Option<(UserId, i64)>,
    ) {
        if let Some(allocation) = allocation {
            let entries = doc! {
                "mailbox": id_is(allocation.mailbox),
                "modseq": allocation.modseq as i64,
            };
            if let Err(e) = self.journal.delete_many(entries).await {
                tracing::warn!(error = %e, "could not remove journal entries of a failed change");
            }
        }
        let removed = self
            .remove_messages(inserted, None)
            .await
            .unwrap_or_default();
        self.release_blobs(not_inserted_blobs).await;
        if let Some((user, reserved)) = quota {
            // Documents someone else removed had their quota released by that remover.
            let released_by_others: i64 = inserted
                .iter()
                .filter(|r| !removed.contains(&r.id))
                .map(|r| r.size)
                .sum();
            self.add_storage(user, -(reserved - released_by_others))
                .await;
        }
        if let Some(allocation) = allocation
            && let Err(e) = self.commit(allocation).await
        {
            tracing::warn!(error = %e, "could not end a failed change's pending MODSEQ");
        }
    }
}

impl MongoBackend {
    /// Marks messages as leaving with the allocation's MODSEQ and journals each one that
    /// was still there (and, for an expunge, still `\Deleted`). Returns the marked ones.
    pub(super) async fn mark_expunged(
        &self,
        allocation: &Allocation,
        messages: &[MessageDoc],
        require_deleted: bool,
    ) -> Result<Vec<Removal>> {
        let mut marked = Vec::new();
        let mut entries = Vec::new();
        for m in messages {
            let mut filter = doc! {"_id": m.id, "expunged": Bson::Null};
            if require_deleted {
                filter.insert("deleted", true);
            }
            let result = self
                .messages
                .update_one(
                    filter,
                    doc! {"$set": {"expunged": allocation.modseq as i64}},
                )
                .await
                .map_err(db_error)?;
            if result.matched_count == 1 {
                marked.push(Removal::from(m));
                entries.push(journal_entry(
                    allocation.mailbox,
                    allocation.modseq,
                    m.uid as Uid,
                    KIND_EXPUNGE,
                    None,
                ));
            }
        }
        self.insert_journal(entries).await?;
        Ok(marked)
    }

    /// Writes new flags with the allocation's MODSEQ, each message by compare-and-set on its
    /// MODSEQ so a concurrent change is never overwritten: on a lost race the message is
    /// re-read and the operation applied to its new flags. Records each result in
    /// `results`; returns whether anything changed.
    pub(super) async fn apply_flags(
        &self,
        allocation: &Allocation,
        messages: Vec<MessageDoc>,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
        results: &mut BTreeMap<Uid, Option<(Flags, ModSeq)>>,
    ) -> Result<bool> {
        let modseq = allocation.modseq;
        let mut entries = Vec::new();
        for mut m in messages {
            loop {
                let old = flags_from_strings(&m.flags);
                let uid = m.uid as Uid;
                let new = match flag_change(op, flags, unchanged_since, &old, m.modseq as u64) {
                    FlagChange::Refused => {
                        results.insert(uid, None);
                        break;
                    }
                    FlagChange::Same => {
                        results.insert(uid, Some((old, m.modseq as u64)));
                        break;
                    }
                    FlagChange::Changed(new) => new,
                };
                let mut set = flag_fields(&new);
                set.insert("modseq", modseq as i64);
                let result = self
                    .messages
                    .update_one(
                        doc! {"_id": m.id, "modseq": m.modseq, "expunged": Bson::Null},
                        doc! {"$set": set},
                    )
                    .await
                    .map_err(db_error)?;
                if result.matched_count == 1 {
                    entries.push(journal_entry(
                        allocation.mailbox,
                        modseq,
                        uid,
                        KIND_FLAGS,
                        Some(&new),
                    ));
                    results.insert(uid, Some((new, modseq)));
                    break;
                }
                match self
                    .messages
                    .find_one(doc! {"_id": m.id, "expunged": Bson::Null})
                    .await
                    .map_err(db_error)?
                {
                    Some(fresh) => m = fresh,
                    None => {
                        results.remove(&uid);
                        break;
                    }
                }
            }
        }
        let changed = !entries.is_empty();
        self.insert_journal(entries).await?;
        Ok(changed)
    }
}
