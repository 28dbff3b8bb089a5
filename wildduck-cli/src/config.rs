//! The configuration: defaults, then one TOML file, then `WILDDUCK_*` environment variables.
//!
//! An environment variable names a key by its path in upper case joined with `_`:
//! `WILDDUCK_DATA_DIR` → `data_dir`, `WILDDUCK_IMAP_LISTEN` → `imap.listen`,
//! `WILDDUCK_TLS_CERT` → `tls.cert`. Unknown keys in the file are errors: a typo must not
//! silently fall back to a default. The environment is shared with other programs (a shell's
//! `WILDDUCK_HOME`, a wrapper's `WILDDUCK_BIN`), so a `WILDDUCK_*` variable that names no key
//! is ignored, and logged at debug level.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};
use wildduck_store::LimitsConfig;

use crate::error::{CliError, CliResult, ErrorKind};

/// The variable that names the config file (read by the command line parser, not a key).
pub const CONFIG_FILE_VAR: &str = "WILDDUCK_CONFIG";
const ENV_PREFIX: &str = "WILDDUCK_";
const MASK: &str = "********";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    pub store: StoreSection,
    /// The MongoDB of `store.backend = "mongodb"`.
    pub mongodb: MongodbSection,
    /// The Redis that carries wake-ups between processes over one MongoDB.
    pub redis: RedisSection,
    /// Login lockout and daily traffic limits, shared by IMAP and POP3.
    pub limits: LimitsSection,
    pub imap: ImapSection,
    pub pop3: Pop3Section,
    /// Delivery from an MTA in front (plain LMTP; keep it on loopback or a private network).
    pub lmtp: LmtpSection,
    /// SMTP submission for users' mail out (AUTH required; STARTTLS with `[tls]`).
    pub submission: SubmissionSection,
    /// Delivery of the outbound queue through a smarthost.
    pub outbound: wildduck_lmtp::relay::Config,
    /// WildDuck's REST API over HTTP.
    pub api: ApiSection,
    /// `GET /metrics` on a listener of its own.
    pub metrics: MetricsSection,
    pub tls: TlsSection,
    pub log: LogSection,
    pub initial_account: InitialAccountSection,
    pub maintenance: MaintenanceSection,
    pub server: ServerSection,
    /// Two-factor authentication.
    pub totp: TotpSection,
    /// `WILDDUCK_*` variables that name no config key (not config: logged once logging is up).
    #[serde(skip)]
    pub ignored_variables: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./wildduck-data"),
            store: StoreSection::default(),
            mongodb: MongodbSection::default(),
            redis: RedisSection::default(),
            limits: LimitsSection::default(),
            imap: ImapSection::default(),
            pop3: Pop3Section::default(),
            lmtp: LmtpSection::default(),
            submission: SubmissionSection::default(),
            outbound: wildduck_lmtp::relay::Config::default(),
            api: ApiSection::default(),
            metrics: MetricsSection::default(),
            tls: TlsSection::default(),
            log: LogSection::default(),
            initial_account: InitialAccountSection::default(),
            maintenance: MaintenanceSection::default(),
            server: ServerSection::default(),
            totp: TotpSection::default(),
            ignored_variables: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TotpSection {
    /// Seals users' TOTP seeds in the store (WildDuck's `[totp] secret`). Without it TOTP can
    /// not be set up; changing it makes existing seeds unreadable (their users then log in
    /// with an application-specific password and set TOTP up again).
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    /// The server's mail domain: the first account's address (`admin@HOST`), the welcome
    /// message's sender and recipient. Default: this machine's host name, else `localhost`.
    pub hostname: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            hostname: machine_hostname()
                .filter(|name| is_mail_domain(name))
                .unwrap_or_else(|| "localhost".into()),
        }
    }
}

/// The kernel's host name of this machine.
fn machine_hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&buffer[..end])
        .ok()
        .map(|name| name.trim().to_string())
}

