//! Every record `migrate` copies beside mail and logins, through the engines' ordinary
//! traits (so any engine pair works), and the census of every record kind on one end that
//! the two ends are compared by.
//!
//! Per user: the profile (settings, spam level, forwarding targets…), a temporary password,
//! each address's details, the autoreply, the filters, subscriptions to missing mailboxes,
//! the address register, stored files (uploads) and the auth log; per mailbox its keywords and
//! whether it encrypts what arrives. Store-wide: the registry (domain aliases and access
//! lists, DKIM keys, certificates, deferred deletions, settings) and forwarded addresses.
//! A record the target holds already (a resumed run) is left alone.

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::{Backend, RegistryKind, UserExport};
use crate::content;
use crate::error::Result;
use crate::filters::MAX_FILTERS_PER_USER;
use crate::model::{Mailbox, UserId};

/// Each record kind's records on one end, each written out whole (`Debug`), sorted.
pub(super) type Census = BTreeMap<&'static str, BTreeSet<String>>;

pub(super) async fn copy_user(
    source: &dyn Backend,
    target: &dyn Backend,
    user: &UserExport,
) -> Result<()> {
    let id = user.record.user.id;
    target
        .set_user_profile(id, source.user_profile(id).await?)
        .await?;
    target
        .set_temp_password(id, source.temp_password(id).await?)
        .await?;
    for address in &user.addresses {
        target
            .set_address_details(address.id, source.address_details(address.id).await?)
            .await?;
    }
    if let Some(autoreply) = source.autoreply(id).await? {
        target.set_autoreply(autoreply).await?;
    }
    let present: BTreeSet<_> = target
        .list_filters(Some(id))
        .await?
        .into_iter()
        .map(|filter| filter.id)
        .collect();
    for filter in source.list_filters(Some(id)).await? {
        if !present.contains(&filter.id) {
            target.create_filter(filter, MAX_FILTERS_PER_USER).await?;
        }
    }
    for path in source.dangling_subscriptions(id).await? {
        target.set_dangling_subscription(id, &path, true).await?;
    }
    copy_register(source, target, id).await?;
    copy_files(source, target, id).await?;
    for event in source.auth_events(id).await? {
        if target.auth_event(id, event.id).await?.is_none() {
            target.add_auth_event(event).await?;
        }
    }
    for mailbox in &user.mailboxes {
        copy_mailbox_settings(source, target, mailbox).await?;
    }
    Ok(())
}

async fn copy_register(source: &dyn Backend, target: &dyn Backend, user: UserId) -> Result<()> {
    let present: BTreeSet<_> = target
        .registered_addresses(user)
        .await?
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    for entry in source.registered_addresses(user).await? {
        if present.contains(&entry.id) {
            continue;
        }
        // The register's key, as the rule that filled it made it.
        let Ok(normalized) = crate::accounts::normalize_address(&entry.address) else {
            continue;
        };
        let (id, disabled) = (entry.id, entry.disabled);
        target
            .register_addresses(user, vec![(normalized.addrview, entry)])
            .await?;
        if disabled {
            target
                .update_registered_address(user, id, Some(true), None)
                .await?;
        }
    }
    Ok(())
}

async fn copy_files(source: &dyn Backend, target: &dyn Backend, user: UserId) -> Result<()> {
    let present: BTreeSet<_> = target
        .list_files(user)
        .await?
        .into_iter()
        .map(|file| file.id)
        .collect();
    for file in source.list_files(user).await? {
        if present.contains(&file.id) {
            continue;
        }
        if let Some((record, codec, data)) = source.load_file(user, file.id).await? {
            let blob = content::pack_file(content::unpack_file(codec, data)?)?;
            target.insert_file(record, blob).await?;
        }
    }
    Ok(())
}

