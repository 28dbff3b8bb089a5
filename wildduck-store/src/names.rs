//! Mailbox path rules: what a valid path is, how `INBOX` is spelled, and a path's parents.

use unicode_normalization::UnicodeNormalization;

use crate::error::MailboxError;
use crate::model::PATH_SEPARATOR;

/// Longest path in bytes (UTF-8).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single hierarchy level in bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Deepest hierarchy.
pub const MAX_DEPTH: usize = 64;

/// The one spelling of the inbox.
pub const INBOX: &str = "INBOX";

/// Validates a path and returns its stored form: NFC, `INBOX` (as the first level) in upper
/// case.
pub fn normalize_path(path: &str) -> Result<String, MailboxError> {
    let invalid = |why: &str| MailboxError::InvalidName(why.to_string());
    let path: String = path.nfc().collect();
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid("too long"));
    }
    if path.chars().any(char::is_control) {
        return Err(invalid("control character"));
    }
    let mut segments: Vec<&str> = path.split(PATH_SEPARATOR).collect();
    if segments.len() > MAX_DEPTH {
        return Err(invalid("too deep"));
    }
    for segment in &segments {
        match *segment {
            "" => return Err(invalid("empty hierarchy level")),
            "." | ".." => return Err(invalid("'.' or '..' as a hierarchy level")),
            s if s.len() > MAX_SEGMENT_BYTES => return Err(invalid("hierarchy level too long")),
            _ => {}
        }
    }
    if segments[0].eq_ignore_ascii_case(INBOX) {
        segments[0] = INBOX;
    }
    Ok(segments.join(&PATH_SEPARATOR.to_string()))
}

/// The ancestors of a (normalized) path, outermost first: `a/b/c` → `a`, `a/b`.
pub fn parents(path: &str) -> Vec<String> {
    path.match_indices(PATH_SEPARATOR)
        .map(|(i, _)| path[..i].to_string())
        .collect()
}

/// Whether `path` is `ancestor` or lies below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path == ancestor
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with(PATH_SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_case_insensitive_only_at_the_top() {
        assert_eq!(normalize_path("inbox").unwrap(), "INBOX");
        assert_eq!(normalize_path("InBox/Sub").unwrap(), "INBOX/Sub");
        assert_eq!(normalize_path("Work/inbox").unwrap(), "Work/inbox");
        assert_eq!(normalize_path("INBOXES").unwrap(), "INBOXES");
    }

    #[test]
    fn unicode_is_kept_in_nfc() {
        assert_eq!(normalize_path("Pa\u{0308}ivä").unwrap(), "Päivä");
        assert_eq!(normalize_path("Входящие/邮件").unwrap(), "Входящие/邮件");
    }

    #[test]
    fn bad_names() {
        let long_segment = "x".repeat(MAX_SEGMENT_BYTES + 1);
        let long_path = vec!["abc"; 300].join("/");
        let deep = vec!["a"; MAX_DEPTH + 1].join("/");
        for bad in [
            "",
            "/",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/../b",
            "a/./b",
            "../INBOX",
            "a\0b",
            "a\r\nb",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}",
            &long_segment,
            &long_path,
            &deep,
        ] {
            assert!(
                matches!(normalize_path(bad), Err(MailboxError::InvalidName(_))),
                "{bad:?} accepted"
            );
        }
        assert!(normalize_path("a..b/.hidden/...").is_ok());
    }

    #[test]
    fn parents_and_within() {
        assert_eq!(parents("a/b/c"), vec!["a", "a/b"]);
        assert!(parents("a").is_empty());
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
    }
}
