//! The quota comparison: would `needed` more bytes pass the user's quota.

use crate::error::MessageError;

/// `OverQuota` when `used + needed` exceeds `quota`; no quota means no limit. The one
/// comparison of the facade's early check (`Store::check_append`) and of both engines'
/// checks inside the append, copy or move.
pub(crate) fn check_quota(used: u64, quota: Option<u64>, needed: u64) -> Result<(), MessageError> {
    match quota {
        Some(quota) if used.saturating_add(needed) > quota => Err(MessageError::OverQuota {
            used,
            needed,
            quota,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaching_the_quota_fits_and_passing_it_does_not() {
        assert_eq!(check_quota(60, Some(100), 40), Ok(()));
        assert_eq!(
            check_quota(60, Some(100), 41),
            Err(MessageError::OverQuota {
                used: 60,
                needed: 41,
                quota: 100
            })
        );
        assert_eq!(check_quota(u64::MAX, None, u64::MAX), Ok(()));
        assert!(check_quota(0, Some(0), 1).is_err());
    }
}