/// A host name that can stand after `@` in an address.
fn is_mail_domain(name: &str) -> bool {
    wildduck_store::normalize_address(&format!("postmaster@{name}")).is_ok()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSection {
    /// `sqlite` (the embedded store in `data_dir`) or `mongodb` (the distributed store at
    /// `mongodb.uri`, wake-ups through `redis.url`; `serve` then keeps no state of its own).
    pub backend: String,
    /// Largest message accepted, in bytes.
    pub max_message_size: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: "sqlite".into(),
            max_message_size: wildduck_store::StoreConfig::default().max_message_size,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MongodbSection {
    /// Database from the URI path (default `wildduck`); write concern `majority` unless the
    /// URI sets `w`.
    pub uri: String,
}

impl Default for MongodbSection {
    fn default() -> Self {
        Self {
            uri: "mongodb://127.0.0.1:27017/wildduck".into(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSection {
    /// `redis://host:port/`; unset, wake-ups (IDLE) reach only sessions of the same process.
    pub url: Option<String>,
}

/// The store's `LimitsConfig` in config-file units. Counted in this process, or in Redis
/// when `redis.url` is set for a MongoDB store, so every server process shares them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsSection {
    /// Failed logins of one username within `failure_window_secs` before it is locked.
    pub max_user_failures: u64,
    /// Failed logins from one client IP within `failure_window_secs` before it is locked.
    pub max_ip_failures: u64,
    pub failure_window_secs: u64,
    /// First lock time; each further lock within a day doubles it, up to `max_lock_secs`.
    pub lock_secs: u64,
    pub max_lock_secs: u64,
    /// Pause before the n-th failure answer: n × this, at most `max_failure_delay_ms`.
    pub failure_delay_ms: u64,
    pub max_failure_delay_ms: u64,
    /// MiB one user may download (FETCH bodies, RETR) per UTC day, as WildDuck's
    /// `maxDownloadMB`; unset = no limit.
    pub daily_download_mb: Option<u64>,
    /// MiB one user may upload (APPEND) per UTC day, as WildDuck's `maxUploadMB`.
    pub daily_upload_mb: Option<u64>,
    /// Recipients one user may send to in 24 hours (SMTP submission, the API's submit),
    /// as WildDuck's `maxRecipients`; a user's own `recipients` setting overrides it.
    pub daily_recipients: u64,
    /// Forward targets one user's delivered mail may go on to in 24 hours, as WildDuck's
    /// `MAX_FORWARDS`; a user's own `forwards` setting overrides it.
    pub daily_forwards: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let limits = LimitsConfig::default();
        Self {
            max_user_failures: limits.max_user_failures,
            max_ip_failures: limits.max_ip_failures,
            failure_window_secs: limits.failure_window.as_secs(),
            lock_secs: limits.lock.as_secs(),
            max_lock_secs: limits.max_lock.as_secs(),
            failure_delay_ms: millis(limits.failure_delay),
            max_failure_delay_ms: millis(limits.max_failure_delay),
            daily_download_mb: limits.daily_download.map(|bytes| bytes / MIB),
            daily_upload_mb: limits.daily_upload.map(|bytes| bytes / MIB),
            daily_recipients: limits.daily_recipients,
            daily_forwards: limits.daily_forwards,
        }
    }
}

const MIB: u64 = 1024 * 1024;

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl LimitsSection {
    pub fn to_store(&self) -> LimitsConfig {
        LimitsConfig {
            max_user_failures: self.max_user_failures,
            max_ip_failures: self.max_ip_failures,
            failure_window: Duration::from_secs(self.failure_window_secs),
            lock: Duration::from_secs(self.lock_secs),
            max_lock: Duration::from_secs(self.max_lock_secs),
            failure_delay: Duration::from_millis(self.failure_delay_ms),
            max_failure_delay: Duration::from_millis(self.max_failure_delay_ms),
            daily_download: self.daily_download_mb.map(|mb| mb.saturating_mul(MIB)),
            daily_upload: self.daily_upload_mb.map(|mb| mb.saturating_mul(MIB)),
            daily_recipients: self.daily_recipients,
            daily_forwards: self.daily_forwards,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ImapSection {
    pub enabled: bool,
    /// Plain listener (STARTTLS offered when `[tls]` is configured).
    pub listen: SocketAddr,
    /// Implicit-TLS listener, started only when `[tls]` is configured.
    pub tls_listen: SocketAddr,
    /// The IMAP server's own settings (`implicit_tls` is set per listener by `serve`).
    #[serde(flatten)]
    pub server: wildduck_imap::Config,
}

impl Default for ImapSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1143)),
            tls_listen: SocketAddr::from(([127, 0, 0, 1], 1993)),
            server: wildduck_imap::Config::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Pop3Section {
    pub enabled: bool,
    /// Plain listener (STLS offered when `[tls]` is configured).
    pub listen: SocketAddr,
    /// Implicit-TLS listener, started only when `[tls]` is configured.
    pub tls_listen: SocketAddr,
    /// The POP3 server's own settings (`implicit_tls` is set per listener by `serve`).
    #[serde(flatten)]
    pub server: wildduck_pop3::Config,
}

impl Default for Pop3Section {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1110)),
            tls_listen: SocketAddr::from(([127, 0, 0, 1], 1995)),
            server: wildduck_pop3::Config::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LmtpSection {
    pub enabled: bool,
    /// Plain listener; anyone who reaches it can deliver to every local user.
    pub listen: SocketAddr,
    /// Read the MTA's spam verdict headers (`X-Rspamd-*`, `X-Spam-*`); turn off when the MTA
    /// in front does not remove them from what it receives.
    pub trust_spam_headers: bool,
    /// 0–100: a verdict at or above it files the message in Junk (0: everything, 100: nothing).
    pub spam_level: u8,
    /// A raw `X-Spam-Score`/`X-Rspamd-Score` at or above this counts as spam.
    pub spam_score_threshold: f64,
    /// Seconds within which one sender gets one autoreply.
    pub autoreply_interval_secs: u64,
    /// `[lmtp.srs]`: rewrite the envelope sender of forwards to e-mail targets.
    pub srs: Option<SrsSection>,
    /// The LMTP server's own settings (its largest message is `store.max_message_size`).
    #[serde(flatten)]
    pub server: wildduck_lmtp::Config,
}

impl LmtpSection {
    /// The store's delivery policy these settings make.
    pub fn delivery_policy(&self) -> wildduck_store::DeliveryPolicy {
        wildduck_store::DeliveryPolicy {
            spam: wildduck_store::SpamPolicy {
                trust_headers: self.trust_spam_headers,
                level: self.spam_level.min(100),
                score_threshold: self.spam_score_threshold,
            },
            autoreply_interval: std::time::Duration::from_secs(self.autoreply_interval_secs),
            srs: self.srs.as_ref().map(|srs| wildduck_store::Srs {
                secret: srs.secret.clone(),
                domain: srs.domain.trim().to_ascii_lowercase(),
            }),
        }
    }
}

impl Default for LmtpSection {
    fn default() -> Self {
        let policy = wildduck_store::DeliveryPolicy::default();
        let spam = &policy.spam;
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 2424)),
            trust_spam_headers: spam.trust_headers,
            spam_level: spam.level,
            spam_score_threshold: spam.score_threshold,
            autoreply_interval_secs: policy.autoreply_interval.as_secs(),
            srs: None,
            server: wildduck_lmtp::Config::default(),
        }
    }
}

/// SRS (Sender Rewriting Scheme) for forwards: the secret that signs the rewritten senders
/// and the domain they are in (its MX must reach this LMTP, so bounces come back; its SPF
/// must allow the relay).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SrsSection {
    pub secret: String,
    pub domain: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SubmissionSection {
    pub enabled: bool,
    /// Plain listener (STARTTLS offered when `[tls]` is configured).
    pub listen: SocketAddr,
    /// Implicit-TLS listener, started only when `[tls]` is configured.
    pub tls_listen: SocketAddr,
    /// The submission server's own settings (`implicit_tls` is set per listener by `serve`).
    #[serde(flatten)]
    pub server: wildduck_lmtp::submission::Config,
}

impl Default for SubmissionSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1587)),
            tls_listen: SocketAddr::from(([127, 0, 0, 1], 1465)),
            server: wildduck_lmtp::submission::Config::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiSection {
    pub enabled: bool,
    /// Plain HTTP; put a TLS-terminating proxy in front for other machines.
    pub listen: SocketAddr,
    /// The API's own settings (`access_token`).
    #[serde(flatten)]
    pub server: wildduck_api::Config,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            server: wildduck_api::Config::default(),
        }
    }
}

