//! `wildduck serve`: IMAP, POP3 and SMTP submission (plain and implicit-TLS listeners), LMTP
//! and the HTTP API, over one store in one process, until SIGINT or SIGTERM.
//!
//! The process's metrics recorder is installed first (served by the API's `GET /metrics`).
//! While running, a maintenance task trims the journal and collects unreferenced content,
//! and the relay worker delivers the outbound queue through `[outbound] relay`. SIGHUP reloads
//! the TLS certificates (`crate::tls`) without dropping a session.
//!
//! Shutdown: the watch channel turns true, every server sends BYE / `-ERR` to its sessions and
//! returns when they have ended; then the store is dropped. A second signal stops at once.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wildduck_store::Store;

use crate::commands::Ctx;
use crate::config::MaintenanceSection;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::first_run;
use crate::output::Report;
use crate::tls::Certificates;

type ServerFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// One listener to start: which protocol, where, and whether it is the implicit-TLS one.
struct Listener {
    protocol: &'static str,
    address: SocketAddr,
    implicit_tls: bool,
}

pub async fn run(ctx: &Ctx) -> CliResult<Report> {
    let config = &ctx.config;
    // Before any listener, so every connection and command is counted (`GET /metrics`).
    wildduck_net::metrics::install()
        .map_err(|err| CliError::new(ErrorKind::Software, format!("metrics: {err}")))?;
    let certificates = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(Arc::new(Certificates::load(cert, key)?)),
        _ => None,
    };
    let tls = certificates.as_ref().map(|c| c.acceptor());
    let store = ctx.store_creating().await?;
    tracing::info!("store opened in {}", config.store_location());
    if config.store.backend == "mongodb" && config.redis.url.is_none() {
        tracing::warn!("redis.url is unset: IDLE hears only changes made through this process");
    }
    if let Some(account) =
        first_run::ensure_account(&store, &config.initial_account, &config.server.hostname).await?
    {
        announce_account(ctx.json, &account);
    }

    if let Some(certificates) = &certificates {
        reload_certificates(certificates, &store, false).await;
    }

    // Handlers go in before anything listens, so an early signal is not lost.
    let mut signals = Signals::install()?;
    let mut hangup = install_signal(SignalKind::hangup())?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut servers: JoinSet<(&'static str, std::io::Result<()>)> = JoinSet::new();
    for listener in planned_listeners(ctx, tls.is_some()) {
        let socket = TcpListener::bind(listener.address).await.map_err(|err| {
            CliError::new(
                ErrorKind::Unavailable,
                format!(
                    "{}: can not listen on {}: {err}",
                    listener.protocol, listener.address
                ),
            )
        })?;
        let bound = socket.local_addr().unwrap_or(listener.address);
        announce_listener(ctx.json, &listener, bound);
        let server = start(
            ctx,
            &store,
            &listener,
            socket,
            tls.clone(),
            shutdown_rx.clone(),
        );
        let name = listener.protocol;
        servers.spawn(async move { (name, server.await) });
    }

    let relay = wildduck_lmtp::relay::run(
        store.clone(),
        config.outbound.clone(),
        config.server.hostname.clone(),
        shutdown_rx.clone(),
    );
    servers.spawn(async move { ("outbound relay", relay.await) });

    let webhooks = wildduck_lmtp::relay::webhooks::run(
        store.clone(),
        config.outbound.clone(),
        config.server.hostname.clone(),
        shutdown_rx.clone(),
    );
    servers.spawn(async move { ("webhooks", webhooks.await) });

    if config.maintenance.enabled {
        let maintenance = maintain(
            store.clone(),
            config.maintenance.clone(),
            shutdown_rx.clone(),
        );
        servers.spawn(async move { ("maintenance", maintenance.await) });
        let sweep = expire_messages(
            store.clone(),
            Duration::from_secs(config.maintenance.expiry_interval_secs),
            shutdown_rx.clone(),
        );
        servers.spawn(async move { ("message expiry", sweep.await) });
    }

    if let Some(certificates) = certificates.clone() {
        let refresh = refresh_stored_certificates(certificates, store.clone(), shutdown_rx.clone());
        servers.spawn(async move { ("certificate refresh", refresh.await) });
    }

    let failure = loop {
        tokio::select! {
            name = signals.next() => {
                tracing::info!("{name}: shutting down, sessions are told goodbye");
                break None;
            }
            Some(ended) = servers.join_next() => break Some(ended),
            Some(()) = hangup.recv() => match &certificates {
                Some(certificates) => reload_certificates(certificates, &store, true).await,
                None => tracing::info!("SIGHUP: no [tls] certificate to reload"),
            },
        }
    };
    let _ = shutdown.send(true);
    let mut first_error = failure.and_then(server_error);
    loop {
        tokio::select! {
            next = servers.join_next() => match next {
                Some(ended) => {
                    if let Some(err) = server_error(ended) {
                        first_error.get_or_insert(err);
                    }
                }
                None => break,
            },
            name = signals.next() => {
                tracing::warn!("{name} again: stopping without waiting for sessions");
                servers.abort_all();
                break;
            }
        }
    }
    drop(store);
    match first_error {
        Some(err) => Err(err),
        None => {
            announce(ctx.json, json!({ "event": "stopped" }), "wildduck stopped");
            Ok(Report::default())
        }
    }
}

