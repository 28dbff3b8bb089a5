//! Messages on the facade: append (analysed once, on the blocking pool when large), batches,
//! copy and move, flags, expunge, and the reads (snapshot, metadata, sections, search).

use std::collections::HashMap;

use super::*;

impl Store {
    /// Stores a message. `internal_date` None = now. Over quota or over the size limit fails
    /// and changes nothing.
    pub async fn append(
        &self,
        mailbox: MailboxId,
        raw: &[u8],
        flags: &Flags,
        internal_date: Option<Timestamp>,
    ) -> Result<AppendOutcome> {
        let item = AppendItem {
            raw,
            flags,
            internal_date,
        };
        let mut stored = self.append_all(mailbox, &[item]).await?;
        Ok(stored
            .pop()
            .ok_or(Defect::Bug("an append of one message stored none"))?)
    }

    /// Stores messages as one unit (IMAP MULTIAPPEND): all of them, with consecutive UIDs in
    /// the order given, or — when any is refused (size, flags, quota for their sum, a
    /// storage failure) — none. The outcomes are in the order given.
    pub async fn append_all(
        &self,
        mailbox: MailboxId,
        items: &[AppendItem<'_>],
    ) -> Result<Vec<AppendOutcome>> {
        let mut analysed = Vec::with_capacity(items.len());
        let mut keywords = Flags::new();
        for item in items {
            let size = item.raw.len() as u64;
            self.check_size(size)?;
            validate_flags(item.flags)?;
            keywords.extend(item.flags.iter().cloned());
            let raw = bytes::Bytes::copy_from_slice(item.raw);
            let flags = item.flags.clone();
            let internal_date = item.internal_date;
            // A small message is analysed in well under a millisecond: cheaper here than the
            // trip to the blocking pool and back.
            analysed.push(if size <= INLINE_ANALYSIS {
                analyze(&raw, flags, internal_date)?
            } else {
                blocking(move || analyze(&raw, flags, internal_date)).await?
            });
        }
        self.remember_keywords(mailbox, &keywords).await?;
        let registered: Vec<(Envelope, bool)> = analysed
            .iter()
            .zip(items)
            .map(|(message, item)| {
                let automatic = crate::addressregister::list_or_automatic(item.raw);
                (message.envelope.clone(), automatic)
            })
            .collect();
        let (stored, wakes) = self.backend().append_all(mailbox, analysed).await?;
        self.publish(wakes);
        for (item, (envelope, automatic)) in items.iter().zip(registered) {
            count_stored(item.raw.len() as u64);
            self.register_stored_message(mailbox, item.flags, &envelope, automatic)
                .await;
        }
        Ok(stored)
    }

    /// Stores messages in order, as many `append` calls would, until one fails: the ones
    /// before it are stored (and their UIDs follow the order given), the failing one and those
    /// after it are not, and `stopped` says why. Over quota counts the messages before it.
    /// Messages are analysed and packed in parallel; on SQLite the whole batch is one write
    /// (one commit), on MongoDB one append after the other. Every message gets its own MODSEQ
    /// and journal entry, as with `append`; listeners are woken once with the last MODSEQ.
    pub async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: &[AppendItem<'_>],
    ) -> Result<BatchOutcome> {
        // A message the facade refuses ends the batch before it.
        let mut refused = None;
        let mut accepted = Vec::with_capacity(messages.len());
        for item in messages {
            let checked = self
                .check_size(item.raw.len() as u64)
                .and_then(|()| validate_flags(item.flags));
            if let Err(err) = checked {
                refused = Some(err);
                break;
            }
            accepted.push((
                bytes::Bytes::copy_from_slice(item.raw),
                item.flags.clone(),
                item.internal_date,
            ));
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_worker = accepted.len().div_ceil(workers).max(1);
        let mut tasks = Vec::with_capacity(workers);
        while !accepted.is_empty() {
            let rest = accepted.split_off(per_worker.min(accepted.len()));
            let part = std::mem::replace(&mut accepted, rest);
            tasks.push(blocking(move || {
                Ok(part
                    .into_iter()
                    .map(|(raw, flags, internal_date)| analyze(&raw, flags, internal_date))
                    .collect::<Vec<_>>())
            }));
        }
        let mut analysed = Vec::with_capacity(messages.len());
        'parts: for task in tasks {
            for message in task.await? {
                match message {
                    Ok(message) => analysed.push(message),
                    Err(err) => {
                        refused = Some(err);
                        break 'parts;
                    }
                }
            }
        }
        let (mut outcome, wakes) = self.backend().append_batch(mailbox, analysed).await?;
        self.publish(wakes);
        if outcome.stopped.is_none() {
            outcome.stopped = refused;
        }
        Ok(outcome)
    }

    /// A message `append` would store, analysed (on the blocking pool when large), for a
    /// rule that stores it together with other records (`outbound`).
    pub(crate) async fn analyse_for_append(
        &self,
        raw: Vec<u8>,
        flags: Flags,
    ) -> Result<NewMessage> {
        let size = raw.len() as u64;
        self.check_size(size)?;
        let raw = bytes::Bytes::from(raw);
        if size <= INLINE_ANALYSIS {
            analyze(&raw, flags, None)
        } else {
            blocking(move || analyze(&raw, flags, None)).await
        }
    }

    pub(super) fn check_size(&self, size: u64) -> Result<()> {
        let limit = self.inner.config.max_message_size;
        if size > limit {
            return Err(MessageError::TooBig { size, limit }.into());
        }
        Ok(())
    }

    /// Whether a message of `size` bytes fits the user's quota and the size limit now
    /// (a hint for checking before a literal is read; `append` checks again).
    pub async fn check_append(&self, mailbox: MailboxId, size: u64) -> Result<()> {
        self.check_size(size)?;
        let (used, quota) = self.backend().quota_of_mailbox(mailbox).await?;
        Ok(crate::message_rules::quota::check_quota(used, quota, size)?)
    }

    /// Copies the messages of `uids` (those that exist) into `target`, sharing content.
    pub async fn copy(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        self.transfer(source, uids, target, Transfer::Copy).await
    }

    /// Moves messages: copy + expunge from source in one atomic unit.
    pub async fn move_messages(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        self.transfer(source, uids, target, Transfer::Move).await
    }

    pub(super) async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<CopyOutcome> {
        // The copies may carry any keyword the source has had.
        let source_keywords = self.backend().mailbox_keywords(source).await?;
        let keywords: Flags = source_keywords.into_iter().map(Flag::Keyword).collect();
        self.remember_keywords(target, &keywords).await?;
        let (outcome, wakes) = self
            .backend()
            .transfer(source, uids, target, transfer)
            .await?;
        self.publish(wakes);
        Ok(outcome)
    }

    /// Changes flags of the messages in `uids`; one new MODSEQ for all that changed.
    /// With `unchanged_since`, messages whose MODSEQ is higher are left alone and listed.
    pub async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsOutcome> {
        validate_flags(flags)?;
        if op != FlagOp::Remove {
            self.remember_keywords(mailbox, flags).await?;
        }
        let (outcome, wakes) = self
            .backend()
            .store_flags(mailbox, uids, op, flags, unchanged_since)
            .await?;
        self.publish(wakes);
        Ok(outcome)
    }

    /// Removes messages flagged `\Deleted` (only those in `uids` when given).
    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<ExpungeOutcome> {
        let (outcome, wakes) = self.backend().expunge(mailbox, uids).await?;
        self.publish(wakes);
        Ok(outcome)
    }

    pub async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        self.backend().snapshot(mailbox).await
    }

