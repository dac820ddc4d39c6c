//! `manifold run`: load the config, compile the gateway on the native platform, serve until
//! SIGINT/SIGTERM.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use manifold_core::config::load::LoadError;
use manifold_core::{Gateway, Platform};
use tracing::{info, warn};

use crate::meter::MeteredClient;
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
    Ok(platform)
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

/// Serve the config until `shutdown` completes.
pub async fn run(
    options: RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, StartError> {
    let mut config = manifold_native::load_file(&options.config, |name| std::env::var(name).ok())
        .map_err(StartError::Load)?;
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
    let (platform, tls) =
        native_tls(&config).map_err(|e| StartError::Load(tls_load_error(e, &config)))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoints = config.endpoints.len();
    let mut limits = Limits::from(config.limits).with_timeouts(&config.server);
    limits.max_body = options.max_body.unwrap_or(limits.max_body);
    let gateway = Gateway::new(config, platform);
    let listener = server::bind(addr).await.map_err(StartError::Bind)?;
    let local = listener.local_addr().map_err(StartError::Bind)?;
    info!(
        config = %options.config.display(),
        endpoints,
        version = manifold_core::VERSION,
        "listening on {scheme}://{local}"
    );
    let server_options = ServerOptions {
        limits,
        tls,
        ..ServerOptions::default()
    };
    let stopped = server::serve(listener, Arc::new(gateway), server_options, shutdown).await;
    info!(?stopped, "stopped");
    Ok(stopped)
}
