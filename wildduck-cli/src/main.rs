//! `wildduck`: runs the mail servers (`serve`) and administers the store (everything else).
//!
//! Exit codes follow BSD sysexits so scripts and MTAs can act on them; see `error.rs`.

mod commands;
mod config;
mod dates;
mod error;
mod first_run;
mod formats;
mod output;
mod progress;
mod serve;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::Ctx;
use crate::config::Config;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

/// Each password check allocates argon2id's 19 MiB work area. glibc raises its mmap threshold
/// to the size of every mmapped block freed (up to 32 MiB), so after the first login those
/// areas come from the per-thread heap arenas instead, and a freed area at an arena's top stays
/// resident (~1.2 MiB per connection at 1,000 connections, more with more logins in flight). A
/// fixed threshold turns that adjustment off: blocks of 1 MiB and more get their own mapping and
/// go back to the system when freed, at the cost of one mmap and fresh pages per big block.
/// Fixing it also leaves the trim threshold at its 128 KiB default, so an arena gave back
/// its free top after nearly every FETCH of a larger message and faulted the pages in again
/// on the next (half the page faults of a BODY[] load run); an arena now keeps up to the same
/// 1 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_big_blocks_to_the_system() {
    const THRESHOLD: libc::c_int = 1 << 20;
    // SAFETY: mallopt only tunes the allocator; it runs first in main, before any other thread.
    unsafe {
        let _ = libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        let _ = libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_big_blocks_to_the_system() {}

#[derive(Parser)]
#[command(
    name = "wildduck",
    version,
    about = "WildDuck mail server: IMAP and POP3 over a database store, and its admin tool",
    after_help = "Exit codes: 0 ok, 64 usage, 65 bad data, 66 not found, 67 no such user, \
                  69 can not listen, 70 internal error, 73 already exists / can not create, 74 I/O error, \
                  75 temporary failure (retry), 77 not permitted, 78 configuration error."
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = config::CONFIG_FILE_VAR, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the result, or the error, as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the IMAP, POP3, SMTP submission, LMTP and API servers until SIGINT or SIGTERM. On an empty store, first create
    /// an account and print its username and password.
    Serve,
    /// Show or check the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Manage a user's application-specific passwords (one per mail client).
    #[command(subcommand)]
    Asp(commands::asp::AspCommand),
    /// Manage a user's delivery filters (seen, flag, delete, spam, mailbox, forward).
    #[command(subcommand)]
    Filter(commands::filter::FilterCommand),
    /// Set, show or remove a user's vacation reply.
    #[command(subcommand)]
    Autoreply(commands::autoreply::AutoreplyCommand),
    /// Manage where a user's mail is forwarded (addresses, smtp:// relays, http:// URLs).
    #[command(subcommand)]
    Forward(commands::forward::ForwardCommand),
    /// Manage the addresses that deliver to a user, and forwarded addresses.
    #[command(subcommand)]
    Address(commands::address::AddressCommand),
    /// Manage a user's mailboxes.
    #[command(subcommand)]
    Mailbox(commands::mailbox::MailboxCommand),
    /// Look at, export or delete single messages.
    #[command(subcommand)]
    Message(commands::message::MessageCommand),
    /// Import mbox files, Maildirs or .eml files into a user's mailbox.
    Import(commands::import::ImportArgs),
    /// Export a mailbox (or all of a user's) to mbox or Maildir.
    Export(commands::export::ExportArgs),
    /// Deliver one message from stdin (for an MTA, like dovecot-lda).
    Deliver(commands::deliver::DeliverArgs),
    /// Look at the outbound queue (mail submitted and waiting for the relay).
    #[command(subcommand)]
    Queue(commands::queue::QueueCommand),
    /// Manage the per-domain DKIM keys outgoing mail is signed with.
    #[command(subcommand)]
    Dkim(commands::dkim::DkimCommand),
    /// Copy a whole store into another (embedded directory or mongodb:// URI), keeping
    /// UIDVALIDITY, UIDs, MODSEQs and flags; resumable; verifies both ends.
    Migrate(commands::migrate::MigrateArgs),
    /// Counts of users, mailboxes, messages; raw and stored bytes.
    Stats,
    /// Check quota counters, blob references and UID/MODSEQ order.
    Verify {
        /// Fix what is found.
        #[arg(long)]
        repair: bool,
    },
    /// Delete content no message refers to any more.
    Gc {
        /// Keep unreferenced content younger than this many seconds.
        #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
        grace: u64,
    },
    /// Copy the embedded store into DIR while servers keep running. To restore, stop
    /// `serve` and use DIR as the data directory.
    Backup {
        /// A new or empty directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as TOML (secrets masked).
    Print,
    /// Check the configuration (and TLS files) and exit 0 if it is usable.
    Check,
}

fn main() -> ExitCode {
    return_big_blocks_to_the_system();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let as_json = cli.json;
    let outcome = std::panic::catch_unwind(move || run(cli));
    let result = match outcome {
        Ok(result) => result,
        // The panic message is already on stderr.
        Err(_) => Err(CliError::new(
            ErrorKind::Software,
            "internal error (see above)",
        )),
    };
    match result {
        Ok(report) => {
            output::print_report(&report, as_json);
            ExitCode::SUCCESS
        }
        Err(err) => {
            output::print_error(&err, as_json);
            ExitCode::from(err.kind.exit_code())
        }
    }
}

/// Help and version go to stdout with 0; real parse errors exit with EX_USAGE.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as ClapKind;
    if matches!(err.kind(), ClapKind::DisplayHelp | ClapKind::DisplayVersion) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        let message = err.render().to_string();
        let first_line = message
            .lines()
            .next()
            .unwrap_or("usage error")
            .trim_start_matches("error: ");
        output::print_error(&CliError::new(ErrorKind::Usage, first_line), true);
    } else {
        let _ = err.print();
    }
    ExitCode::from(ErrorKind::Usage.exit_code())
}

