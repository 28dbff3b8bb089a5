//! The generic rules behind the default methods of the engine traits, written once over the
//! traits' primitives. An engine may override a default with a fast path of its own (SQLite
//! does for all four: one query, one snapshot, one commit); these functions stay the reference,
//! and the conformance check `fast_paths_agree_with_generic_rules` runs both on the same
//! random operations and compares.

use super::*;

/// The stored addresses among `addrviews`, asked one at a time.
pub(crate) async fn addresses_by_views<B: Accounts + ?Sized>(
    backend: &B,
    addrviews: Vec<String>,
) -> Result<Vec<Address>> {
    let mut found = Vec::new();
    for view in &addrviews {
        found.extend(backend.address_by_view(view).await?);
    }
    Ok(found)
}

/// Messages appended one after the other, each its own unit, until one fails.
pub(crate) async fn append_batch<B: Messages + ?Sized>(
    backend: &B,
    mailbox: MailboxId,
    messages: Vec<NewMessage>,
) -> Result<(BatchOutcome, Vec<Wake>)> {
    let mut stored = Vec::with_capacity(messages.len());
    let mut last_wakes = Vec::new();
    for message in messages {
        match backend.append(mailbox, message).await {
            Ok((outcome, wakes)) => {
                stored.push(outcome);
                last_wakes = wakes;
            }
            Err(err) => {
                let stopped = Some(err);
                return Ok((BatchOutcome { stored, stopped }, last_wakes));
            }
        }
    }
    let stopped = None;
    Ok((BatchOutcome { stored, stopped }, last_wakes))
}

/// The snapshot, then the flags of every message read apart.
pub(crate) async fn select_view<B: Messages + ?Sized>(
    backend: &B,
    mailbox: MailboxId,
) -> Result<SelectView> {
    let snapshot = backend.snapshot(mailbox).await?;
    let metas = backend
        .fetch_meta(mailbox, &UidSet::all(), MetaFields::default())
        .await?;
    let mut view = SelectView::new(
        snapshot.uidvalidity,
        snapshot.uidnext,
        snapshot.highest_modseq,
    );
    let none = Flags::new();
    for uid in snapshot.uids {
        let flags = metas
            .binary_search_by_key(&uid, |m| m.uid)
            .map_or(&none, |i| &metas[i].flags);
        view.push(uid, flags);
    }
    Ok(view)
}

/// The whole content loaded, then the blobs `select` picks kept in its order.
pub(crate) async fn load_content_selected<B: Messages + ?Sized>(
    backend: &B,
    mailbox: MailboxId,
    uid: Uid,
    select: BlobSelector,
) -> Result<ContentRead> {
    let content = backend.load_content(mailbox, uid).await?;
    let wanted = select(&content.layout);
    let mut blobs: Vec<Option<(u8, Vec<u8>)>> = content.blobs.into_iter().map(Some).collect();
    let picked = wanted
        .into_iter()
        .map(|position| {
            blobs
                .get_mut(position)
                .and_then(Option::take)
                .ok_or_else(|| {
                    Error::from(Defect::Malformed {
                        what: "message",
                        detail: format!("no blob at position {position}"),
                    })
                })
        })
        .collect::<Result<_>>()?;
    Ok(ContentRead {
        layout: content.layout,
        blobs: picked,
    })
}
