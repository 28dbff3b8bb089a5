//! The login records `migrate` copies beside a user: application-specific passwords (with
//! their hashes, selectors and last use) and the TOTP record (the seed stays sealed: the
//! target needs the same `[totp] secret`). Both through the engines' ordinary traits, so
//! any engine pair works; a record the target has already (a resumed run) is left alone.

use crate::asps::MAX_ASPS_PER_USER;
use crate::backend::Backend;
use crate::error::Result;
use crate::model::UserId;

/// How many selectors an ASP can be filed under (`crate::asps::selector`: a sum mod 32).
const SELECTORS: u32 = 32;

pub(super) async fn copy(source: &dyn Backend, target: &dyn Backend, user: UserId) -> Result<()> {
    copy_asps(source, target, user).await?;
    copy_totp(source, target, user).await
}

async fn copy_asps(source: &dyn Backend, target: &dyn Backend, user: UserId) -> Result<()> {
    let present: Vec<_> = target
        .list_asps(user)
        .await?
        .into_iter()
        .map(|asp| asp.id)
        .collect();
    for selector in 0..SELECTORS {
        for record in source
            .asps_by_selector(user, &format!("{selector:x}"))
            .await?
        {
            if present.contains(&record.asp.id) {
                continue;
            }
            let (id, last_use, expires) = (
                record.asp.id,
                record.asp.last_use.clone(),
                record.asp.expires,
            );
            target.create_asp(record, MAX_ASPS_PER_USER).await?;
            if let Some(used) = last_use {
                target.record_asp_use(id, used, expires).await?;
            }
        }
    }
    Ok(())
}

async fn copy_totp(source: &dyn Backend, target: &dyn Backend, user: UserId) -> Result<()> {
    let Some(record) = source.totp(user).await? else {
        return Ok(());
    };
    // `false`: the target has an enabled record already.
    if !target.set_pending_totp(user, record.sealed_seed).await? {
        return Ok(());
    }
    if record.enabled {
        // An enabled record has the step of its enabling code at least.
        target
            .enable_totp(user, record.last_step.unwrap_or_default())
            .await?;
    }
    Ok(())
}
