//! The spam verdict of the MTA in front, read from the headers its scanner adds, as a score
//! 0–100 on WildDuck's scale (its mapping of rspamd actions: reject 75; rewrite subject, soft
//! reject, greylist 50; add header 25; no action 0), compared with a level: at or above it the
//! message is spam and goes to the Junk folder (unless a filter decides otherwise).
//!
//! Read, first field of each name only (the one the nearest MTA put on top):
//! - `X-Rspamd-Action`: the action, mapped as above;
//! - `X-Rspamd-Spam`, `X-Spam-Flag`, `X-Spam` (`yes`/`true`) and SpamAssassin's
//!   `X-Spam-Status: Yes, score=…`: the scanner's own yes/no, 100 or 0;
//! - `X-Rspamd-Score`, `X-Spam-Score`: a raw score, 100 at or above `score_threshold`, else 0.
//!
//! The highest of them counts. The MTA must remove these fields from what it receives (rspamd
//! and SpamAssassin milters do), or a sender could write their own verdict; where it does not,
//! set `trust_headers` off.

use super::matching::MessageFacts;

#[derive(Clone, Debug, PartialEq)]
pub struct SpamPolicy {
    /// Read the MTA's verdict headers at all.
    pub trust_headers: bool,
    /// 0: every message is spam; 100: none is; else spam from this score up.
    pub level: u8,
    /// A raw `X-Spam-Score`/`X-Rspamd-Score` at or above this is spam.
    pub score_threshold: f64,
}

impl Default for SpamPolicy {
    fn default() -> Self {
        Self {
            trust_headers: true,
            level: 50,
            score_threshold: 5.0,
        }
    }
}

impl SpamPolicy {
    /// Whether a message with these headers is spam under this policy.
    pub(crate) fn is_spam(&self, facts: &MessageFacts) -> bool {
        match self.level {
            0 => true,
            100.. => false,
            level => self.trust_headers && header_score(facts, self.score_threshold) >= level,
        }
    }
}

/// The highest verdict the message's scanner headers give, 0 when there is none.
fn header_score(facts: &MessageFacts, score_threshold: f64) -> u8 {
    let action = facts
        .header("x-rspamd-action")
        .map(|action| match action.trim() {
            "reject" => 75,
            "rewrite subject" | "soft reject" | "greylist" => 50,
            "add header" => 25,
            _ => 0,
        });
    let yes = |value: &str| {
        let word = value.trim().split([',', ' ', ';']).next().unwrap_or("");
        if matches!(word, "yes" | "true") {
            100
        } else {
            0
        }
    };
    let flags = ["x-rspamd-spam", "x-spam-flag", "x-spam", "x-spam-status"]
        .into_iter()
        .filter_map(|name| facts.header(name).map(yes));
    let scores = ["x-rspamd-score", "x-spam-score"]
        .into_iter()
        .filter_map(|name| facts.header(name))
        .filter_map(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        .map(|score| if score >= score_threshold { 100 } else { 0 });
    action
        .into_iter()
        .chain(flags)
        .chain(scores)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(headers: &str) -> u8 {
        let raw = format!("{headers}Subject: x\r\n\r\nbody\r\n");
        header_score(&MessageFacts::new(raw.as_bytes(), false), 5.0)
    }

    #[test]
    fn scanner_headers_map_to_wildducks_scale() {
        let rows = [
            ("", 0),
            ("X-Rspamd-Action: reject\r\n", 75),
            ("X-Rspamd-Action: rewrite subject\r\n", 50),
            ("X-Rspamd-Action: soft reject\r\n", 50),
            ("X-Rspamd-Action: greylist\r\n", 50),
            ("X-Rspamd-Action: add header\r\n", 25),
            ("X-Rspamd-Action: no action\r\n", 0),
            ("X-Rspamd-Spam: yes\r\n", 100),
            ("X-Rspamd-Spam: no\r\n", 0),
            ("X-Spam-Flag: YES\r\n", 100),
            ("X-Spam: Yes\r\n", 100),
            ("X-Spam-Status: Yes, score=7.1 required=5.0\r\n", 100),
            ("X-Spam-Status: No, score=1.0 required=5.0\r\n", 0),
            ("X-Spam-Score: 5.0\r\n", 100),
            ("X-Rspamd-Score: 4.99 / 15.00\r\n", 0),
            ("X-Spam-Score: not a number\r\n", 0),
            // The highest verdict counts.
            ("X-Rspamd-Action: add header\r\nX-Spam-Flag: YES\r\n", 100),
            // Only the topmost field of a name: the nearest MTA's.
            ("X-Spam-Flag: NO\r\nX-Spam-Flag: YES\r\n", 0),
        ];
        for (headers, expected) in rows {
            assert_eq!(score(headers), expected, "{headers:?}");
        }
    }

    #[test]
    fn the_level_decides_and_untrusted_headers_count_for_nothing() {
        let facts = MessageFacts::new(
            b"X-Rspamd-Action: rewrite subject\r\nSubject: x\r\n\r\n",
            false,
        );
        let clean = MessageFacts::new(b"Subject: x\r\n\r\n", false);
        let policy = |level, trust_headers| SpamPolicy {
            trust_headers,
            level,
            score_threshold: 5.0,
        };
        assert!(policy(50, true).is_spam(&facts));
        assert!(!policy(51, true).is_spam(&facts));
        assert!(!policy(50, false).is_spam(&facts));
        assert!(policy(0, false).is_spam(&clean));
        assert!(!policy(100, true).is_spam(&facts));
        assert!(!policy(1, true).is_spam(&clean));
    }
}