async fn copy_mailbox_settings(
    source: &dyn Backend,
    target: &dyn Backend,
    mailbox: &Mailbox,
) -> Result<()> {
    let keywords = source.mailbox_keywords(mailbox.id).await?;
    if !keywords.is_empty() {
        target.remember_keywords(mailbox.id, &keywords).await?;
    }
    if source.mailbox_encrypted(mailbox.id).await? {
        target.set_mailbox_encrypted(mailbox.id, true).await?;
    }
    Ok(())
}

/// The store-wide records: registry entries of every kind and forwarded addresses.
pub(super) async fn copy_store_records(source: &dyn Backend, target: &dyn Backend) -> Result<()> {
    for kind in RegistryKind::ALL {
        for entry in source.list_entries(kind).await? {
            // `false`: the target has it already.
            target.insert_entry(kind, entry).await?;
        }
    }
    for forwarded in source.list_forwarded().await? {
        if target.forwarded_by_id(forwarded.id).await?.is_none() {
            target.create_forwarded(forwarded).await?;
        }
    }
    Ok(())
}

/// Every record kind of `store`, record by record.
pub(super) async fn census(store: &dyn Backend) -> Result<Census> {
    fn add<T: std::fmt::Debug>(
        census: &mut Census,
        kind: &'static str,
        records: impl IntoIterator<Item = T>,
    ) {
        census
            .entry(kind)
            .or_default()
            .extend(records.into_iter().map(|record| format!("{record:?}")));
    }
    let mut census = Census::new();
    for kind in RegistryKind::ALL {
        add(&mut census, kind.name(), store.list_entries(kind).await?);
    }
    add(
        &mut census,
        "forwarded addresses",
        store.list_forwarded().await?,
    );
    for user in store.export_users().await? {
        let id = user.record.user.id;
        add(&mut census, "users", [&user.record.user]);
        add(&mut census, "addresses", &user.addresses);
        add(&mut census, "mailboxes", &user.mailboxes);
        add(&mut census, "asps", store.list_asps(id).await?);
        add(&mut census, "totp", store.totp(id).await?);
        add(
            &mut census,
            "profiles",
            [(id, store.user_profile(id).await?)],
        );
        add(
            &mut census,
            "temporary passwords",
            store.temp_password(id).await?,
        );
        for address in &user.addresses {
            let details = store.address_details(address.id).await?;
            add(&mut census, "address details", [(address.id, details)]);
        }
        add(&mut census, "autoreplies", store.autoreply(id).await?);
        add(&mut census, "filters", store.list_filters(Some(id)).await?);
        let dangling = store.dangling_subscriptions(id).await?;
        add(
            &mut census,
            "subscriptions",
            dangling.iter().map(|path| (id, path)),
        );
        add(
            &mut census,
            "address register",
            store.registered_addresses(id).await?,
        );
        add(&mut census, "stored files", store.list_files(id).await?);
        add(&mut census, "auth log", store.auth_events(id).await?);
        for mailbox in &user.mailboxes {
            let keywords = store.mailbox_keywords(mailbox.id).await?;
            add(
                &mut census,
                "keywords",
                keywords.iter().map(|k| (mailbox.id, k)),
            );
            if store.mailbox_encrypted(mailbox.id).await? {
                add(&mut census, "encrypted mailboxes", [mailbox.id]);
            }
        }
    }
    Ok(census)
}

/// What differs between two censuses, kind by kind.
pub(super) fn census_mismatches(source: &Census, target: &Census) -> Vec<String> {
    let empty = BTreeSet::new();
    let kinds: BTreeSet<_> = source.keys().chain(target.keys()).collect();
    kinds
        .into_iter()
        .filter_map(|kind| {
            let (a, b) = (
                source.get(kind).unwrap_or(&empty),
                target.get(kind).unwrap_or(&empty),
            );
            (a != b).then(|| {
                format!(
                    "{kind}: {} in the source, {} in the target, {} not alike",
                    a.len(),
                    b.len(),
                    a.symmetric_difference(b).count()
                )
            })
        })
        .collect()
}