/// Prometheus' `GET /metrics` on a listener of its own, answered without a token (so a
/// scraper need not hold the API's root token); off unless `listen` is set. The API's own
/// `/metrics` stays, for the root token.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSection {
    pub listen: Option<SocketAddr>,
}

/// PEM files of the server certificate chain and its private key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSection {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `wildduck_imap=trace,info`… (`RUST_LOG` wins).
    pub level: String,
    /// `human` or `json`.
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "human".into(),
        }
    }
}

/// The account `serve` creates when it finds a store with no users.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct InitialAccountSection {
    pub create: bool,
    pub username: String,
    /// Fixed password; when unset a random one is made and printed once.
    pub password: Option<String>,
    /// An address for the account (optional).
    pub address: Option<String>,
}

impl Default for InitialAccountSection {
    fn default() -> Self {
        Self {
            create: true,
            username: "admin".into(),
            password: None,
            address: None,
        }
    }
}

/// Housekeeping `serve` does while it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MaintenanceSection {
    pub enabled: bool,
    /// Seconds between runs (the first run is one interval after start).
    pub interval_secs: u64,
    /// Journal entries older than this are dropped; sessions further behind re-sync.
    pub journal_max_age_secs: u64,
    /// Unreferenced content younger than this is kept (appends in flight may still need it).
    pub gc_grace_secs: u64,
    /// Seconds between sweeps that expunge messages past their expiry (mailbox retention).
    pub expiry_interval_secs: u64,
}