fn planned_listeners(ctx: &Ctx, with_tls: bool) -> Vec<Listener> {
    let config = &ctx.config;
    let mut listeners = Vec::new();
    let mut add = |protocol, enabled: bool, plain: SocketAddr, secure: SocketAddr| {
        if !enabled {
            return;
        }
        listeners.push(Listener {
            protocol,
            address: plain,
            implicit_tls: false,
        });
        if with_tls {
            listeners.push(Listener {
                protocol,
                address: secure,
                implicit_tls: true,
            });
        }
    };
    add(
        "IMAP",
        config.imap.enabled,
        config.imap.listen,
        config.imap.tls_listen,
    );
    add(
        "POP3",
        config.pop3.enabled,
        config.pop3.listen,
        config.pop3.tls_listen,
    );
    add(
        "SMTP",
        config.submission.enabled,
        config.submission.listen,
        config.submission.tls_listen,
    );
    // LMTP has no implicit-TLS listener (it faces the MTA): STARTTLS when [tls] is set.
    if config.lmtp.enabled {
        listeners.push(Listener {
            protocol: "LMTP",
            address: config.lmtp.listen,
            implicit_tls: false,
        });
    }
    // Plain HTTP only: TLS for the API is a proxy's job for now.
    if config.api.enabled {
        listeners.push(Listener {
            protocol: "API",
            address: config.api.listen,
            implicit_tls: false,
        });
    }
    if let Some(address) = config.metrics.listen {
        listeners.push(Listener {
            protocol: "METRICS",
            address,
            implicit_tls: false,
        });
    }
    listeners
}

/// The server future for one listener, its protocol config set for plain or implicit TLS.
fn start(
    ctx: &Ctx,
    store: &Store,
    listener: &Listener,
    socket: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) -> ServerFuture {
    let store = store.clone();
    match listener.protocol {
        "IMAP" => {
            let mut config = ctx.config.imap.server.clone();
            config.implicit_tls = listener.implicit_tls;
            Box::pin(wildduck_imap::serve(store, config, socket, tls, shutdown))
        }
        "API" => {
            let config = ctx.config.api.server.clone();
            Box::pin(wildduck_api::serve(store, config, socket, shutdown))
        }
        "METRICS" => Box::pin(wildduck_api::serve_metrics(store, socket, shutdown)),
        "SMTP" => {
            let mut config = ctx.config.submission.server.clone();
            config.implicit_tls = listener.implicit_tls;
            Box::pin(wildduck_lmtp::submission::serve(
                store, config, socket, tls, shutdown,
            ))
        }
        "POP3" => {
            let mut config = ctx.config.pop3.server.clone();
            config.implicit_tls = listener.implicit_tls;
            Box::pin(wildduck_pop3::serve(store, config, socket, tls, shutdown))
        }
        _ => {
            let config = ctx.config.lmtp.server.clone();
            Box::pin(wildduck_lmtp::serve(store, config, socket, tls, shutdown))
        }
    }
}