    /// The snapshot SELECT starts from, with the keywords in use and the first unseen message.
    /// Its keywords are those in use and those the mailbox has had (`crate::keywords`).
    pub async fn select_view(&self, mailbox: MailboxId) -> Result<SelectView> {
        // Read first: a keyword is remembered before any message gets it, so one set after
        // this read is in use at the second read or reaches the session through the journal.
        let remembered = self.backend().mailbox_keywords(mailbox).await?;
        let mut view = self.backend().select_view(mailbox).await?;
        view.keywords.extend(remembered);
        Ok(view)
    }

    pub async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        self.backend().changes_since(mailbox, modseq).await
    }

    /// Metadata of the messages in `uids` that exist, in UID order.
    pub async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        self.backend().fetch_meta(mailbox, uids, fields).await
    }

    /// What a FETCH reads: the metadata of the messages in `uids` that exist (UID order) and
    /// the `sections` of each (a section with the byte range wanted of it), in one read where
    /// the engine can, so a FETCH sees one moment and pays one read. Sections of messages
    /// past `FETCH_CONTENT_BUDGET` bytes in all (and on engines without such a read) come
    /// back `None`: read those with [`Store::read_section`], message by message.
    pub async fn fetch(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
        sections: &[(Section, Option<Partial>)],
    ) -> Result<Vec<FetchedMessage>> {
        if sections.is_empty() {
            let metas = self.fetch_meta(mailbox, uids, fields).await?;
            return Ok(metas
                .into_iter()
                .map(|meta| FetchedMessage {
                    meta,
                    sections: Some(Vec::new()),
                })
                .collect());
        }
        // Plans are made from each layout inside the engine's read, so only the blobs the
        // sections need are loaded; they come back out through `planned`.
        let planned = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let select: crate::backend::ContentSelector = {
            let (planned, layouts, sections) =
                (planned.clone(), self.layouts().clone(), sections.to_vec());
            Box::new(move |uid, layout: &[u8]| {
                let plans = layouts.parsed(layout).and_then(|parsed| {
                    sections
                        .iter()
                        .map(|(section, partial)| {
                            content::SectionPlan::of(parsed.clone(), section, *partial)
                        })
                        .collect::<Result<Vec<_>>>()
                });
                let mut wanted: Vec<usize> = plans
                    .iter()
                    .flatten()
                    .flat_map(content::SectionPlan::blobs)
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                if let Ok(mut slot) = planned.lock() {
                    slot.insert(uid, (plans, wanted.clone()));
                }
                wanted
            })
        };
        let rows = self
            .backend()
            .fetch_meta_with_content(mailbox, uids, fields, select, FETCH_CONTENT_BUDGET)
            .await?;
        let mut planned = planned
            .lock()
            .map(|mut slot| std::mem::take(&mut *slot))
            .map_err(|_| Defect::Bug("a FETCH plan panicked"))?;
        let mut fetched = Vec::with_capacity(rows.len());
        for (meta, content) in rows {
            let sections = match content {
                None => None,
                Some(content) => {
                    let (plans, wanted) = planned
                        .remove(&meta.uid)
                        .ok_or(Defect::Bug("fetched content was not planned"))?;
                    Some(read_plans(plans?, &wanted, content.blobs).await?)
                }
            };
            fetched.push(FetchedMessage { meta, sections });
        }
        Ok(fetched)
    }

    /// The bytes of one section of a message, optionally a byte range of it.
    /// A part path that does not exist yields an empty body (as IMAP servers answer).
    pub async fn read_section(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<SectionBody> {
        // The plan is made from the layout inside the backend's read, so only the blobs the
        // section needs are loaded; it comes back out through `planned`.
        let planned = Arc::new(std::sync::Mutex::new(None));
        let select: crate::backend::BlobSelector = {
            let (planned, layouts, section) =
                (planned.clone(), self.layouts().clone(), section.clone());
            Box::new(move |layout: &[u8]| {
                let plan = layouts
                    .parsed(layout)
                    .and_then(|parsed| content::SectionPlan::of(parsed, &section, partial));
                let wanted = plan.as_ref().map(|p| p.blobs()).unwrap_or_default();
                if let Ok(mut slot) = planned.lock() {
                    *slot = Some(plan);
                }
                wanted
            })
        };
        let stored = self
            .backend()
            .load_content_selected(mailbox, uid, select)
            .await?;
        let plan = planned
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .ok_or(Defect::Bug("section read was not planned"))??;
        read_plan(plan, stored.blobs).await
    }

    /// UIDs of the messages matching `key`, ascending.
    pub async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        self.backend().search(mailbox, key).await
    }

    // ---- events ----
}

