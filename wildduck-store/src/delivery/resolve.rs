//! Recipient resolution: which user a delivery address reaches, in WildDuck's order.
//!
//! 1. The exact address, 2. without its `+tag`, 3. with the dots of its local part ignored:
//!    all three share one key, the stored `addrview` (lower case, NFC, Unicode domain, dots
//!    and tag removed; see `accounts::normalize_address`), and that key is unique, so one
//!    lookup answers them and no two stored addresses can compete. Punycode domains
//!    (`xn--…`) become Unicode on the way, so an internationalized address typed either way
//!    finds the same record.
//! 4. Domain aliases (`crate::domains`): steps 1–3, then 5, repeat with the domain the
//!    address's domain is an alias of (WildDuck tries the alias domain after the exact
//!    lookup and its wildcards after the domain's own).
//! 5. Wildcard addresses of the domain: `prefix*`, `*suffix`, then `*`. The longest fixed
//!    part wins; at equal length a prefix beats a suffix (WildDuck's ranking).
//! 6. Nothing: unknown recipient.

use crate::accounts::{self, MAX_WILDCARD_FIXED_CHARS};
use crate::backend::Backend;
use crate::error::{AddressError, AuthError, Result};
use crate::model::{Address, User};

/// The stored address `input` reaches and its user. `AddressError::Invalid` for a malformed
/// address, `AddressError::NotFound` for an unknown one, `AuthError::Disabled` when the user
/// it reaches is disabled.
pub(crate) async fn resolve(backend: &dyn Backend, input: &str) -> Result<(Address, User)> {
    let view = accounts::normalize_address(input)?.addrview;
    let aliased = crate::domains::aliased_view(backend, &view).await?;
    let views = std::iter::once(&view).chain(aliased.as_ref());
    let mut matched = None;
    for exact in views.clone() {
        matched = matched.or(backend.address_by_view(exact).await?);
    }
    for wildcard in views {
        if matched.is_none() {
            matched = best_wildcard(backend, wildcard).await?;
        }
    }
    let matched = matched.ok_or(AddressError::NotFound)?;
    // An address whose user went away between the two reads is as unknown as none.
    let user = backend
        .user_by_id(matched.user)
        .await?
        .ok_or(AddressError::NotFound)?
        .user;
    if user.disabled {
        return Err(AuthError::Disabled.into());
    }
    Ok((matched, user))
}

/// The wildcard address of the view's domain that matches its local part best, if any.
async fn best_wildcard(backend: &dyn Backend, view: &str) -> Result<Option<Address>> {
    let candidates = wildcard_candidates(view);
    let found = backend.addresses_by_views(candidates.clone()).await?;
    Ok(found.into_iter().min_by_key(|address| {
        candidates
            .iter()
            .position(|candidate| *candidate == address.addrview)
            .unwrap_or(usize::MAX)
    }))
}

/// The wildcard views that could match `view` (`local@domain`), best first: for fixed parts
/// from the longest allowed down to one character, `prefix*@domain` then `*suffix@domain`;
/// last `*@domain`.
fn wildcard_candidates(view: &str) -> Vec<String> {
    let Some((local, domain)) = view.rsplit_once('@') else {
        return Vec::new();
    };
    let chars: Vec<char> = local.chars().collect();
    let longest = chars.len().min(MAX_WILDCARD_FIXED_CHARS);
    let mut candidates = Vec::with_capacity(2 * longest + 1);
    for fixed in (1..=longest).rev() {
        let prefix: String = chars[..fixed].iter().collect();
        let suffix: String = chars[chars.len() - fixed..].iter().collect();
        candidates.push(format!("{prefix}*@{domain}"));
        candidates.push(format!("*{suffix}@{domain}"));
    }
    candidates.push(format!("*@{domain}"));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_go_from_the_longest_fixed_part_to_the_catch_all() {
        assert_eq!(
            wildcard_candidates("ann@example.com"),
            [
                "ann*@example.com",
                "*ann@example.com",
                "an*@example.com",
                "*nn@example.com",
                "a*@example.com",
                "*n@example.com",
                "*@example.com",
            ]
        );
    }

    #[test]
    fn candidates_cut_on_characters_and_at_the_wildcard_limit() {
        let unicode = wildcard_candidates("ülo@bücher.de");
        assert_eq!(unicode[0], "ülo*@bücher.de");
        assert_eq!(unicode[5], "*o@bücher.de");
        let long = format!("{}@example.com", "x".repeat(MAX_WILDCARD_FIXED_CHARS + 10));
        let candidates = wildcard_candidates(&long);
        assert_eq!(candidates.len(), 2 * MAX_WILDCARD_FIXED_CHARS + 1);
        assert_eq!(
            candidates[0],
            format!("{}*@example.com", "x".repeat(MAX_WILDCARD_FIXED_CHARS))
        );
    }
}
