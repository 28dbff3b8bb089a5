//! A minimal IMAP client: tagged commands, literals skipped by length, nothing parsed that
//! the benchmark does not need (so the client stays cheap next to the server).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::client::ClientStyle;
use crate::error::{Result, bail};

/// What a command's responses held, as far as the benchmark cares.
#[derive(Debug, Default)]
pub struct Reply {
    /// The tagged status was OK.
    pub ok: bool,
    /// The tagged line, for error messages.
    pub tagged: String,
    /// Literal bytes received (message data).
    pub literal_bytes: u64,
    /// The last `* n EXISTS` seen.
    pub exists: Option<u32>,
    /// Untagged lines (without literals), only when asked for.
    pub untagged: Vec<String>,
}

pub struct Imap {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_tag: u64,
    line: Vec<u8>,
    sink: Vec<u8>,
}

/// `{n}` or `{n+}` at the end of a line (CRLF removed) gives the literal length that follows.
fn literal_length(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `* n EXISTS` gives n.
fn exists_count(line: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let text = std::str::from_utf8(rest).ok()?;
    let (count, word) = text.split_once(' ')?;
    if word.eq_ignore_ascii_case("EXISTS") {
        count.parse().ok()
    } else {
        None
    }
}

impl Imap {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr, style: ClientStyle) -> Result<Self> {
        let stream = style.connect(addr).await?;
        let (read, write) = stream.into_split();
        let mut imap = Imap {
            reader: BufReader::with_capacity(64 * 1024, read),
            writer: write,
            next_tag: 0,
            line: Vec::with_capacity(1024),
            sink: vec![0; 64 * 1024],
        };
        imap.read_line().await?;
        if !imap.line.starts_with(b"* OK") {
            bail!("greeting: {}", String::from_utf8_lossy(&imap.line));
        }
        Ok(imap)
    }

    /// Connects and logs in; a refused login is an error.
    pub async fn login(
        addr: SocketAddr,
        style: ClientStyle,
        user: &str,
        password: &str,
    ) -> Result<Self> {
        let mut imap = Self::connect(addr, style).await?;
        let reply = imap
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .await?;
        if !reply.ok {
            bail!("login {user}: {}", reply.tagged);
        }
        Ok(imap)
    }

    /// Reads one line (up to LF) into `self.line`, CRLF removed.
    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(())
    }

    /// Reads and discards `len` literal bytes.
    async fn skip_literal(&mut self, mut len: u64) -> Result<()> {
        while len > 0 {
            let chunk = len.min(self.sink.len() as u64) as usize;
            self.reader.read_exact(&mut self.sink[..chunk]).await?;
            len -= chunk as u64;
        }
        Ok(())
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("b{}", self.next_tag)
    }

    /// Reads responses until the tagged one for `tag`.
    async fn read_until_tagged(&mut self, tag: &str, collect: bool) -> Result<Reply> {
        let mut reply = Reply::default();
        loop {
            self.read_line().await?;
            let mut logical = if collect {
                self.line.clone()
            } else {
                Vec::new()
            };
            // A response line may carry several literals; each is followed by more line.
            while let Some(len) = literal_length(&self.line) {
                reply.literal_bytes += len;
                self.skip_literal(len).await?;
                self.read_line().await?;
                if collect {
                    logical.extend_from_slice(&self.line);
                }
            }
            if let Some(count) = exists_count(&self.line) {
                reply.exists = Some(count);
            }
            if let Some(rest) = self.line.strip_prefix(tag.as_bytes())
                && rest.first() == Some(&b' ')
            {
                reply.ok = rest[1..].starts_with(b"OK");
                reply.tagged = String::from_utf8_lossy(&self.line).into_owned();
                return Ok(reply);
            }
            if collect && self.line.starts_with(b"* ") {
                reply
                    .untagged
                    .push(String::from_utf8_lossy(&logical).into_owned());
            }
        }
    }

    /// Sends one command (without tag and CRLF) and reads its responses.
    pub async fn command(&mut self, text: &str) -> Result<Reply> {
        self.run(text, false).await
    }

    /// Like `command`, and keeps the untagged lines.
    pub async fn command_collect(&mut self, text: &str) -> Result<Reply> {
        self.run(text, true).await
    }

    async fn run(&mut self, text: &str, collect: bool) -> Result<Reply> {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        self.read_until_tagged(&tag, collect).await
    }

    /// APPENDs `message` to `mailbox` with a synchronizing literal.
    pub async fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<Reply> {
        let tag = self.tag();
        let head = format!("{tag} APPEND {} {{{}}}\r\n", quote(mailbox), message.len());
        self.writer.write_all(head.as_bytes()).await?;
        self.read_line().await?;
        if !self.line.starts_with(b"+") {
            // The server refused the literal (too big, over quota): the tagged answer is here.
            return Ok(Reply {
                ok: false,
                tagged: String::from_utf8_lossy(&self.line).into_owned(),
                ..Reply::default()
            });
        }
        self.writer.write_all(message).await?;
        self.writer.write_all(b"\r\n").await?;
        self.read_until_tagged(&tag, false).await
    }

    /// Starts IDLE and waits for the continuation; returns the tag to end it with.
    pub async fn idle_start(&mut self) -> Result<String> {
        let tag = self.tag();
        self.writer
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        loop {
            self.read_line().await?;
            if self.line.starts_with(b"+") {
                return Ok(tag);
            }
            if self.line.starts_with(tag.as_bytes()) {
                bail!("IDLE refused: {}", String::from_utf8_lossy(&self.line));
            }
        }
    }

    /// During IDLE, waits until `* n EXISTS` with n > `known`, up to `limit`.
    pub async fn idle_wait_exists(&mut self, known: u32, limit: Duration) -> Result<u32> {
        let wait = async {
            loop {
                self.read_line().await?;
                if let Some(n) = exists_count(&self.line)
                    && n > known
                {
                    return Ok(n);
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(result) => result,
            Err(_) => bail!("no EXISTS within {limit:?} during IDLE"),
        }
    }

    /// Ends IDLE with DONE and reads the tagged answer.
    pub async fn idle_done(&mut self, tag: &str) -> Result<Reply> {
        self.writer.write_all(b"DONE\r\n").await?;
        self.read_until_tagged(tag, false).await
    }

    /// LOGOUT, ignoring a server that already closed.
    pub async fn logout(mut self) {
        let _ = self.command("LOGOUT").await;
    }
}

/// An IMAP quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {42}"), Some(42));
        assert_eq!(literal_length(b"A1 APPEND x {7+}"), Some(7));
        assert_eq!(literal_length(b"* 1 FETCH (FLAGS ())"), None);
        assert_eq!(literal_length(b"* OK {x}"), None);
    }

    #[test]
    fn exists_lines() {
        assert_eq!(exists_count(b"* 17 EXISTS"), Some(17));
        assert_eq!(exists_count(b"* 17 exists"), Some(17));
        assert_eq!(exists_count(b"* 17 RECENT"), None);
        assert_eq!(exists_count(b"b1 OK done"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
