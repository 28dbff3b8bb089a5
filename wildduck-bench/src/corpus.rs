//! Messages to APPEND: split from an mbox (as `gen_mbox.py` writes it), or made up.

use crate::error::{Result, bail};

/// The messages of an mbox file, `From ` separator lines removed, `>From ` unquoted
/// (mboxrd), line ends turned into CRLF as IMAP clients send them.
pub fn read_mbox(path: &str) -> Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path)?;
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            messages.extend(current.take());
            current = Some(Vec::new());
            continue;
        }
        let Some(message) = current.as_mut() else {
            bail!("{path}: not an mbox (no `From ` line first)");
        };
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let unquoted = match text.iter().position(|&b| b != b'>') {
            Some(depth) if depth > 0 && text[depth..].starts_with(b"From ") => &text[1..],
            _ => text,
        };
        message.extend_from_slice(unquoted);
        message.extend_from_slice(b"\r\n");
    }
    messages.extend(current);
    // The separator's blank line belongs to the mbox, not to the message.
    for message in &mut messages {
        if message.ends_with(b"\r\n\r\n") {
            message.truncate(message.len() - 2);
        }
    }
    if messages.is_empty() {
        bail!("{path}: no messages");
    }
    Ok(messages)
}

/// A small plain-text message, for runs without an mbox.
pub fn synthetic(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            format!(
                "From: Bench Sender <sender@example.com>\r\nTo: user@example.com\r\n\
                 Subject: bench message {i} quarterly report\r\n\
                 Date: Mon, 2 Jan 2023 08:00:00 +0000\r\nMessage-ID: <bench-{i}@example.com>\r\n\r\n\
                 Hello, this is message {i}. lorem ipsum dolor sit amet consequat.\r\n"
            )
            .into_bytes()
        })
        .collect()
}

/// A message of about `size` bytes with one base64 attachment of pseudo-random (so
/// incompressible) bytes.
pub fn big_message(size: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(size + 1024);
    out.extend_from_slice(
        b"From: Bench <bench@example.com>\r\nTo: user@example.com\r\nSubject: big\r\n\
          Date: Mon, 2 Jan 2023 08:00:00 +0000\r\nMIME-Version: 1.0\r\n\
          Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
          Content-Type: text/plain\r\n\r\nSee attachment.\r\n--b\r\n\
          Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
          Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n",
    );
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < size {
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(ALPHABET[(state & 63) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--b--\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_an_mbox() {
        let dir = std::env::temp_dir().join(format!("wildduck-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.mbox");
        std::fs::write(
            &path,
            b"From a@b Mon Jan  2 08:00:00 2023\nSubject: one\n\n>From here\n\nFrom a@b Mon Jan  2 08:00:00 2023\nSubject: two\n\nbody\n",
        )
        .unwrap();
        let messages = read_mbox(path.to_str().unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            messages,
            vec![
                b"Subject: one\r\n\r\nFrom here\r\n".to_vec(),
                b"Subject: two\r\n\r\nbody\r\n".to_vec()
            ]
        );
    }

    #[test]
    fn refuses_a_file_that_is_no_mbox() {
        let dir = std::env::temp_dir().join(format!("wildduck-bench-n-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.txt");
        std::fs::write(&path, b"Subject: x\n").unwrap();
        let result = read_mbox(path.to_str().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(result.is_err());
    }

    #[test]
    fn big_message_has_the_size_asked() {
        let message = big_message(100_000);
        assert!(message.len() >= 100_000 && message.len() < 100_200);
    }
}
