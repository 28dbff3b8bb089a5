//! `wildduck-api`: WildDuck's REST API (the contract is WildDuck 1.46.1's
//! `docs/api/openapidocs.json` and route handlers) over HTTP, a shell over [`Store`] like the
//! IMAP and POP3 crates.
//!
//! `auth.rs` decides who is asking (root token, user tokens, loopback), `input.rs` checks
//! input as WildDuck's schemas do, `error.rs` words failures as WildDuck does, and `routes/`
//! has one file per route group.

mod auth;
mod error;
mod input;
mod metrics_listener;
mod mobileconfig;
mod paging;
mod rejection;
mod routes;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wildduck_store::Store;

pub use metrics_listener::serve_metrics;
pub use mobileconfig::{MobileConfig, ServerSetup};

/// The `[api]` settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The root token (WildDuck's `api.accessToken`). Without one the API answers loopback
    /// peers only and must listen on a loopback address.
    pub access_token: Option<String>,
    /// What `generateMobileconfig` profiles of new ASPs say (`[api.mobileconfig]`).
    pub mobileconfig: MobileConfig,
    /// Seconds a user token lives after its last use (default WildDuck's 14 days).
    pub token_ttl: Option<u64>,
}

impl Config {
    /// Refuses a listener that other machines can reach while no root token is set.
    pub fn check_listen(&self, listen: SocketAddr) -> Result<(), String> {
        if self.access_token.is_none() && !listen.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {listen}: without api.access_token the API is open to \
                 anyone who can connect, so it only listens on a loopback address \
                 (set api.access_token or listen on 127.0.0.1)"
            ));
        }
        Ok(())
    }

    /// How long a user token lives after its last use.
    pub fn token_ttl(&self) -> std::time::Duration {
        self.token_ttl.map_or(
            wildduck_store::ACCESS_TOKEN_TTL,
            std::time::Duration::from_secs,
        )
    }
}

/// What every handler shares.
pub(crate) struct ApiState {
    store: Store,
    config: Config,
    /// Turns true at shutdown: change streams, which never finish by themselves, end then.
    shutdown: watch::Receiver<bool>,
}

/// Serves the API on `listener` until `shutdown` turns true; requests in flight finish.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    config
        .check_listen(listener.local_addr()?)
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let state = Arc::new(ApiState {
        store,
        config,
        shutdown: shutdown.clone(),
    });
    let app = routes::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_root_token_only_loopback_addresses_are_allowed() {
        let open = Config::default();
        assert!(open.check_listen("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(open.check_listen("[::1]:8080".parse().unwrap()).is_ok());
        let err = open
            .check_listen("0.0.0.0:8080".parse().unwrap())
            .unwrap_err();
        assert!(err.contains("api.access_token"), "{err}");
        let guarded = Config {
            access_token: Some("secret".into()),
            ..Config::default()
        };
        assert!(
            guarded
                .check_listen("0.0.0.0:8080".parse().unwrap())
                .is_ok()
        );
    }
}
