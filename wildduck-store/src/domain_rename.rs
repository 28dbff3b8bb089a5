//! Renaming a domain (WildDuck's `PUT /addresses/renameDomain`): every address on the old
//! domain — users' and forwarded — takes the new one (local part, id, owner and details
//! kept, so a main address stays main), the DKIM key of the old domain becomes the new
//! domain's, and domain aliases pointing at the old domain point at the new one.
//!
//! Every clash is looked for before anything changes (an address whose new spelling is
//! taken, a DKIM key the new domain has already): then nothing is renamed.

use serde_json::Value;

use crate::accounts::normalize_address;
use crate::backend::{RegistryEntry, RegistryKind};
use crate::domains::normalize_domain;
use crate::error::{AddressError, Defect, RegistryError, Result};
use crate::model::*;
use crate::store::Store;

/// What a rename changed, in WildDuck's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainRenamed {
    /// Users' and forwarded addresses.
    pub addresses: usize,
    /// Users whose main address was renamed.
    pub users: usize,
    pub dkim_keys: usize,
    pub aliases: usize,
}

/// `address` on `new` instead of `old` when its domain is `old`.
fn moved(address: &str, old: &str, new: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    (domain == old).then(|| format!("{local}@{new}"))
}

impl Store {
    /// Moves everything on domain `old` to `new` (both as WildDuck's `normalizeDomain` reads
    /// them). `AddressError::AlreadyExists` / `RegistryError::AlreadyExists` on a clash, with
    /// nothing changed.
    pub async fn rename_domain(&self, old: &str, new: &str) -> Result<DomainRenamed> {
        let old = normalize_domain(old).map_err(AddressError::Invalid)?;
        let new = normalize_domain(new).map_err(AddressError::Invalid)?;
        let mut renamed = DomainRenamed::default();
        if old == new {
            return Ok(renamed);
        }
        let mut addresses = Vec::new();
        // Users waiting for their deferred deletion too: they keep their addresses.
        for user in self.backend().list_users().await? {
            for address in self.backend().list_addresses(user.id).await? {
                if let Some(spelled) = moved(&address.address, &old, &new) {
                    let view = normalize_address(&spelled)?;
                    addresses.push(Address {
                        address: view.address,
                        addrview: view.addrview,
                        ..address
                    });
                }
            }
        }
        let mut forwarded = Vec::new();
        for record in self.backend().list_forwarded().await? {
            if let Some(spelled) = moved(&record.address, &old, &new) {
                forwarded.push(ForwardedAddressMove {
                    address: spelled,
                    record,
                });
            }
        }
        let dkim = self
            .backend()
            .entry_by_key(RegistryKind::Dkim, &old)
            .await?;
        self.check_free(&addresses, &forwarded, dkim.is_some(), &new)
            .await?;

        let users: std::collections::BTreeSet<UserId> = addresses.iter().map(|a| a.user).collect();
        for address in &addresses {
            self.backend().rename_address(address.clone()).await?;
        }
        for moving in forwarded.iter().cloned() {
            self.update_forwarded(crate::profiles::ForwardedAddress {
                address: moving.address,
                ..moving.record
            })
            .await?;
        }
        renamed.addresses = addresses.len() + forwarded.len();
        for user in users {
            let main = self.main_address(user).await?;
            if main.is_some_and(|main| addresses.iter().any(|a| a.id == main.id)) {
                renamed.users += 1;
            }
        }
        if let Some(entry) = dkim
            && self
                .backend()
                .rekey_entry(RegistryKind::Dkim, entry.id, new.clone())
                .await?
        {
            renamed.dkim_keys = 1;
        }
        renamed.aliases = self.retarget_aliases(&old, &new).await?;
        Ok(renamed)
    }

    /// Fails when a new spelling is someone else's, or `new` has a DKIM key already.
    async fn check_free(
        &self,
        addresses: &[Address],
        forwarded: &[ForwardedAddressMove],
        moving_dkim: bool,
        new: &str,
    ) -> Result<()> {
        let mut views: Vec<String> = addresses.iter().map(|a| a.addrview.clone()).collect();
        for moving in forwarded {
            views.push(normalize_address(&moving.address)?.addrview);
        }
        for view in &views {
            let taken_by_address = self.backend().address_by_view(view).await?.is_some();
            if taken_by_address || self.backend().forwarded_by_view(view).await?.is_some() {
                return Err(AddressError::AlreadyExists.into());
            }
        }
        if moving_dkim
            && self
                .backend()
                .entry_by_key(RegistryKind::Dkim, new)
                .await?
                .is_some()
        {
            return Err(RegistryError::AlreadyExists(RegistryKind::Dkim).into());
        }
        Ok(())
    }

    /// Points the aliases of `old` at `new`; how many.
    async fn retarget_aliases(&self, old: &str, new: &str) -> Result<usize> {
        let mut count = 0;
        for entry in self
            .backend()
            .list_entries(RegistryKind::DomainAlias)
            .await?
        {
            let mut body: Value =
                serde_json::from_str(&entry.body).map_err(|e| Defect::Malformed {
                    what: "domain alias",
                    detail: e.to_string(),
                })?;
            if body.get("domain").and_then(Value::as_str) != Some(old) {
                continue;
            }
            body["domain"] = Value::String(new.to_string());
            let entry = RegistryEntry {
                body: body.to_string(),
                ..entry
            };
            self.backend()
                .upsert_entry(RegistryKind::DomainAlias, entry)
                .await?;
            count += 1;
        }
        Ok(count)
    }
}

/// A forwarded address and its new spelling.
#[derive(Clone)]
struct ForwardedAddressMove {
    address: String,
    record: crate::profiles::ForwardedAddress,
}