impl Default for MaintenanceSection {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 3600,
            journal_max_age_secs: 30 * 24 * 3600,
            gc_grace_secs: 3600,
            expiry_interval_secs: 60,
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the `WILDDUCK_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> CliResult<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| config_error(format!("{}: {err}", path.display())))?;
                text.parse::<Table>()
                    .map_err(|err| config_error(format!("{}: {err}", path.display())))?
            }
            None => Table::new(),
        };
        let origin = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "defaults".into());
        let mut sources: Vec<(Vec<String>, String)> = Vec::new();
        let defaults =
            Value::try_from(Config::default()).map_err(|err| config_error(err.to_string()))?;
        let defaults = defaults.as_table().cloned().unwrap_or_default();
        let file_table = table.clone();
        let mut ignored_variables = Vec::new();
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        for (name, value) in env {
            let Some(suffix) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name == CONFIG_FILE_VAR {
                continue;
            }
            let path = key_path(&defaults, &suffix.to_ascii_lowercase());
            if !names_a_key(&table, &defaults, &path, &value) {
                ignored_variables.push(name);
                continue;
            }
            set_path(&mut table, &defaults, &path, &value)
                .map_err(|err| config_error(format!("{name}: {err}")))?;
            sources.push((path, name));
        }

        let mut config: Config = Config::deserialize(Value::Table(table)).map_err(|err| {
            let from = match sources.as_slice() {
                [] => origin.clone(),
                _ => format!("{origin} or the environment"),
            };
            config_error(format!("{from}: {err}"))
        })?;
        let effective = Value::try_from(&config).map_err(|err| config_error(err.to_string()))?;
        if let Some(unknown) = first_unknown_key(
            &file_table,
            effective.as_table().unwrap_or(&Table::new()),
            &[],
        ) {
            return Err(config_error(format!(
                "{origin}: unknown config key `{}`",
                unknown.join(".")
            )));
        }
        config.ignored_variables = ignored_variables;
        Ok(config)
    }

    /// Says which `WILDDUCK_*` variables were ignored (call once logging is set up).
    pub fn log_ignored_variables(&self) {
        for name in &self.ignored_variables {
            tracing::debug!("{name}: ignored, it names no config key");
        }
    }

    /// Checks what parsing can not: values that must agree, files that must exist.
    pub fn validate(&self) -> CliResult<()> {
        match self.store.backend.as_str() {
            "sqlite" => {}
            "mongodb" if cfg!(feature = "distributed") => {
                if !self.mongodb.uri.starts_with("mongodb://")
                    && !self.mongodb.uri.starts_with("mongodb+srv://")
                {
                    return Err(config_error(format!(
                        "mongodb.uri = {:?}: expected mongodb:// or mongodb+srv://",
                        mask_url_password(&self.mongodb.uri).unwrap_or(self.mongodb.uri.clone())
                    )));
                }
            }
            "mongodb" => {
                return Err(config_error(
                    "store.backend = \"mongodb\": this build lacks the `distributed` feature",
                ));
            }
            other => {
                return Err(config_error(format!(
                    "store.backend = {other:?}: expected \"sqlite\" or \"mongodb\""
                )));
            }
        }
        if let Some(url) = &self.redis.url
            // No rediss://: the Redis client is built without TLS.
            && !["redis://", "redis+unix://", "unix://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            return Err(config_error(format!(
                "redis.url = {:?}: expected redis:// or unix:// (TLS is not built in)",
                mask_url_password(url).unwrap_or(url.clone())
            )));
        }
        if !["human", "json"].contains(&self.log.format.as_str()) {
            return Err(config_error(format!(
                "log.format = {:?}: expected \"human\" or \"json\"",
                self.log.format
            )));
        }
        if let Some(srs) = &self.lmtp.srs {
            if srs.secret.len() < 16 {
                return Err(config_error(
                    "lmtp.srs.secret is too short: use at least 16 random characters",
                ));
            }
            if !srs.domain.contains('.') || srs.domain.contains(['@', ' ']) {
                return Err(config_error(format!(
                    "lmtp.srs.domain = {:?}: expected a domain name",
                    srs.domain
                )));
            }
        }
        if self.initial_account.create && self.initial_account.username.trim().is_empty() {
            return Err(config_error("initial_account.username is empty"));
        }
        if self.maintenance.enabled && self.maintenance.interval_secs == 0 {
            return Err(config_error("maintenance.interval_secs must be at least 1"));
        }
        if self.maintenance.enabled && self.maintenance.expiry_interval_secs == 0 {
            return Err(config_error(
                "maintenance.expiry_interval_secs must be at least 1",
            ));
        }
        if self.api.enabled {
            self.api
                .server
                .check_listen(self.api.listen)
                .map_err(|why| config_error(format!("api.listen: {why}")))?;
        }
        if !is_mail_domain(&self.server.hostname) {
            return Err(config_error(format!(
                "server.hostname = {:?}: not a domain name",
                self.server.hostname
            )));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(config_error("tls.cert and tls.key must be set together"));
        }
        Ok(())
    }

    /// Where the store is, for messages (passwords in URIs masked).
    pub fn store_location(&self) -> String {
        if self.store.backend == "mongodb" {
            mask_url_password(&self.mongodb.uri).unwrap_or_else(|| self.mongodb.uri.clone())
        } else {
            self.data_dir.display().to_string()
        }
    }

    /// The effective configuration, secrets replaced by `********`.
    pub fn masked(&self) -> CliResult<Value> {
        let mut value = Value::try_from(self).map_err(|err| config_error(err.to_string()))?;
        mask_secrets(&mut value);
        Ok(value)
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> CliResult<String> {
        toml::to_string(&self.masked()?).map_err(|err| config_error(err.to_string()))
    }
}

fn config_error(message: impl Into<String>) -> CliError {
    CliError::new(ErrorKind::Config, message)
}

/// Splits `imap_tls_listen` into the key path it names, guided by the known keys: the longest
/// key that matches at each level wins; what matches nothing is taken as one (unknown) key.
fn key_path(known: &Table, name: &str) -> Vec<String> {
    if known.contains_key(name) {
        return vec![name.to_string()];
    }
    let mut best: Option<&String> = None;
    for key in known.keys() {
        let is_prefix = name.len() > key.len()
            && name.starts_with(key.as_str())
            && name.as_bytes()[key.len()] == b'_';
        if is_prefix && known[key].is_table() && best.is_none_or(|b| key.len() > b.len()) {
            best = Some(key);
        }
    }
    match best {
        Some(key) => {
            let rest = &name[key.len() + 1..];
            let sub = known[key].as_table().cloned().unwrap_or_default();
            let mut path = vec![key.clone()];
            path.extend(key_path(&sub, rest));
            path
        }
        None => vec![name.to_string()],
    }
}

/// Whether setting `path` to `text` sets a config key: a value the parsed config keeps (a
/// path to a whole section, or to nothing, is not a key). A value of the wrong type for a
/// key still counts as naming it, so that the error is reported.
fn names_a_key(table: &Table, defaults: &Table, path: &[String], text: &str) -> bool {
    let is_section = lookup(defaults, path).is_some_and(Value::is_table);
    let mut trial = table.clone();
    if set_path(&mut trial, defaults, path, text).is_err() {
        return lookup(defaults, path).is_some() && !is_section;
    }
    let Ok(config) = Config::deserialize(Value::Table(trial)) else {
        return !is_section;
    };
    let Ok(effective) = Value::try_from(&config) else {
        return false;
    };
    lookup(effective.as_table().unwrap_or(&Table::new()), path).is_some_and(|v| !v.is_table())
}

fn lookup<'t>(table: &'t Table, path: &[String]) -> Option<&'t Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(first)?;
    match rest {
        [] => Some(value),
        _ => lookup(value.as_table()?, rest),
    }
}

/// Sets `path` in `table` to `text`, typed like the default at that path (or guessed: a number,
/// a boolean, else a string, for keys whose default is unset).
fn set_path(
    table: &mut Table,
    defaults: &Table,
    path: &[String],
    text: &str,
) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut target = table;
    let mut known = Some(defaults);
    for key in parents {
        known = known.and_then(|k| k.get(key)).and_then(Value::as_table);
        let entry = target
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        target = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    let value = match known.and_then(|k| k.get(last)) {
        Some(Value::Integer(_)) => Value::Integer(
            text.parse()
                .map_err(|_| format!("expected a number, got {text:?}"))?,
        ),
        Some(Value::Boolean(_)) => Value::Boolean(
            parse_bool(text).ok_or_else(|| format!("expected true or false, got {text:?}"))?,
        ),
        Some(Value::Float(_)) => Value::Float(
            text.parse()
                .map_err(|_| format!("expected a number, got {text:?}"))?,
        ),
        Some(_) => Value::String(text.to_string()),
        None => text
            .parse::<i64>()
            .map(Value::Integer)
            .ok()
            .or_else(|| parse_bool(text).map(Value::Boolean))
            .unwrap_or_else(|| Value::String(text.to_string())),
    };
    target.insert(last.clone(), value);
    Ok(())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The first key of `given` that the parsed config does not have (so was not understood).
fn first_unknown_key(given: &Table, effective: &Table, prefix: &[String]) -> Option<Vec<String>> {
    for (key, value) in given {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match (value, effective.get(key)) {
            (_, None) => return Some(path),
            (Value::Table(inner), Some(Value::Table(known))) => {
                if let Some(found) = first_unknown_key(inner, known, &path) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// Replaces values of keys that hold secrets, and passwords inside URLs.
fn mask_secrets(value: &mut Value) {
    let Value::Table(table) = value else { return };
    for (key, value) in table.iter_mut() {
        let secret_key = ["password", "secret", "token"]
            .iter()
            .any(|s| key.contains(s));
        match value {
            Value::Table(_) => mask_secrets(value),
            Value::String(text) if secret_key => *text = MASK.into(),
            Value::String(text) => {
                if let Some(masked) = mask_url_password(text) {
                    *text = masked;
                }
            }
            _ => {}
        }
    }
}

/// `scheme://user:pass@host` → `scheme://user:********@host`.
fn mask_url_password(text: &str) -> Option<String> {
    wildduck_store::mask_url_password(text, MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write_config(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_match_the_design() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./wildduck-data"));
        assert_eq!(config.imap.listen.to_string(), "127.0.0.1:1143");
        assert_eq!(config.pop3.listen.to_string(), "127.0.0.1:1110");
        assert_eq!(config.imap.tls_listen.port(), 1993);
        assert_eq!(config.pop3.tls_listen.port(), 1995);
        assert_eq!(config.lmtp.listen.to_string(), "127.0.0.1:2424");
        assert!(config.lmtp.enabled);
        config.validate().unwrap();
    }

    #[test]
    fn limits_reach_the_store_in_its_units() {
        let file = write_config("[limits]\nmax_user_failures = 3\nfailure_delay_ms = 250\n");
        let config = Config::load(
            Some(file.path()),
            env(&[
                ("WILDDUCK_LIMITS_DAILY_DOWNLOAD_MB", "2"),
                ("WILDDUCK_LIMITS_LOCK_SECS", "30"),
            ]),
        )
        .unwrap();
        let limits = config.limits.to_store();
        assert_eq!(limits.max_user_failures, 3);
        assert_eq!(limits.failure_delay, Duration::from_millis(250));
        assert_eq!(limits.lock, Duration::from_secs(30));
        assert_eq!(limits.daily_download, Some(2 * 1024 * 1024));
        assert_eq!(limits.daily_upload, None);
        // Untouched keys keep the store's defaults.
        let defaults = LimitsConfig::default();
        assert_eq!(limits.max_ip_failures, defaults.max_ip_failures);
        assert_eq!(limits.failure_window, defaults.failure_window);
    }

    #[test]
    fn api_without_a_root_token_listens_on_loopback_only() {
        let config = Config::load(None, env(&[])).unwrap();
        assert!(config.api.enabled);
        assert_eq!(config.api.listen.to_string(), "127.0.0.1:8080");
        config.validate().unwrap();
        let open = Config::load(None, env(&[("WILDDUCK_API_LISTEN", "0.0.0.0:8080")])).unwrap();
        let err = open.validate().unwrap_err();
        assert!(err.message.contains("api.access_token"), "{}", err.message);
        let guarded = Config::load(
            None,
            env(&[
                ("WILDDUCK_API_LISTEN", "0.0.0.0:8080"),
                ("WILDDUCK_API_ACCESS_TOKEN", "s3cret-token"),
            ]),
        )
        .unwrap();
        guarded.validate().unwrap();
        let shown = guarded.to_masked_toml().unwrap();
        assert!(!shown.contains("s3cret-token"), "{shown}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = write_config("data_dir = \"/from/file\"\n[imap]\nlisten = \"127.0.0.1:2143\"\n");
        let config = Config::load(
            Some(file.path()),
            env(&[
                ("WILDDUCK_IMAP_TLS_LISTEN", "127.0.0.1:2993"),
                ("WILDDUCK_DATA_DIR", "/from/env"),
                ("WILDDUCK_POP3_ENABLED", "false"),
                ("WILDDUCK_STORE_MAX_MESSAGE_SIZE", "1000"),
                ("WILDDUCK_TLS_CERT", "/c.pem"),
                ("WILDDUCK_IMAP_ALLOW_PLAINTEXT_LOGIN", "true"),
                ("WILDDUCK_POP3_MAX_CONNECTIONS", "7"),
                ("WILDDUCK_LMTP_LISTEN", "127.0.0.1:3424"),
                ("WILDDUCK_LMTP_MAX_RECIPIENTS", "5"),
                ("WILDDUCK_CONFIG", "ignored: names the file"),
                ("HOME", "/not/ours"),
            ]),
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        assert_eq!(config.imap.listen.port(), 2143);
        assert_eq!(config.imap.tls_listen.port(), 2993);
        assert!(!config.pop3.enabled);
        assert_eq!(config.store.max_message_size, 1000);
        assert_eq!(config.tls.cert, Some(PathBuf::from("/c.pem")));
        // Keys of the embedded server configs, including ones unset by default.
        assert_eq!(
            config.imap.server.allow_plaintext_login,
            wildduck_store::PlaintextLogin::Always
        );
        assert_eq!(config.pop3.server.max_connections, 7);
        assert_eq!(config.lmtp.listen.port(), 3424);
        assert_eq!(config.lmtp.server.max_recipients, 5);
    }

    #[test]
    fn unknown_keys_are_errors_naming_their_source() {
        let file = write_config("[imap]\nlisten = \"127.0.0.1:2143\"\nlisen = 1\n");
        let err = Config::load(Some(file.path()), env(&[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("imap.lisen"), "{}", err.message);
    }

    #[test]
    fn variables_that_name_no_key_are_ignored_and_listed() {
        let config = Config::load(
            None,
            env(&[
                ("WILDDUCK_SOMETHING", "x"),
                ("WILDDUCK_BIN", "/usr/local/bin/wildduck"),
                ("WILDDUCK_IMAP_PORT", "1"),
                ("WILDDUCK_IMAP", "a whole section"),
                ("WILDDUCK_POP3_LISTEN", "127.0.0.1:2110"),
            ]),
        )
        .unwrap();
        assert_eq!(config.pop3.listen.port(), 2110, "known keys still read");
        assert_eq!(
            config.ignored_variables,
            [
                "WILDDUCK_BIN",
                "WILDDUCK_IMAP",
                "WILDDUCK_IMAP_PORT",
                "WILDDUCK_SOMETHING"
            ]
        );
        assert_eq!(config.imap.listen, Config::default().imap.listen);
        // A known key with a bad value is still an error, not an ignored variable.
        let err = Config::load(None, env(&[("WILDDUCK_POP3_MAX_MESSAGES", "many")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
    }

    #[test]
    fn plaintext_login_is_one_setting_shown_for_every_listener() {
        let file = write_config("[imap]\nallow_plaintext_login = false\n");
        let config = Config::load(
            Some(file.path()),
            env(&[("WILDDUCK_POP3_ALLOW_PLAINTEXT_LOGIN", "always")]),
        )
        .unwrap();
        use wildduck_store::PlaintextLogin;
        assert_eq!(
            config.imap.server.allow_plaintext_login,
            PlaintextLogin::Never
        );
        assert_eq!(
            config.pop3.server.allow_plaintext_login,
            PlaintextLogin::Always
        );
        let file = write_config("[imap]\nallow_plaintext_login = \"never\"\n");
        let config = Config::load(Some(file.path()), env(&[])).unwrap();
        assert_eq!(
            config.imap.server.allow_plaintext_login,
            PlaintextLogin::Never
        );
        let printed = Config::default().to_masked_toml().unwrap();
        assert_eq!(
            printed
                .matches("allow_plaintext_login = \"loopback\"")
                .count(),
            3,
            "IMAP, POP3 and submission: {printed}"
        );
        let file = write_config("[imap]\nallow_plaintext_login = \"sometimes\"\n");
        assert_eq!(
            Config::load(Some(file.path()), env(&[])).unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn hostname_defaults_to_a_mail_domain_and_is_checked() {
        let config = Config::load(None, env(&[])).unwrap();
        assert!(
            is_mail_domain(&config.server.hostname),
            "{}",
            config.server.hostname
        );
        assert!(config.to_masked_toml().unwrap().contains(&format!(
            "[server]\nhostname = \"{}\"",
            config.server.hostname
        )));
        let config = Config::load(
            None,
            env(&[("WILDDUCK_SERVER_HOSTNAME", "mail.example.test")]),
        )
        .unwrap();
        assert_eq!(config.server.hostname, "mail.example.test");
        let mut config = Config::default();
        config.server.hostname = "not a host".into();
        assert!(
            config
                .validate()
                .unwrap_err()
                .message
                .contains("server.hostname")
        );
    }

    #[test]
    fn badly_typed_values_are_errors() {
        let err =
            Config::load(None, env(&[("WILDDUCK_STORE_MAX_MESSAGE_SIZE", "lots")])).unwrap_err();
        assert!(
            err.message.contains("WILDDUCK_STORE_MAX_MESSAGE_SIZE"),
            "{}",
            err.message
        );
        let file = write_config("[imap]\nlisten = \"not an address\"\n");
        assert_eq!(
            Config::load(Some(file.path()), env(&[])).unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn validation_catches_what_parsing_can_not() {
        let mut config = Config::default();
        config.tls.cert = Some("/c.pem".into());
        assert!(config.validate().unwrap_err().message.contains("together"));
        let mut config = Config::default();
        config.store.backend = "cassandra".into();
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.store.backend = "mongodb".into();
        config.mongodb.uri = "127.0.0.1:27017".into();
        let message = config.validate().unwrap_err().message;
        let expected = if cfg!(feature = "distributed") {
            "mongodb.uri"
        } else {
            "the `distributed` feature"
        };
        assert!(message.contains(expected), "{message}");
        let mut config = Config::default();
        config.redis.url = Some("cache:6379".into());
        assert!(config.validate().unwrap_err().message.contains("redis.url"));
    }

    #[test]
    fn srs_needs_a_secret_and_a_domain_that_can_sign() {
        let file = write_config("[lmtp.srs]\nsecret = \"0123456789abcdef\"\n");
        let err = Config::load(Some(file.path()), env(&[])).unwrap_err();
        assert!(err.message.contains("domain"), "{}", err.message);
        let file = write_config("[lmtp.srs]\nsecret = \"short\"\ndomain = \"srs.example.org\"\n");
        let config = Config::load(Some(file.path()), env(&[])).unwrap();
        assert!(config.validate().unwrap_err().message.contains("too short"));
        let file = write_config(
            "[lmtp.srs]\nsecret = \"0123456789abcdef\"\ndomain = \"SRS.Example.org\"\n",
        );
        let config = Config::load(Some(file.path()), env(&[])).unwrap();
        config.validate().unwrap();
        let srs = config.lmtp.delivery_policy().srs.expect("srs on");
        assert_eq!(srs.domain, "srs.example.org");
        assert!(
            !config
                .to_masked_toml()
                .unwrap()
                .contains("0123456789abcdef")
        );
    }

    #[test]
    fn distributed_store_from_the_environment() {
        let config = Config::load(
            None,
            env(&[
                ("WILDDUCK_STORE_BACKEND", "mongodb"),
                (
                    "WILDDUCK_MONGODB_URI",
                    "mongodb://u:pw@db1,db2/mail?replicaSet=rs",
                ),
                ("WILDDUCK_REDIS_URL", "redis://:secret@cache:6379/"),
            ]),
        )
        .unwrap();
        assert_eq!(config.store.backend, "mongodb");
        assert_eq!(
            config.mongodb.uri,
            "mongodb://u:pw@db1,db2/mail?replicaSet=rs"
        );
        assert_eq!(
            config.redis.url.as_deref(),
            Some("redis://:secret@cache:6379/")
        );
        assert_eq!(
            config.validate().is_ok(),
            cfg!(feature = "distributed"),
            "mongodb is usable exactly when built in"
        );
        let text = config.to_masked_toml().unwrap();
        assert!(!text.contains("pw@") && !text.contains("secret"), "{text}");
        assert!(text.contains("mongodb://u:********@db1,db2/mail"), "{text}");
        assert!(text.contains("redis://:********@cache:6379/"), "{text}");
        assert_eq!(
            config.store_location(),
            "mongodb://u:********@db1,db2/mail?replicaSet=rs"
        );
    }

    #[test]
    fn printing_masks_secrets() {
        let mut config = Config::default();
        config.initial_account.password = Some("hunter2".into());
        let text = config.to_masked_toml().unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password = \"********\""), "{text}");
        assert_eq!(
            mask_url_password("mongodb://u:p@h:27017/db").as_deref(),
            Some("mongodb://u:********@h:27017/db")
        );
        assert_eq!(mask_url_password("redis://h:6379"), None);
    }

    #[test]
    fn printed_config_loads_back_to_the_same() {
        let mut config = Config::default();
        config.imap.listen = "127.0.0.1:1".parse().unwrap();
        let file = write_config(&config.to_masked_toml().unwrap());
        let loaded = Config::load(Some(file.path()), env(&[])).unwrap();
        assert_eq!(loaded.imap.listen, config.imap.listen);
    }
}
