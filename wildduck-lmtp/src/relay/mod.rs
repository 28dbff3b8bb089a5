//! The relay worker: takes due entries of the store's outbound queue under a lease, sends
//! each to its next hop — the smarthost or a forward's own relay (`client`, SMTP), or a
//! forward's URL (`http`, a POST) — and hands every recipient's reply back to the store
//! (`Store::record_attempt`), which settles, retries with backoff or reports failures to the
//! sender. Several `wildduck serve` processes over one store may each run one: the lease
//! gives an entry to one of them at a time. `webhooks` is the worker that posts the store's
//! events to webhooks, over the same HTTP client.

mod client;
mod hops;
mod http;
pub mod webhooks;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use wildduck_store::{
    AttemptOutcome, ClaimScope, Claimed, NextHop, RelayReply, RetryPolicy, Store,
};

use client::{Envelope, Smarthost};
use hops::Reach;

/// Settings of outbound delivery (`[outbound]` in the `wildduck` config).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The smarthost every message goes through (but forwards to a relay or URL target):
    /// `smtp://host[:port]` (STARTTLS when the relay offers it; port 25) or
    /// `smtps://host[:port]` (TLS from the first byte; port 465). Unset: submitted mail is
    /// queued but not sent until one is configured.
    pub relay: Option<String>,
    /// Never send through an `smtp://` relay that does not offer STARTTLS.
    pub relay_require_tls: bool,
    /// A PEM file of certificates to trust for the relay (and forwards' relays and
    /// `https://` targets) besides the public roots (a private CA, or the relay's own
    /// self-signed certificate).
    pub relay_ca_file: Option<PathBuf>,
    /// `[outbound.relay_auth] user, password`: AUTH PLAIN (or LOGIN) at the relay. Sent
    /// only over TLS or to a relay on loopback.
    pub relay_auth: Option<Credentials>,
    /// Seconds before the first retry; each further retry waits twice as long.
    pub backoff_base_secs: u64,
    /// Longest wait between two attempts, in seconds.
    pub backoff_max_secs: u64,
    /// Seconds after submission when recipients still not delivered are given up and the
    /// sender told (WildDuck's default: 4 days).
    pub max_age_secs: u64,
    /// Seconds an entry stays with the worker that took it; must be longer than one attempt
    /// (a connection and its replies, each within `timeout_secs`).
    pub lease_secs: u64,
    /// Longest wait for the relay's connection or any one of its replies, in seconds.
    pub timeout_secs: u64,
    /// Milliseconds between looks at the queue when nothing was due.
    pub poll_interval_ms: u64,
    /// Entries sent at the same time.
    pub concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        Self {
            relay: None,
            relay_require_tls: false,
            relay_ca_file: None,
            relay_auth: None,
            backoff_base_secs: policy.backoff_base.as_secs(),
            backoff_max_secs: policy.backoff_max.as_secs(),
            max_age_secs: policy.max_age.as_secs(),
            lease_secs: 600,
            timeout_secs: 60,
            poll_interval_ms: 1000,
            concurrency: 8,
        }
    }
}

/// A user name and password for the relay; `Debug` leaves the password out.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// What reaching any hop takes (EHLO name, timeout, trusted roots), or why the
    /// `relay_ca_file` setting is unusable.
    fn reach(&self, hostname: &str) -> io::Result<Reach> {
        Ok(Reach {
            helo_name: hostname.to_string(),
            timeout: Duration::from_secs(self.timeout_secs),
            tls: self.tls_connector()?,
        })
    }

    /// The smarthost as the `relay*` settings describe it, or why they do not.
    fn smarthost(&self, reach: &Reach) -> io::Result<Option<Smarthost>> {
        let Some(relay) = &self.relay else {
            return Ok(None);
        };
        let mut smarthost =
            hops::relay_at(relay, self.relay_require_tls, reach).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("outbound.relay: {relay:?} {why}"),
                )
            })?;
        if self.relay_auth.is_some() {
            smarthost.credentials = self.relay_auth.clone();
        }
        Ok(Some(smarthost))
    }

    /// Trusts the public roots (webpki-roots) and the certificates of `relay_ca_file`.
    fn tls_connector(&self) -> io::Result<TlsConnector> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &self.relay_ca_file {
            let unusable = |err: &dyn std::fmt::Display| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("outbound.relay_ca_file: {}: {err}", path.display()),
                )
            };
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unusable(&e))? {
                let certificate = certificate.map_err(|e| unusable(&e))?;
                roots.add(certificate).map_err(|e| unusable(&e))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }

    fn policy(&self, hostname: &str) -> RetryPolicy {
        RetryPolicy {
            backoff_base: Duration::from_secs(self.backoff_base_secs),
            backoff_max: Duration::from_secs(self.backoff_max_secs),
            max_age: Duration::from_secs(self.max_age_secs),
            reporting_host: hostname.to_string(),
        }
    }
}

/// Delivers the queue until `shutdown` turns true; attempts under way are finished first.
/// `hostname` is this server's name (EHLO, and the `Reporting-MTA` of failure notices).
/// Without a smarthost only forwards to relay and URL targets go out; the rest waits. An
/// unusable `relay` setting is an error at once (and stops `serve`).
pub async fn run(
    store: Store,
    config: Config,
    hostname: String,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let reach = config.reach(&hostname)?;
    let smarthost = config.smarthost(&reach)?;
    let scope = if smarthost.is_some() {
        ClaimScope::All
    } else {
        tracing::warn!(
            "outbound.relay is unset: submitted mail stays queued (forwards to smtp:// and \
             http:// targets still go out)"
        );
        ClaimScope::OwnHopOnly
    };
    let hops = Hops { smarthost, reach };
    let policy = config.policy(&hostname);
    let lease = Duration::from_secs(config.lease_secs);
    let poll = Duration::from_millis(config.poll_interval_ms);
    let batch = config.concurrency.max(1);
    let claim = || {
        let store = store.clone();
        async move {
            store
                .claim_outbound(batch, lease, scope)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "outbound: the queue could not be read");
                    Vec::new()
                })
        }
    };
    let work = |entry| attempt(store.clone(), hops.clone(), policy.clone(), entry);
    work_in_rounds(&mut shutdown, poll, claim, work).await;
    Ok(())
}

