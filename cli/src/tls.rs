//! The native server's HTTPS: the TLS handshake in front of hyper when the config has a root
//! `tls` (the rustls configuration itself is built by `manifold_native::tls`). A connection
//! whose handshake fails or takes longer than the head timeout is closed; there is no plain
//! HTTP on a TLS port.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// The server side of TLS, ready to wrap accepted connections.
#[derive(Clone)]
pub struct Tls(TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// From the config's `tls`; refuses what rustls cannot use (unreadable keys, a key that
    /// does not match its certificate), located at the config key.
    pub fn new(
        tls: &manifold_core::config::tls::ServerTls,
    ) -> Result<Self, manifold_native::TlsSetupError> {
        let config: Arc<_> = manifold_native::tls::server_config(tls)?;
        Ok(Self(TlsAcceptor::from(config)))
    }

    /// The handshake on an accepted connection, within `timeout`; `None` when it fails (the
    /// client gets no HTTP answer: it did not speak TLS, or did not present a trusted
    /// certificate under mTLS).
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        timeout: Duration,
    ) -> Option<TlsStream<S>> {
        match tokio::time::timeout(timeout, self.0.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                debug!("TLS handshake timed out");
                None
            }
        }
    }
}
