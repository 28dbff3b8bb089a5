//! `wildduck-bench`: a load tool for any IMAP/POP3 server on loopback. Raw protocol over
//! TCP with a minimal client, so the server, not the tool, is what gets measured.

mod client;
mod corpus;
mod error;
mod imap;
mod pop3;
mod stats;
mod workloads;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::client::ClientStyle;
use crate::error::{Result, bail};
use crate::workloads::{Accounts, Bounds, Op, SearchWords};

#[derive(Parser)]
#[command(
    name = "wildduck-bench",
    about = "Load an IMAP/POP3 server on loopback and report latency percentiles"
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Target {
    /// Server host; must be a loopback address.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,
    /// IMAP port.
    #[arg(long, global = true, default_value_t = 1143)]
    port: u16,
    /// POP3 port (for pop3_retr).
    #[arg(long, global = true)]
    pop3_port: Option<u16>,
    /// Account name; `%d` is replaced by the account number 0..users.
    #[arg(long, global = true, default_value = "bench%d")]
    user: String,
    /// Number of accounts the connections are spread over.
    #[arg(long, global = true, default_value_t = 1)]
    users: usize,
    #[arg(long, global = true, default_value = "secret")]
    password: String,
    /// Mailbox the operations work on.
    #[arg(long, global = true, default_value = "INBOX")]
    mailbox: String,
    /// Word for SEARCH SUBJECT.
    #[arg(long, global = true, default_value = "report")]
    header_word: String,
    /// Word for SEARCH BODY.
    #[arg(long, global = true, default_value = "consequat")]
    body_word: String,
    /// Socket behaviour of the clients: `stock` leaves Nagle's algorithm on, as stock mail
    /// clients do; `tuned` sets TCP_NODELAY.
    #[arg(long, global = true, value_enum, default_value_t = ClientStyle::Stock)]
    client: ClientStyle,
}

#[derive(Subcommand)]
enum Command {
    /// Timed phases, one per operation, each on K connections.
    Load {
        /// Comma-separated operations: append, select, fetch_flags, fetch_envelope,
        /// fetch_bodystructure, fetch_body, fetch_partial, store, search_header,
        /// search_body, pop3_retr, idle.
        #[arg(
            long,
            default_value = "append,select,fetch_flags,fetch_envelope,fetch_bodystructure,fetch_body,fetch_partial,store,search_header,search_body,idle"
        )]
        ops: String,
        /// Concurrent connections per phase.
        #[arg(short = 'k', long, default_value_t = 4)]
        connections: usize,
        /// Most operations per phase.
        #[arg(short = 'n', long, default_value_t = 2000)]
        count: u64,
        /// Most seconds per phase.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Messages to APPEND (mbox); without it, small synthetic messages.
        #[arg(long)]
        mbox: Option<String>,
    },
    /// SELECT, UID FETCH 1:* (FLAGS), UID SEARCH (header, body), STATUS of every folder,
    /// repeated on each mailbox named.
    Scale {
        /// Comma-separated mailboxes.
        #[arg(long)]
        mailboxes: String,
        #[arg(long, default_value_t = 5)]
        repeat: u64,
        /// Most seconds per operation and mailbox.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
    },
    /// Open K authenticated connections, print `READY n`, keep them open.
    Hold {
        #[arg(short = 'k', long, default_value_t = 1000)]
        connections: usize,
        /// Most logins in flight at once (a burst of password hashes costs memory too).
        #[arg(long, default_value_t = 4)]
        parallel_logins: usize,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// APPEND one big message (incompressible base64 attachment), keep the session open a
    /// moment so a sampler sees the server's memory.
    BigAppend {
        #[arg(long, default_value_t = 50)]
        size_mb: usize,
        #[arg(long, default_value_t = 1.0)]
        hold_seconds: f64,
    },
}

/// Resolves `host` and refuses anything that is not loopback.
async fn loopback(host: &str, port: u16) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port)).await?.collect(),
    };
    match addrs.first() {
        Some(addr) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*addr),
        Some(_) => bail!("{host} is not a loopback address; this tool only loads local servers"),
        None => bail!("{host} did not resolve"),
    }
}

fn seconds(value: f64) -> Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) => Ok(d),
        Err(_) => bail!("bad number of seconds: {value}"),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let target = &cli.target;
    let accounts = Accounts {
        imap: loopback(&target.host, target.port).await?,
        pop3: match target.pop3_port {
            Some(port) => Some(loopback(&target.host, port).await?),
            None => None,
        },
        user_pattern: target.user.clone(),
        users: target.users,
        password: target.password.clone(),
        style: target.client,
    };
    let words = SearchWords {
        header: target.header_word.clone(),
        body: target.body_word.clone(),
    };
    let results = match cli.command {
        Command::Load {
            ops,
            connections,
            count,
            seconds: limit,
            mbox,
        } => {
            if connections == 0 {
                bail!("-k must be at least 1");
            }
            let corpus = Arc::new(match mbox {
                Some(path) => corpus::read_mbox(&path)?,
                None => corpus::synthetic(1000),
            });
            let bounds = Bounds {
                count,
                time: seconds(limit)?,
            };
            let mut results = Vec::new();
            for name in ops.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let result = if name == "idle" {
                    // Each wake-up is one round trip; a tenth of the count is plenty.
                    let idle_bounds = Bounds {
                        count: (count / 10).max(1),
                        ..bounds
                    };
                    workloads::idle_latency(&accounts, idle_bounds, &target.mailbox, &corpus)
                        .await?
                } else {
                    let op = Op::parse(name)?;
                    workloads::run_phase(
                        &accounts,
                        op,
                        connections,
                        bounds,
                        &target.mailbox,
                        &words,
                        corpus.clone(),
                    )
                    .await?
                };
                if !cli.json {
                    eprintln!("done: {name}");
                }
                results.push(result);
            }
            results
        }
        Command::Scale {
            mailboxes,
            repeat,
            seconds: limit,
        } => {
            let mailboxes: Vec<String> = mailboxes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            workloads::scale(&accounts, &mailboxes, repeat, seconds(limit)?, &words).await?
        }
        Command::Hold {
            connections,
            parallel_logins,
            seconds: limit,
        } => {
            workloads::hold(&accounts, connections, parallel_logins, seconds(limit)?).await?;
            return Ok(());
        }
        Command::BigAppend {
            size_mb,
            hold_seconds,
        } => {
            let size = size_mb.saturating_mul(1024 * 1024);
            vec![
                workloads::big_append(&accounts, &target.mailbox, size, seconds(hold_seconds)?)
                    .await?,
            ]
        }
    };
    stats::print_report(&results, cli.json);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wildduck-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::from(70);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wildduck-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_non_loopback_hosts() {
        assert!(loopback("127.0.0.1", 143).await.is_ok());
        assert!(loopback("::1", 143).await.is_ok());
        assert!(loopback("192.0.2.1", 143).await.is_err());
        assert!(loopback("8.8.8.8", 143).await.is_err());
    }
}
