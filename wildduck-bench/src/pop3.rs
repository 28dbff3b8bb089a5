//! A minimal POP3 client: USER/PASS, STAT, RETR (multi-line answers counted, not kept).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::client::ClientStyle;
use crate::error::{Result, bail};

pub struct Pop3 {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: Vec<u8>,
}

impl Pop3 {
    /// Connects, reads the greeting and logs in with USER/PASS.
    pub async fn login(
        addr: SocketAddr,
        style: ClientStyle,
        user: &str,
        password: &str,
    ) -> Result<Self> {
        let stream = style.connect(addr).await?;
        let (read, write) = stream.into_split();
        let mut pop = Pop3 {
            reader: BufReader::with_capacity(64 * 1024, read),
            writer: write,
            line: Vec::with_capacity(1024),
        };
        pop.expect_ok("greeting").await?;
        pop.single(&format!("USER {user}")).await?;
        pop.single(&format!("PASS {password}")).await?;
        Ok(pop)
    }

    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        if self.reader.read_until(b'\n', &mut self.line).await? == 0 {
            bail!("server closed the connection");
        }
        Ok(())
    }

    async fn expect_ok(&mut self, what: &str) -> Result<()> {
        self.read_line().await?;
        if !self.line.starts_with(b"+OK") {
            bail!("{what}: {}", String::from_utf8_lossy(&self.line).trim_end());
        }
        Ok(())
    }

    /// A command with a one-line answer; returns that line.
    async fn single(&mut self, command: &str) -> Result<String> {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .await?;
        let verb = command.split(' ').next().unwrap_or(command);
        self.expect_ok(verb).await?;
        Ok(String::from_utf8_lossy(&self.line).trim_end().to_string())
    }

    /// STAT: the number of messages.
    pub async fn count(&mut self) -> Result<u32> {
        let line = self.single("STAT").await?;
        match line.split(' ').nth(1).and_then(|n| n.parse().ok()) {
            Some(n) => Ok(n),
            None => bail!("STAT: {line}"),
        }
    }

    /// RETR n: returns the bytes of the message as sent (dot-stuffed lines included).
    pub async fn retr(&mut self, number: u32) -> Result<u64> {
        self.single(&format!("RETR {number}")).await?;
        let mut bytes = 0u64;
        loop {
            self.read_line().await?;
            if self.line == b".\r\n" || self.line == b".\n" {
                return Ok(bytes);
            }
            bytes += self.line.len() as u64;
        }
    }

    pub async fn quit(mut self) {
        let _ = self.single("QUIT").await;
    }
}
