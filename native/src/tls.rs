//! rustls configurations from the config's `tls` (the native server) and `client_tls` (the
//! backend client, natively and on Lambda): PEM parsing, versions, suites, curves, CAs, client
//! certificates. Everything KrakenD's keys ask for is applied or refused here with the key's
//! location; nothing falls back to plain HTTP or to weaker settings.

use std::fmt;
use std::sync::Arc;

use manifold_core::config::tls::{ClientTls, KeyPair, PemFile, ServerTls, TlsOptions, TlsVersion};
use manifold_core::Diagnostic;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion};

/// A TLS setting that cannot be used, located at the config key that asks for it.
#[derive(Debug, Clone)]
pub struct TlsSetupError(pub Diagnostic);

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TlsSetupError {}

/// The ALPN protocols the server offers: HTTP/2 first, then HTTP/1.1.
pub const SERVER_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The server configuration for root `tls` (ALPN set: h2, then HTTP/1.1).
pub fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let provider = Arc::new(provider(&tls.options));
    let mut keys = Vec::new();
    for pair in &tls.keys {
        keys.push(certified_key(pair, &provider)?);
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&tls.options))
        .map_err(|e| general(&tls.keys, &e))?;
    let builder = if tls.enable_mtls {
        let roots = Arc::new(roots(&tls.options)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| general(&tls.keys, &e))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(Arc::new(BySni(keys)));
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    Ok(Arc::new(config))
}

/// The client configuration for root `client_tls` (no ALPN: the connector sets it).
pub fn client_config(tls: &ClientTls) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(provider(&tls.options));
    let at = || {
        tls.options
            .ca_certs
            .first()
            .or(tls.client_certs.first().map(|p| &p.certificate))
            .map(|p| p.at.clone())
            .unwrap_or_else(|| place("client_tls"))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&tls.options))
        .map_err(|e| TlsSetupError(message(at(), &e)))?;
    let builder = if tls.allow_insecure_connections {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(&tls.options)?)
    };
    match tls.client_certs.first() {
        Some(pair) => {
            let chain = certificates(&pair.certificate)?;
            let key = private_key(&pair.private_key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsSetupError(message(pair.private_key.at.clone(), &e)))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The ring provider restricted to the configured suites and curves.
fn provider(options: &TlsOptions) -> CryptoProvider {
    let mut provider = ring::default_provider();
    if let Some(wanted) = &options.cipher_suites {
        let id = |s: &rustls::SupportedCipherSuite| u16::from(s.suite());
        let all = ring::ALL_CIPHER_SUITES;
        let is13 = |s: &rustls::SupportedCipherSuite| s.version() == &rustls::version::TLS13;
        // In the configured order; as in Go, a list without a TLS 1.3 suite keeps TLS 1.3's.
        let mut suites: Vec<rustls::SupportedCipherSuite> = wanted
            .iter()
            .filter_map(|w| all.iter().find(|s| id(s) == *w).copied())
            .collect();
        if !suites.iter().any(is13) {
            suites.extend(all.iter().filter(|s| is13(s)).copied());
        }
        provider.cipher_suites = suites;
    }
    if let Some(wanted) = &options.curves {
        provider.kx_groups = wanted
            .iter()
            .filter_map(|w| {
                ring::ALL_KX_GROUPS
                    .iter()
                    .find(|g| u16::from(g.name()) == *w)
                    .copied()
            })
            .collect();
    }
    provider
}

fn versions(options: &TlsOptions) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    if options.max_version == TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    if options.min_version == TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// Trusted CAs: Mozilla's roots (the "system" pool, compiled in) unless
/// `disable_system_ca_pool`, plus `ca_certs`.
fn roots(options: &TlsOptions) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if !options.disable_system_ca_pool {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for ca in &options.ca_certs {
        for cert in certificates(ca)? {
            roots
                .add(cert)
                .map_err(|e| TlsSetupError(message(ca.at.clone(), &e)))?;
        }
    }
    Ok(roots)
}

fn certified_key(
    pair: &KeyPair,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<CertifiedKey>, TlsSetupError> {
    let chain = certificates(&pair.certificate)?;
    let key = private_key(&pair.private_key)?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| TlsSetupError(message(pair.private_key.at.clone(), &e)))?;
    Ok(Arc::new(key))
}

fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(file.text.as_bytes()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(located(
            file,
            "holds no certificate (`-----BEGIN CERTIFICATE-----`)",
        )),
        Err(e) => Err(located(
            file,
            &format!("is not a valid PEM certificate file: {e}"),
        )),
    }
}

fn private_key(file: &PemFile) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_slice(file.text.as_bytes()).map_err(|e| {
        located(
            file,
            &format!("holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })
}

fn located(file: &PemFile, what: &str) -> TlsSetupError {
    let mut at = file.at.clone();
    at.message = format!("`{}` {what}", file.path);
    TlsSetupError(at)
}

fn message(mut at: Diagnostic, e: &dyn fmt::Display) -> Diagnostic {
    at.message = format!("rustls refuses this TLS setting: {e}");
    at
}

fn general(keys: &[KeyPair], e: &dyn fmt::Display) -> TlsSetupError {
    let at = keys
        .first()
        .map_or_else(|| place("tls"), |k| k.certificate.at.clone());
    TlsSetupError(message(at, e))
}

fn place(path: &str) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        context: None,
        message: String::new(),
        line: 1,
        column: 1,
    }
}

/// The first key whose certificate is valid for the client's SNI name, else the first (Go's
/// choice too).
#[derive(Debug)]
struct BySni(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let matches = |key: &Arc<CertifiedKey>, name: &str| {
            let Ok(name) = ServerName::try_from(name) else {
                return false;
            };
            key.end_entity_cert().is_ok_and(|der| {
                webpki::EndEntityCert::try_from(der)
                    .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
        };
        let sni = hello.server_name();
        sni.and_then(|name| self.0.iter().find(|k| matches(k, name)))
            .or(self.0.first())
            .cloned()
    }
}

/// `allow_insecure_connections`: any certificate is accepted (signatures are still checked,
/// so the handshake itself is sound).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
