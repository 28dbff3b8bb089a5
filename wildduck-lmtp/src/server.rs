//! The accept loop: a connection limit, one task per client, graceful shutdown. Plain TCP
//! only (LMTP runs on loopback or a private network); kept to this one file so the shared
//! networking layer can replace it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wildduck_store::Store;

use crate::config::Config;
use crate::session::Session;
use crate::wire::{Reply, Wire};

/// Accepts connections on `listener` until `shutdown` turns true (or its sender is dropped);
/// then tells waiting sessions `421` and returns once every session has ended. A session
/// in the middle of a delivery finishes it first, so no acknowledged message is cut short.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let config = Arc::new(config);
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    // Replies are small writes an MTA waits for: do not let Nagle hold them.
                    let _ = socket.set_nodelay(true);
                    let permit = limit.clone().try_acquire_owned().ok();
                    let (store, config, shutdown) = (store.clone(), config.clone(), shutdown.clone());
                    sessions.spawn(async move {
                        let idle = Duration::from_secs(config.idle_timeout_secs);
                        let mut wire = Wire::new(socket, config.max_line_length, idle);
                        let result = match permit {
                            Some(_permit) => Session::new(wire, store, config, shutdown).run().await,
                            None => {
                                wire.reply(&Reply::new(421, "4.3.2", "Too many connections, try again later"));
                                wire.close().await
                            }
                        };
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "LMTP connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    tracing::warn!(%error, "LMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once shutdown is asked for, or when nobody can ask any more (sender dropped).
pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await.map(|_| ());
}
