//! `manifold run`: load the config, compile the gateway on the native platform, serve until
//! SIGINT/SIGTERM; reload on SIGHUP and, with `--watch`, when the file changes (`reload`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use manifold_core::config::extra::Redis;
use manifold_core::config::load::LoadError;
use manifold_core::config::ConfigErrors;
use manifold_core::{Gateway, Platform};
use manifold_native::{PoolEvent, RedisStores};
use tracing::{info, warn};

use crate::logging::{self, LogFormat};
use crate::meter::MeteredClient;
use crate::reload::Reloader;
use crate::server::{self, Limits, ServerOptions, Stopped};

/// What `manifold run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The config file.
    pub config: PathBuf,
    /// Overrides the config's `port` (`-p`).
    pub port: Option<u16>,
    /// `-d`: enables `/__debug/*` as KrakenD's flag does (the log level is set by the caller).
    pub debug: bool,
    /// `--max-body-size`: overrides the config's request body limit.
    pub max_body: Option<usize>,
    /// `--watch`: reload the config when the file changes (SIGHUP always reloads).
    pub watch: bool,
    /// `--log-format`, when given: wins over the config's `telemetry/logging` format.
    pub log_format: Option<LogFormat>,
}

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The config could not be loaded.
    Load(LoadError),
    /// The TLS configuration (server `tls` or backend `client_tls`) could not be built.
    Tls(manifold_native::TlsSetupError),
    /// The address could not be bound.
    Bind(std::io::Error),
}

impl StartError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Load(e) => crate::check::exit_code(e),
            StartError::Tls(_) | StartError::Bind(_) => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Load(e) => e.fmt(f),
            StartError::Tls(e) => write!(f, "cannot configure TLS: {e}"),
            StartError::Bind(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// The native platform with every backend call metered (for the access log's backend count).
pub fn metered_platform() -> Result<Platform, manifold_native::TlsSetupError> {
    metered(manifold_native::platform_with(None))
}

fn metered(
    platform: Result<Platform, manifold_native::TlsSetupError>,
) -> Result<Platform, manifold_native::TlsSetupError> {
    let mut platform = platform?;
    platform.client = Arc::new(MeteredClient::new(platform.client));
    Ok(platform.with_stores(Arc::new(RedisStores::new(pool_log()))))
}

/// What the config's TLS settings need natively, built now so that a setting rustls refuses
/// stops the start (and `manifold check`) with the key's location: the backend client
/// (`client_tls`) and the server's HTTPS (`tls`).
pub fn native_tls(
    config: &manifold_core::Config,
) -> Result<(Platform, Option<crate::tls::Tls>), manifold_native::TlsSetupError> {
    let platform = metered(manifold_native::platform_for(config))?;
    let tls = config.tls.as_ref().map(crate::tls::Tls::new).transpose()?;
    Ok((platform, tls))
}

/// A TLS setting refused at start, as the config error it is (located, with the warnings).
pub fn tls_load_error(
    e: manifold_native::TlsSetupError,
    config: &manifold_core::Config,
) -> LoadError {
    LoadError::Invalid(manifold_core::ConfigErrors {
        errors: vec![e.0],
        warnings: config.warnings.clone(),
    })
}

/// Stores for the config's `redis` pools, each opened now: a pool that cannot be used (a TLS
/// file that cannot be read) is a config error at its entry, before anything is served.
pub fn open_pools(redis: &Redis) -> Result<RedisStores, ConfigErrors> {
    RedisStores::for_config(redis, pool_log())
}

/// Pool outages and recoveries as log lines (one each, never per request).
fn pool_log() -> manifold_native::Report {
    Arc::new(|event: &PoolEvent| match event {
        PoolEvent::Down { .. } => warn!("{event}"),
        PoolEvent::Up { .. } => info!("{event}"),
    })
}

/// Serve the config until `shutdown` completes. Installs the logging (the command line's
/// choices, then the config's `telemetry/logging`) unless a subscriber is already installed.
pub async fn run(
    options: RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, StartError> {
    let mut config = manifold_native::load_file(&options.config, |name| std::env::var(name).ok())
        .map_err(StartError::Load)?;
    let logging = config.telemetry.logging.as_ref();
    let access_log = logging::init_for_run(options.log_format, options.debug, logging);
    for w in &config.warnings {
        warn!("{}:{w}", options.config.display());
    }
    if options.debug {
        config.debug_endpoint = true;
    }
    let ip = config
        .listen_ip
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, options.port.unwrap_or(config.port));
    let pools = open_pools(&config.redis).map_err(|e| StartError::Load(LoadError::Invalid(e)))?;
    // `client_tls` for the backend client and `tls` for the server, refused with the key's
    // location before anything is served (a reload keeps the TLS settings of the start).
    let tls_error = |e, config: &manifold_core::Config| StartError::Load(tls_load_error(e, config));
    let platform = manifold_native::platform_for(&config)
        .map_err(|e| tls_error(e, &config))?
        .with_stores(Arc::new(pools));
    let tls = config
        .tls
        .as_ref()
        .map(crate::tls::Tls::new)
        .transpose()
        .map_err(|e| tls_error(e, &config))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let background = manifold_native::otel::Mode::Background;
    // The access log sink only when something would be written (a record costs a little).
    let logged = !config.router.disable_access_log
        && tracing::enabled!(target: "manifold::access", tracing::Level::INFO);
    let access = logged.then(|| Arc::new(access_log) as Arc<dyn manifold_core::Sink>);
    let (platform, otel) = manifold_native::otel::attach(platform, &config, access, background);
    if let (Some((sink, exporter)), Some(options)) = (otel, &config.telemetry.opentelemetry) {
        let metrics = manifold_native::otel::serve_prometheus(options, sink).await;
        for addr in metrics.map_err(StartError::Bind)? {
            info!("prometheus metrics on http://{addr}/metrics");
        }
        tokio::spawn(exporter.run());
    }
    let endpoints = config.endpoints.len();
    let mut limits = Limits::from(config.limits).with_timeouts(&config.server);
    limits.max_body = options.max_body.unwrap_or(limits.max_body);
    let live = Arc::new(arc_swap::ArcSwap::from_pointee(Gateway::new(
        config,
        platform.clone(),
    )));
    let reloader = Reloader {
        path: options.config.clone(),
        debug: options.debug,
        platform,
        live: live.clone(),
    }
    .start(options.watch);
    let listener = server::bind(addr).await.map_err(StartError::Bind)?;
    let local = listener.local_addr().map_err(StartError::Bind)?;
    info!(
        config = %options.config.display(),
        endpoints,
        watch = options.watch,
        version = manifold_core::VERSION,
        "listening on {scheme}://{local}"
    );
    let server_options = ServerOptions {
        limits,
        tls,
        ..ServerOptions::default()
    };
    let stopped = server::serve_live(listener, live, server_options, shutdown).await;
    reloader.abort();
    info!(?stopped, "stopped");
    Ok(stopped)
}
