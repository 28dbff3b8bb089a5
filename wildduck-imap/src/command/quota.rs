//! QUOTA (RFC 9208): one quota root per user, named "", holding every mailbox; its only
//! resource is STORAGE (the store counts bytes, not messages). Users without a quota have no
//! quota root. Quotas are set by the administrator's tools, never over IMAP.

use wildduck_store::{Error, MailboxError};

use crate::command::mailbox::wire_name;
use crate::state::{Fail, Outcome, Reply, Session};

/// The quota root every mailbox of a user belongs to.
const ROOT: &str = "";

/// `(STORAGE used limit)` in KiB (RFC 9208 §5.1 counts STORAGE in units of 1024 octets),
/// or `None` for a user without a quota.
async fn storage(session: &Session) -> Result<Option<String>, Fail> {
    let Some(user) = session.user.as_ref() else {
        return Err(Fail::Reply(Reply::Bad("Log in first".into())));
    };
    let user = session.store().get_user(user.id).await?;
    Ok(user.quota.map(|limit| {
        format!(
            "(STORAGE {} {})",
            user.storage_used.div_ceil(1024),
            limit / 1024
        )
    }))
}

pub async fn get_quota(session: &mut Session, root: &str) -> Outcome {
    match (root == ROOT).then_some(storage(session).await?).flatten() {
        Some(resources) => {
            session.conn.untagged(&format!("QUOTA \"\" {resources}"));
            Ok(Reply::Ok("Getquota completed".into()))
        }
        None => Ok(Reply::No("[NONEXISTENT] No such quota root".into())),
    }
}

pub async fn get_quota_root(session: &mut Session, mailbox: &str) -> Outcome {
    let Some(user) = session.user.as_ref().map(|u| u.id) else {
        return Ok(Reply::Bad("Log in first".into()));
    };
    match session.store().get_mailbox(user, mailbox).await {
        Ok(_) => {}
        Err(Error::Mailbox(MailboxError::NotFound)) => {
            return Ok(Reply::No("[NONEXISTENT] No such mailbox".into()));
        }
        Err(e) => return Err(e.into()),
    }
    let name = wire_name(mailbox, session.utf8);
    match storage(session).await? {
        Some(resources) => {
            session.conn.untagged(&format!("QUOTAROOT {name} \"\""));
            session.conn.untagged(&format!("QUOTA \"\" {resources}"));
        }
        None => session.conn.untagged(&format!("QUOTAROOT {name}")),
    }
    Ok(Reply::Ok("Getquotaroot completed".into()))
}

/// There is no administrator role over IMAP: quotas are set with the admin tools.
pub fn set_quota() -> Reply {
    Reply::No("[NOPERM] Quotas are set by the administrator, not over IMAP".into())
}