/// Each plan's section from the blobs loaded for all of them (`wanted`, in that order).
async fn read_plans(
    plans: Vec<content::SectionPlan>,
    wanted: &[usize],
    loaded: Vec<(u8, Vec<u8>)>,
) -> Result<Vec<SectionBody>> {
    if plans.len() == 1 {
        // One section: the blobs loaded are exactly its own, no copy needed.
        let plan = plans.into_iter().next().ok_or(Defect::Bug("one plan"))?;
        return Ok(vec![read_plan(plan, loaded).await?]);
    }
    let mut bodies = Vec::with_capacity(plans.len());
    for plan in plans {
        let blobs = plan
            .blobs()
            .iter()
            .map(|position| {
                wanted
                    .binary_search(position)
                    .ok()
                    .and_then(|at| loaded.get(at).cloned())
                    .ok_or_else(|| Error::from(Defect::Bug("a planned blob was not loaded")))
            })
            .collect::<Result<_>>()?;
        bodies.push(read_plan(plan, blobs).await?);
    }
    Ok(bodies)
}

/// A planned section's bytes from the blobs it named.
async fn read_plan(plan: content::SectionPlan, blobs: Vec<(u8, Vec<u8>)>) -> Result<SectionBody> {
    // A small message is rebuilt in microseconds: cheaper here than a hop to the blocking
    // pool.
    let body = if plan
        .message_len()
        .is_some_and(|len| len <= INLINE_SECTION_READ)
    {
        plan.read(blobs)?
    } else {
        blocking(move || plan.read(blobs)).await?
    };
    metrics::counter!("wildduck_sections_read_total").increment(1);
    metrics::counter!("wildduck_section_bytes_read_total").increment(body.len());
    Ok(body)
}

