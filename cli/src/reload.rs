//! Hot reload for `manifold run`: `--watch` (the config file's content, checked every
//! [`WATCH_INTERVAL`]) and SIGHUP load the config again, validate it and swap the gateway
//! atomically. Each request takes the gateway current when it arrives and finishes on it, so
//! in-flight requests end on the old config and no request sees two. The platform (the
//! backend connection pool, the `redis` stores unless `redis` changed) is the same across
//! reloads. A config that does not load
//! is refused with its located errors in the log, and the old one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use manifold_core::{Config, Gateway, Platform};
use tracing::{error, info, warn};

/// How often `--watch` reads the config file to see whether it changed.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The gateway being served, replaced as a whole on reload.
pub type LiveGateway = Arc<ArcSwap<Gateway>>;

/// What a reload needs: where the config is, what `run` changed in it, what must stay.
#[derive(Debug)]
pub struct Reloader {
    /// The config file.
    pub path: PathBuf,
    /// `-d`: `/__debug/` stays on.
    pub debug: bool,
    /// The platform every gateway shares (the backend pool; the `redis` stores while the
    /// config's `redis` does not change).
    pub platform: Platform,
    /// The gateway served.
    pub live: LiveGateway,
}

/// Why a reload did not swap.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new config is served.
    Swapped,
    /// The file could not be loaded; the old config keeps serving.
    Refused,
}

// === impl Reloader ===

impl Reloader {
    /// Load, validate and swap. Settings only a restart can change (`port`, `listen_ip`,
    /// the request limits) are kept from the running server, with a warning.
    pub fn reload(&mut self, why: &str) -> Outcome {
        let loaded = manifold_native::load_file(&self.path, |name| std::env::var(name).ok());
        let mut config = match loaded {
            Ok(config) => config,
            Err(e) => {
                error!(
                    config = %self.path.display(),
                    trigger = why,
                    "config reload refused; the previous config keeps serving:\n{e}"
                );
                return Outcome::Refused;
            }
        };
        for w in &config.warnings {
            warn!("{}:{w}", self.path.display());
        }
        if self.debug {
            config.debug_endpoint = true;
        }
        let old = self.live.load_full();
        restart_only(old.config(), &config);
        // The `redis` pools are kept while the config's `redis` is the same; a changed one is
        // opened (and checked) first, and the new gateway uses it.
        if old.config().redis != config.redis {
            match crate::run::open_pools(&config.redis) {
                Ok(pools) => {
                    self.platform = self.platform.clone().with_stores(Arc::new(pools));
                    info!("`redis` changed: its pools were opened for the new config");
                }
                Err(e) => {
                    error!(
                        config = %self.path.display(),
                        trigger = why,
                        "config reload refused; the previous config keeps serving:\n{e}"
                    );
                    return Outcome::Refused;
                }
            }
        }
        let endpoints = config.endpoints.len();
        self.live
            .store(Arc::new(Gateway::new(config, self.platform.clone())));
        info!(config = %self.path.display(), trigger = why, endpoints, "config reloaded");
        Outcome::Swapped
    }

    /// Reload on SIGHUP and, with `watch`, whenever the file's content changes, until the
    /// process ends. The SIGHUP handler is installed before this returns (SIGHUP's default
    /// action would end the process).
    pub fn start(mut self, watch: bool) -> tokio::task::JoinHandle<()> {
        let mut hangup = hangup();
        let mut last = read(&self.path);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    Some(()) = next(&mut hangup) => {
                        last = read(&self.path);
                        self.reload("SIGHUP");
                    }
                    _ = tick.tick(), if watch => {
                        let now = read(&self.path);
                        if now != last {
                            last = now;
                            self.reload("file changed");
                        }
                    }
                }
            }
        })
    }
}

/// The file's bytes (`None` while it cannot be read, e.g. mid-replace by an editor).
fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Warn about settings of `new` that a reload cannot apply (the socket and the server's
/// request limits are set up once).
fn restart_only(old: &Config, new: &Config) {
    if old.port != new.port || old.listen_ip != new.listen_ip {
        warn!("`port`/`listen_ip` changed: they apply after a restart");
    }
    if old.limits != new.limits {
        warn!("`max_header_bytes`/`router.max_payload` changed: they apply after a restart");
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

/// The SIGHUP stream (none where the platform has no SIGHUP or it cannot be installed).
#[cfg(unix)]
fn hangup() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .inspect_err(|e| warn!(error = %e, "cannot listen for SIGHUP; reload with --watch"))
        .ok()
}

#[cfg(not(unix))]
fn hangup() -> Hangup {
    None
}

/// The next SIGHUP (pending forever without a stream).
#[cfg(unix)]
async fn next(hangup: &mut Hangup) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next(_hangup: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
