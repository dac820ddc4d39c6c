//! The shutdown signal: SIGINT (Ctrl-C) or SIGTERM (what container runtimes send).

use std::future::Future;

use tracing::{info, warn};

/// Install the signal handlers now and return a future that completes when the process is
/// asked to stop. Call it inside the runtime before serving: handlers installed lazily, on the
/// future's first poll, would let a signal sent right after start-up go unnoticed (a
/// background process started by a non-interactive shell even ignores SIGINT until then).
#[cfg(unix)]
pub fn install() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                _ = interrupt.recv() => info!("SIGINT received"),
                _ = terminate.recv() => info!("SIGTERM received"),
            },
            (Ok(mut only), Err(e)) | (Err(e), Ok(mut only)) => {
                warn!(error = %e, "cannot listen for one of SIGINT/SIGTERM");
                only.recv().await;
                info!("stop signal received");
            }
            (Err(e), Err(_)) => {
                warn!(error = %e, "cannot listen for signals; the server runs until killed");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Install the Ctrl-C handler and return a future that completes on Ctrl-C.
#[cfg(not(unix))]
pub fn install() -> impl Future<Output = ()> + Send {
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C; the server runs until killed");
            std::future::pending::<()>().await;
        }
        info!("Ctrl-C received");
    }
}