/// MIME analysis and content packing of one message: everything the backend stores.
pub(super) fn analyze(
    raw: &bytes::Bytes,
    flags: Flags,
    internal_date: Option<Timestamp>,
) -> Result<NewMessage> {
    let tree = mime::split(raw);
    let analysis = mime::analyze_tree(raw, &tree);
    let content = content::pack(raw, &tree)?;
    Ok(NewMessage {
        id: MessageId::new(),
        flags,
        internal_date: internal_date.unwrap_or_else(crate::backend::now),
        header_date: analysis.header_date,
        size: raw.len() as u64,
        message_id: analysis.envelope.message_id.clone(),
        subject: analysis.envelope.subject.clone(),
        envelope: analysis.envelope,
        body_structure: analysis.body_structure,
        search_headers: analysis.search_headers,
        search_body: analysis.search_body,
        content,
    })
}

pub(super) const MAX_KEYWORD_BYTES: usize = 128;

/// Messages up to this size are analysed and packed on the calling task (see `append`).
pub(super) const INLINE_ANALYSIS: u64 = 64 * 1024;

/// Messages up to this length have sections read on the calling task (see `read_plan`).
pub(super) const INLINE_SECTION_READ: usize = 128 * 1024;

/// Bytes of messages whose sections one [`Store::fetch`] reads with their metadata; the
/// rest are read one by one, so a FETCH of a whole mailbox holds at most this much at once.
pub(crate) const FETCH_CONTENT_BUDGET: u64 = 256 * 1024;

/// Keywords must be IMAP atoms; `\`-names other than the system flags do not exist.
pub(super) fn validate_flags(flags: &Flags) -> Result<()> {
    for flag in flags {
        if let Flag::Keyword(keyword) = flag {
            let bad = keyword.is_empty()
                || keyword.len() > MAX_KEYWORD_BYTES
                || keyword.starts_with('\\')
                || keyword.bytes().any(|b| {
                    b <= b' '
                        || b >= 0x7f
                        || matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
                });
            if bad {
                return Err(MessageError::InvalidFlag(keyword.clone()).into());
            }
        }
    }
    Ok(())
}