/// The loop of both workers (queue and webhooks), until `shutdown` turns true: `claim`
/// leases a batch (a failure it logs counts as nothing), each item is worked on as a task of
/// its own, and the round ends when all have, so work under way is finished at shutdown. A
/// round that found nothing waits `poll` first.
async fn work_in_rounds<T, Claim, Work>(
    shutdown: &mut watch::Receiver<bool>,
    poll: Duration,
    mut claim: impl FnMut() -> Claim,
    work: impl Fn(T) -> Work,
) where
    Claim: Future<Output = Vec<T>>,
    Work: Future<Output = ()> + Send + 'static,
{
    while !*shutdown.borrow() {
        let claimed = claim().await;
        if claimed.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
            continue;
        }
        let mut tasks = JoinSet::new();
        for item in claimed {
            tasks.spawn(work(item));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Every next hop the worker can send to.
#[derive(Clone)]
struct Hops {
    /// `[outbound] relay`, when set.
    smarthost: Option<Smarthost>,
    /// For forwards' own relays and URLs.
    reach: Reach,
}

/// Sends one claimed entry to its pending recipients and records what the next hop said.
async fn attempt(store: Store, hops: Hops, policy: RetryPolicy, claimed: Claimed) {
    let entry = &claimed.entry;
    let Some(replies) = send(&store, &hops, entry).await else {
        // Not sent: the lease runs out and the entry is tried again.
        return;
    };
    let id = entry.id;
    let recorded = store.record_attempt(claimed, &replies, &policy).await;
    let result = match &recorded {
        Ok(AttemptOutcome::Finished { .. }) => "settled",
        Ok(AttemptOutcome::Retrying { .. }) => "deferred",
        Ok(AttemptOutcome::LeaseLost) => "lease_lost",
        Err(_) => "unrecorded",
    };
    metrics::counter!("wildduck_outbound_attempts_total", "result" => result).increment(1);
    match recorded {
        Ok(AttemptOutcome::Finished { failed }) => {
            tracing::info!(entry = %id, failed, "outbound entry settled");
        }
        Ok(AttemptOutcome::Retrying { next_attempt }) => {
            tracing::info!(entry = %id, next_attempt, "outbound entry deferred");
        }
        Ok(AttemptOutcome::LeaseLost) => {
            tracing::warn!(entry = %id, "outbound entry: lease ran out before the attempt was recorded");
        }
        // The lease runs out and the entry is tried again: the relay's answer is not kept.
        Err(error) => tracing::warn!(entry = %id, %error, "outbound attempt not recorded"),
    }
}

/// One reply per pending recipient of `entry` from its next hop, or `None` when it was not
/// tried (a DKIM key that could not be read; no smarthost for a smarthost entry).
async fn send(
    store: &Store,
    hops: &Hops,
    entry: &wildduck_store::OutboundEntry,
) -> Option<Vec<RelayReply>> {
    let pending = entry.pending().count();
    let relay = match &entry.next_hop {
        // A URL takes the bytes as they were queued, unsigned.
        NextHop::Http(url) => {
            let shown = entry.next_hop.to_string();
            let reply = http::post(url, &shown, &entry.raw, &hops.reach).await;
            return Some(vec![reply; pending]);
        }
        NextHop::Relay(url) => match hops::relay_at(url, false, &hops.reach) {
            Ok(relay) => relay,
            // The store checked the URL when the target was set; one that still does not
            // name a relay never will.
            Err(why) => {
                let refused = RelayReply {
                    code: 554,
                    text: format!("5.4.0 forward relay {} {why}", entry.next_hop),
                };
                return Some(vec![refused; pending]);
            }
        },
        NextHop::Smarthost => match &hops.smarthost {
            Some(smarthost) => smarthost.clone(),
            None => {
                tracing::warn!(entry = %entry.id, "outbound: no smarthost for a smarthost entry");
                return None;
            }
        },
    };
    let raw = match signed(store, &entry.sender, &entry.raw).await {
        Ok(raw) => raw,
        // Not sent unsigned.
        Err(error) => {
            tracing::warn!(entry = %entry.id, %error, "outbound: the DKIM key could not be read");
            return None;
        }
    };
    let envelope = Envelope {
        sender: &entry.sender,
        recipients: entry.pending().map(|r| r.address.as_str()).collect(),
        raw: &raw,
    };
    Some(client::send(&relay, &envelope).await)
}

/// The message with a `DKIM-Signature` of the envelope sender's domain in front, when that
/// domain has a DKIM key (`/dkim`); else as it is. The submission listener has checked that
/// the envelope sender and the From addresses are the user's.
async fn signed(store: &Store, sender: &str, raw: &[u8]) -> wildduck_store::Result<Vec<u8>> {
    let Some(signer) = store.dkim_signer(sender).await? else {
        return Ok(raw.to_vec());
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let mut message = signer.signature_header(raw, now).into_bytes();
    message.extend_from_slice(raw);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_do_not_show_the_password() {
        let credentials = Credentials {
            user: "wildduck".into(),
            password: "hunter2".into(),
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("wildduck") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
