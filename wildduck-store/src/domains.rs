//! Domain aliases and domain access lists, as WildDuck has them.
//!
//! A *domain alias* makes every address of a domain reachable at another domain too:
//! with `alias.example → example.com`, mail and logins for `ann@alias.example` reach
//! `ann@example.com` (`delivery/resolve.rs`, `Store::find_user`). Both names are kept as
//! WildDuck normalizes domains: lower case, Unicode (a `xn--` name is shown decoded).
//!
//! *Domain access* lists allow or block sender domains for users with a tag: mail from a
//! blocked domain is spam for them, from an allowed one never spam. One entry per
//! (tag, domain), the tag compared without case; adding the domain to the other list moves
//! it. [`Store::domain_access_verdict`] is the rule delivery asks.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::backend::{Backend, RegistryEntry, RegistryKind, now};
use crate::error::{RegistryError, Result};
use crate::model::{RecordId, Timestamp};
use crate::store::Store;

const MAX_DOMAIN_CHARS: usize = 255;

/// A domain as WildDuck keeps it (`tools.normalizeDomain`): trimmed, NFC, lower case, IDNA
/// names in Unicode. Refused when it is not a valid domain name.
pub fn normalize_domain(input: &str) -> std::result::Result<String, String> {
    let input: String = input.trim().nfc().collect();
    if input.is_empty() || input.chars().count() > MAX_DOMAIN_CHARS {
        return Err(format!(
            "a domain of 1 to {MAX_DOMAIN_CHARS} characters is required"
        ));
    }
    idna::domain_to_ascii_strict(&input).map_err(|_| format!("{input:?} is not a domain name"))?;
    let (domain, errors) = idna::domain_to_unicode(&input);
    errors.map_err(|_| format!("{input:?} is not a domain name"))?;
    Ok(domain)
}

fn domain_for(kind: RegistryKind, input: &str) -> Result<String> {
    normalize_domain(input).map_err(|why| RegistryError::Invalid(kind, why).into())
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(entry: &RegistryEntry) -> Result<T> {
    serde_json::from_str(&entry.body).map_err(|e| {
        crate::error::Defect::Malformed {
            what: "registry entry",
            detail: e.to_string(),
        }
        .into()
    })
}

pub(crate) fn encode<T: Serialize>(body: &T) -> String {
    serde_json::to_string(body).expect("registry bodies are plain structs")
}

/// `alias` (the domain mail may be addressed to) stands for `domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAlias {
    pub id: RecordId,
    pub alias: String,
    pub domain: String,
    pub created: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct AliasBody {
    domain: String,
    created: Timestamp,
}

fn alias_from(entry: &RegistryEntry) -> Result<DomainAlias> {
    let body: AliasBody = decode(entry)?;
    Ok(DomainAlias {
        id: entry.id,
        alias: entry.key.clone(),
        domain: body.domain,
        created: body.created,
    })
}

/// Whether a domain access entry allows or blocks its domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessAction {
    Allow,
    Block,
}

impl AccessAction {
    pub fn name(self) -> &'static str {
        match self {
            AccessAction::Allow => "allow",
            AccessAction::Block => "block",
        }
    }
}

/// One domain on the allow or block list of a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAccess {
    pub id: RecordId,
    /// The tag as first given.
    pub tag: String,
    pub domain: String,
    pub action: AccessAction,
}

#[derive(Serialize, Deserialize)]
struct AccessBody {
    tag: String,
    domain: String,
    action: AccessAction,
}

/// The unique key of a (tag, domain) pair: the tag without case, then the domain, so the
/// entries of one tag sort together by domain.
fn access_key(tag: &str, domain: &str) -> String {
    format!("{}\n{domain}", tag.to_lowercase())
}

fn access_from(entry: &RegistryEntry) -> Result<DomainAccess> {
    let body: AccessBody = decode(entry)?;
    Ok(DomainAccess {
        id: entry.id,
        tag: body.tag,
        domain: body.domain,
        action: body.action,
    })
}

/// The view (`local@domain`, as `accounts::normalize_address` makes it) moved to the domain
/// its domain is an alias of; `None` when its domain is no alias.
pub(crate) async fn aliased_view(backend: &dyn Backend, view: &str) -> Result<Option<String>> {
    let Some((local, domain)) = view.rsplit_once('@') else {
        return Ok(None);
    };
    let Some(entry) = backend
        .entry_by_key(RegistryKind::DomainAlias, domain)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(format!("{local}@{}", alias_from(&entry)?.domain)))
}

impl Store {
    /// Makes `alias` an alias of `domain`. `AlreadyExists` when `alias` is one already.
    pub async fn create_domain_alias(&self, alias: &str, domain: &str) -> Result<DomainAlias> {
        let kind = RegistryKind::DomainAlias;
        let alias = domain_for(kind, alias)?;
        let domain = domain_for(kind, domain)?;
        if alias == domain {
            return Err(
                RegistryError::Invalid(kind, "a domain can not alias itself".into()).into(),
            );
        }
        let created = DomainAlias {
            id: RecordId::new(),
            alias,
            domain,
            created: now(),
        };
        let entry = RegistryEntry {
            id: created.id,
            key: created.alias.clone(),
            body: encode(&AliasBody {
                domain: created.domain.clone(),
                created: created.created,
            }),
        };
        if !self.backend().insert_entry(kind, entry).await? {
            return Err(RegistryError::AlreadyExists(kind).into());
        }
        Ok(created)
    }

