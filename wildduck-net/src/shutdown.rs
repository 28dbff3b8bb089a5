//! The shutdown signal as sessions see it.

use tokio::sync::watch;

/// Tells a session that the server is stopping. Cloned into every session.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Watches `receiver`: shutdown is asked for once it holds `true` or its sender is gone
    /// (nobody could ask any more, so nobody keeps the server alive).
    pub fn new(receiver: watch::Receiver<bool>) -> Self {
        Self(receiver)
    }

    /// Whether shutdown has been asked for already.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once shutdown is asked for. Cancel-safe, so it can sit in a `select!`.
    pub async fn requested(&mut self) {
        // The guard `wait_for` returns must not live across an await: map it away here.
        let _ = self.0.wait_for(|&stop| stop).await.map(|_| ());
    }
}