fn run(cli: Cli) -> CliResult<Report> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    config.validate()?;
    init_logging(&config, matches!(cli.command, Command::Serve));
    config.log_ignored_variables();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            CliError::new(
                ErrorKind::Software,
                format!("can not start the runtime: {err}"),
            )
        })?;
    let ctx = Ctx {
        config,
        json: cli.json,
    };
    runtime.block_on(dispatch(ctx, cli.command))
}

async fn dispatch(ctx: Ctx, command: Command) -> CliResult<Report> {
    match command {
        Command::Serve => serve::run(&ctx).await,
        Command::Config(ConfigCommand::Print) => commands::print_config(&ctx.config),
        Command::Config(ConfigCommand::Check) => commands::check_config(&ctx.config),
        Command::User(cmd) => commands::user::run(&ctx, cmd).await,
        Command::Asp(cmd) => commands::asp::run(&ctx, cmd).await,
        Command::Filter(cmd) => commands::filter::run(&ctx, cmd).await,
        Command::Autoreply(cmd) => commands::autoreply::run(&ctx, cmd).await,
        Command::Forward(cmd) => commands::forward::run(&ctx, cmd).await,
        Command::Address(cmd) => commands::address::run(&ctx, cmd).await,
        Command::Mailbox(cmd) => commands::mailbox::run(&ctx, cmd).await,
        Command::Message(cmd) => commands::message::run(&ctx, cmd).await,
        Command::Import(args) => commands::import::run(&ctx, args).await,
        Command::Export(args) => commands::export::run(&ctx, args).await,
        Command::Deliver(args) => commands::deliver::run(&ctx, args).await,
        Command::Migrate(args) => commands::migrate::run(&ctx, args).await,
        Command::Queue(cmd) => commands::queue::run(&ctx, cmd).await,
        Command::Dkim(cmd) => commands::dkim::run(&ctx, cmd).await,
        Command::Stats => commands::maint::stats(&ctx).await,
        Command::Verify { repair } => commands::maint::verify(&ctx, repair).await,
        Command::Gc { grace } => commands::maint::gc(&ctx, grace).await,
        Command::Backup { dir } => commands::maint::backup(&ctx, &dir).await,
    }
}

/// Logs go to stderr (stdout carries results); `RUST_LOG` overrides the configured level.
/// Admin commands log warnings only, unless asked.
fn init_logging(config: &Config, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default_level = if serving {
        config.log.level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