    /// Every domain alias, sorted by alias.
    pub async fn list_domain_aliases(&self) -> Result<Vec<DomainAlias>> {
        let entries = self
            .backend()
            .list_entries(RegistryKind::DomainAlias)
            .await?;
        entries.iter().map(alias_from).collect()
    }

    pub async fn get_domain_alias(&self, id: RecordId) -> Result<DomainAlias> {
        let kind = RegistryKind::DomainAlias;
        match self.backend().entry_by_id(kind, id).await? {
            Some(entry) => alias_from(&entry),
            None => Err(RegistryError::NotFound(kind).into()),
        }
    }

    /// The alias record of the domain `alias` (any spelling WildDuck accepts).
    pub async fn resolve_domain_alias(&self, alias: &str) -> Result<DomainAlias> {
        let kind = RegistryKind::DomainAlias;
        let alias = domain_for(kind, alias).map_err(|_| RegistryError::NotFound(kind))?;
        match self.backend().entry_by_key(kind, &alias).await? {
            Some(entry) => alias_from(&entry),
            None => Err(RegistryError::NotFound(kind).into()),
        }
    }

    pub async fn delete_domain_alias(&self, id: RecordId) -> Result<()> {
        self.delete_registry_entry(RegistryKind::DomainAlias, id)
            .await
    }

    /// Puts `domain` on the `action` list of `tag`, off the other list if it was there.
    /// Returns the entry's id, which stays the same when the domain moves lists.
    pub async fn set_domain_access(
        &self,
        tag: &str,
        domain: &str,
        action: AccessAction,
    ) -> Result<RecordId> {
        let kind = RegistryKind::DomainAccess;
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(RegistryError::Invalid(kind, "a tag is required".into()).into());
        }
        let domain = domain_for(kind, domain)?;
        let body = AccessBody {
            tag: tag.to_string(),
            domain,
            action,
        };
        let key = access_key(&body.tag, &body.domain);
        let existing = self.backend().entry_by_key(kind, &key).await?;
        // The tag keeps the spelling it was first given, as WildDuck's `$setOnInsert`.
        let body = match existing {
            Some(entry) => AccessBody {
                tag: access_from(&entry)?.tag,
                ..body
            },
            None => body,
        };
        let entry = RegistryEntry {
            id: RecordId::new(),
            key,
            body: encode(&body),
        };
        Ok(self.backend().upsert_entry(kind, entry).await?.0)
    }

    /// The domains on the `action` list of `tag` (compared without case), sorted by domain.
    pub async fn list_domain_access(
        &self,
        tag: &str,
        action: AccessAction,
    ) -> Result<Vec<DomainAccess>> {
        let prefix = access_key(tag.trim(), "");
        let mut listed = Vec::new();
        for entry in self
            .backend()
            .list_entries(RegistryKind::DomainAccess)
            .await?
        {
            if entry.key.starts_with(&prefix) {
                let access = access_from(&entry)?;
                if access.action == action {
                    listed.push(access);
                }
            }
        }
        Ok(listed)
    }

    pub async fn delete_domain_access(&self, id: RecordId) -> Result<()> {
        self.delete_registry_entry(RegistryKind::DomainAccess, id)
            .await
    }

    /// What the lists of a user's `tags` say about mail from `sender_domain`: block (spam),
    /// allow (never spam), or nothing. WildDuck takes the first entry found for any of the
    /// tags; here a block among them wins over an allow, so the answer does not depend on
    /// storage order.
    pub async fn domain_access_verdict(
        &self,
        tags: &[String],
        sender_domain: &str,
    ) -> Result<Option<AccessAction>> {
        let Ok(domain) = normalize_domain(sender_domain) else {
            return Ok(None);
        };
        let mut verdict = None;
        for tag in tags {
            let key = access_key(tag.trim(), &domain);
            if let Some(entry) = self
                .backend()
                .entry_by_key(RegistryKind::DomainAccess, &key)
                .await?
            {
                let action = access_from(&entry)?.action;
                if action == AccessAction::Block {
                    return Ok(Some(action));
                }
                verdict = Some(action);
            }
        }
        Ok(verdict)
    }

    /// Removes an operator record; `NotFound` when there was none.
    pub(crate) async fn delete_registry_entry(
        &self,
        kind: RegistryKind,
        id: RecordId,
    ) -> Result<()> {
        if self.backend().delete_entry(kind, id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(kind).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_as_wildduck_does() {
        assert_eq!(normalize_domain(" Example.COM ").unwrap(), "example.com");
        assert_eq!(normalize_domain("xn--jgeva-dua.ee").unwrap(), "jõgeva.ee");
        assert_eq!(normalize_domain("JÕGEVA.ee").unwrap(), "jõgeva.ee");
        assert!(normalize_domain("").is_err());
        assert!(normalize_domain("bad domain").is_err());
    }

    #[test]
    fn access_keys_of_a_tag_share_a_prefix_and_ignore_case() {
        assert_eq!(
            access_key("Account:1", "x.ee"),
            access_key("account:1", "x.ee")
        );
        assert!(access_key("a", "x.ee").starts_with(&access_key("a", "")));
        assert!(!access_key("ab", "x.ee").starts_with(&access_key("a", "")));
    }
}