/// Trims the journal and collects unreferenced content every interval until shutdown.
/// Failures are logged and retried next time: housekeeping must not stop the servers.
async fn maintain(
    store: Store,
    settings: MaintenanceSection,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let interval = Duration::from_secs(settings.interval_secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        match store.trim_journal(settings.journal_max_age_secs).await {
            Ok(0) => {}
            Ok(trimmed) => tracing::info!("maintenance: dropped {trimmed} old journal entries"),
            Err(err) => tracing::warn!("maintenance: trimming the journal failed: {err}"),
        }
        match store.gc(settings.gc_grace_secs).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!("maintenance: deleted {deleted} unreferenced blobs"),
            Err(err) => tracing::warn!("maintenance: gc failed: {err}"),
        }
    }
}

/// Expunges messages past their expiry (mailbox retention) and deletes users past their
/// `deleteAfter` every interval until shutdown.
/// Failures are logged and retried next time, as for the other housekeeping.
async fn expire_messages(
    store: Store,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        match store.expunge_expired_now().await {
            Ok(0) => {}
            Ok(expunged) => tracing::info!("maintenance: expunged {expunged} expired messages"),
            Err(err) => tracing::warn!("maintenance: expunging expired messages failed: {err}"),
        }
        match store.purge_deleted_users(wildduck_store::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!("maintenance: deleted {purged} users past deleteAfter"),
            Err(err) => tracing::warn!("maintenance: deleting deferred users failed: {err}"),
        }
    }
}

/// A server that stopped with an error (or panicked) becomes the command's error.
fn server_error(
    ended: Result<(&'static str, std::io::Result<()>), tokio::task::JoinError>,
) -> Option<CliError> {
    match ended {
        Ok((_, Ok(()))) => None,
        Ok((name, Err(err))) => Some(CliError::new(
            ErrorKind::Unavailable,
            format!("{name} server: {err}"),
        )),
        Err(err) => Some(CliError::new(
            ErrorKind::Software,
            format!("a server task failed: {err}"),
        )),
    }
}

/// Prints one event: a JSON line with `--json`, else text for people.
fn announce(as_json: bool, event: serde_json::Value, text: &str) {
    if as_json {
        println!("{event}");
    } else {
        println!("{text}");
    }
}

fn announce_account(as_json: bool, account: &first_run::CreatedAccount) {
    let shown_password = if account.password_from_config {
        "(the one in the configuration file)"
    } else {
        account.password.as_str()
    };
    announce(
        as_json,
        json!({ "event": "account_created", "username": account.username, "password": shown_password }),
        &format!(
            "Created the first account (the password is shown only this once):\n  username: {}\n  password: {shown_password}",
            account.username
        ),
    );
}

fn announce_listener(as_json: bool, listener: &Listener, bound: SocketAddr) {
    let kind = if listener.implicit_tls {
        "TLS"
    } else {
        "plain"
    };
    announce(
        as_json,
        json!({ "event": "listening", "protocol": listener.protocol.to_ascii_lowercase(), "tls": listener.implicit_tls, "address": bound.to_string() }),
        &format!("{} ({kind}) listening on {bound}", listener.protocol),
    );
}

/// Reads the certificates again (the `[tls]` files too when `with_files`: on SIGHUP) and
/// logs the outcome; a failed reload keeps the certificates in use.
async fn reload_certificates(certificates: &Certificates, store: &Store, with_files: bool) {
    match certificates.reload(store, with_files).await {
        Ok(names) if with_files => {
            tracing::info!("SIGHUP: certificates reloaded ({names} names by SNI)")
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("{err}; the certificates in use stay"),
    }
}

/// Picks up certificates stored through the API (`POST /certs`, possibly on another node)
/// within a minute, without a signal.
async fn refresh_stored_certificates(
    certificates: Arc<Certificates>,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut every = tokio::time::interval(STORED_CERTIFICATE_REFRESH);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => reload_certificates(&certificates, &store, false).await,
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// How often stored certificates are read again.
const STORED_CERTIFICATE_REFRESH: Duration = Duration::from_secs(60);

fn install_signal(kind: SignalKind) -> CliResult<Signal> {
    signal(kind).map_err(|err| CliError::new(ErrorKind::Software, format!("signal handler: {err}")))
}

/// SIGINT and SIGTERM, whichever comes.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> CliResult<Self> {
        Ok(Self {
            interrupt: install_signal(SignalKind::interrupt())?,
            terminate: install_signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
