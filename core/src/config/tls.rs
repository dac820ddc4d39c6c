//! The root `tls` (the native server's HTTPS) and `client_tls` (calls to backends) objects,
//! KrakenD CE's keys one for one. What rustls cannot honour (TLS 1.0/1.1, SSL 3.0, CBC and RC4
//! suites, the P-521 curve) is an error at the key, never silently dropped. The files they
//! name arrive through `config::files`; the native adapter turns the plan into rustls configs
//! (and refuses keys rustls cannot use, at start and in `manifold check`).

use serde::Deserialize;

use super::decode::Cx;
use super::Diagnostic;

/// TLS 1.3 cipher suites (IANA ids, as KrakenD writes them) rustls implements.
pub const TLS13_SUITES: &[(u16, &str)] = &[
    (4865, "TLS_AES_128_GCM_SHA256"),
    (4866, "TLS_AES_256_GCM_SHA384"),
    (4867, "TLS_CHACHA20_POLY1305_SHA256"),
];

/// TLS 1.2 cipher suites rustls implements (KrakenD's recommended TLS 1.2 list).
pub const TLS12_SUITES: &[(u16, &str)] = &[
    (49195, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (49196, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (49199, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (49200, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (52392, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
    (52393, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"),
];

/// Legacy suites KrakenD lists that rustls does not implement (CBC, RC4, 3DES, static RSA).
const LEGACY_SUITES: &[(u16, &str)] = &[
    (5, "TLS_RSA_WITH_RC4_128_SHA"),
    (10, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (47, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (53, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (60, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (156, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (157, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (49159, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (49161, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (49162, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (49169, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (49170, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (49171, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (49172, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (49187, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (49191, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
];

/// Curve ids (Go's `tls.CurveID`, as KrakenD writes them) rustls implements.
pub const CURVES: &[(u16, &str)] = &[(23, "P-256"), (24, "P-384"), (29, "X25519")];

/// A protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`).
    Tls12,
    /// TLS 1.3 (`TLS13`), KrakenD's default minimum and maximum.
    Tls13,
}

/// A PEM file named by the config, with its text and where it is named.
#[derive(Debug, Clone)]
pub struct PemFile {
    /// The path as written.
    pub path: String,
    /// The file's text.
    pub text: String,
    /// The key that names it (message empty), for errors found when the key is used.
    pub at: Diagnostic,
}

/// A certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The certificate chain (`public_key` / `certificate`).
    pub certificate: PemFile,
    /// The private key.
    pub private_key: PemFile,
}

/// What the server and the client settings share.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Lowest version accepted (default TLS 1.3, as KrakenD).
    pub min_version: TlsVersion,
    /// Highest version accepted (default TLS 1.3).
    pub max_version: TlsVersion,
    /// `cipher_suites`, checked against what rustls implements, in the given order; `None`:
    /// rustls's defaults. As in Go, a list without a TLS 1.3 suite leaves TLS 1.3's own.
    pub cipher_suites: Option<Vec<u16>>,
    /// `curve_preferences`, checked; `None`: rustls's defaults (X25519, P-256, P-384).
    pub curves: Option<Vec<u16>>,
    /// `ca_certs`: extra CAs (the server's for client certificates, the client's for backends).
    pub ca_certs: Vec<PemFile>,
    /// `disable_system_ca_pool`: only `ca_certs` are trusted (the "system" pool is Mozilla's
    /// roots compiled into the binary).
    pub disable_system_ca_pool: bool,
}

/// Root `tls`: the native server speaks HTTPS only (HTTP/2 offered through ALPN).
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificates and keys; the first one whose names match the client's SNI is used, else
    /// the first.
    pub keys: Vec<KeyPair>,
    /// Versions, suites, curves and CAs.
    pub options: TlsOptions,
    /// `enable_mtls`: clients must present a certificate signed by a trusted CA.
    pub enable_mtls: bool,
    /// `prefer_server_cipher_suites`: the server's suite order wins.
    pub prefer_server_cipher_suites: bool,
}

/// Root `client_tls`: how the native backend client (also Lambda's) connects over HTTPS.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// `allow_insecure_connections`: backends' certificates are not verified.
    pub allow_insecure_connections: bool,
    /// `client_certs`: the certificate presented to backends that ask for one (the first).
    pub client_certs: Vec<KeyPair>,
    /// Versions, suites, curves and CAs.
    pub options: TlsOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawServer {
    public_key: Option<String>,
    private_key: Option<String>,
    keys: Vec<RawServerKey>,
    ca_certs: Vec<String>,
    cipher_suites: Option<Vec<u16>>,
    curve_preferences: Option<Vec<u16>>,
    disable_system_ca_pool: bool,
    disabled: bool,
    enable_mtls: bool,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawServerKey {
    public_key: Option<String>,
    private_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawClient {
    allow_insecure_connections: bool,
    ca_certs: Vec<String>,
    cipher_suites: Option<Vec<u16>>,
    client_certs: Vec<RawClientCert>,
    curve_preferences: Option<Vec<u16>>,
    disable_system_ca_pool: bool,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawClientCert {
    certificate: Option<String>,
    private_key: Option<String>,
}

/// Root `tls` at `cx`: `None` when absent, `null`, `disabled` or invalid.
pub(crate) fn server(cx: &mut Cx<'_, '_>, value: Option<&serde_json::Value>) -> Option<ServerTls> {
    let value = value.filter(|v| !v.is_null())?;
    let raw: RawServer = cx.decode(value, &[])?;
    if raw.disabled {
        return None;
    }
    let mark = cx.mark();
    let mut keys = Vec::new();
    if raw.public_key.is_some() || raw.private_key.is_some() {
        keys.extend(pair(
            cx,
            ("public_key", raw.public_key.as_deref()),
            ("private_key", raw.private_key.as_deref()),
        ));
    }
    for (i, key) in raw.keys.iter().enumerate() {
        let mut at = cx.at("keys").index(i);
        keys.extend(pair(
            &mut at,
            ("public_key", key.public_key.as_deref()),
            ("private_key", key.private_key.as_deref()),
        ));
    }
    if keys.is_empty() && !cx.failed_since(mark) {
        cx.error("`tls` needs a certificate and its key: `keys` (a list of `public_key` and `private_key` paths), or `public_key` and `private_key`; set `disabled: true` to serve plain HTTP");
    }
    if !raw.enable_mtls && !raw.ca_certs.is_empty() {
        cx.at("ca_certs")
            .warn("`ca_certs` verifies client certificates, which only `enable_mtls: true` asks for; it has no effect");
    }
    if raw.enable_mtls && raw.disable_system_ca_pool && raw.ca_certs.is_empty() {
        cx.at("enable_mtls").error(
            "`enable_mtls` with `disable_system_ca_pool` and no `ca_certs` trusts no CA: every client would be refused",
        );
    }
    let options = options(
        cx,
        Raw {
            min_version: raw.min_version.as_deref(),
            max_version: raw.max_version.as_deref(),
            cipher_suites: raw.cipher_suites,
            curves: raw.curve_preferences,
            ca_certs: if raw.enable_mtls { &raw.ca_certs } else { &[] },
            disable_system_ca_pool: raw.disable_system_ca_pool,
        },
    );
    if cx.failed_since(mark) {
        return None;
    }
    Some(ServerTls {
        keys,
        options: options?,
        enable_mtls: raw.enable_mtls,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites,
    })
}

/// Root `client_tls` at `cx`: `None` when absent, `null` or invalid.
pub(crate) fn client(cx: &mut Cx<'_, '_>, value: Option<&serde_json::Value>) -> Option<ClientTls> {
    let value = value.filter(|v| !v.is_null())?;
    let raw: RawClient = cx.decode(value, &[])?;
    let mark = cx.mark();
    let mut client_certs = Vec::new();
    for (i, cert) in raw.client_certs.iter().enumerate() {
        let mut at = cx.at("client_certs").index(i);
        client_certs.extend(pair(
            &mut at,
            ("certificate", cert.certificate.as_deref()),
            ("private_key", cert.private_key.as_deref()),
        ));
    }
    if raw.allow_insecure_connections && !raw.ca_certs.is_empty() {
        cx.at("ca_certs").warn(
            "`ca_certs` has no effect with `allow_insecure_connections: true` (nothing is verified)",
        );
    }
    let options = options(
        cx,
        Raw {
            min_version: raw.min_version.as_deref(),
            max_version: raw.max_version.as_deref(),
            cipher_suites: raw.cipher_suites,
            curves: raw.curve_preferences,
            ca_certs: &raw.ca_certs,
            disable_system_ca_pool: raw.disable_system_ca_pool,
        },
    );
    if cx.failed_since(mark) {
        return None;
    }
    Some(ClientTls {
        allow_insecure_connections: raw.allow_insecure_connections,
        client_certs,
        options: options?,
    })
}

/// The shared keys as written.
struct Raw<'a> {
    min_version: Option<&'a str>,
    max_version: Option<&'a str>,
    cipher_suites: Option<Vec<u16>>,
    curves: Option<Vec<u16>>,
    ca_certs: &'a [String],
    disable_system_ca_pool: bool,
}

fn options(cx: &mut Cx<'_, '_>, raw: Raw<'_>) -> Option<TlsOptions> {
    let min = version(&mut cx.at("min_version"), raw.min_version);
    let max = version(&mut cx.at("max_version"), raw.max_version);
    let (min, max) = (min?, max?);
    if min > max {
        cx.at("min_version")
            .error("`min_version` is above `max_version`: no version would be accepted");
        return None;
    }
    let cipher_suites = raw
        .cipher_suites
        .map(|list| suites(&mut cx.at("cipher_suites"), list, min, max));
    let curves = raw
        .curves
        .map(|list| curves(&mut cx.at("curve_preferences"), list));
    let mut ca_certs = Vec::new();
    for (i, path) in raw.ca_certs.iter().enumerate() {
        ca_certs.extend(pem(&mut cx.at("ca_certs").index(i), path));
    }
    Some(TlsOptions {
        min_version: min,
        max_version: max,
        cipher_suites: match cipher_suites {
            Some(s) => Some(s?),
            None => None,
        },
        curves: match curves {
            Some(c) => Some(c?),
            None => None,
        },
        ca_certs,
        disable_system_ca_pool: raw.disable_system_ca_pool,
    })
}

fn version(cx: &mut Cx<'_, '_>, name: Option<&str>) -> Option<TlsVersion> {
    match name {
        None | Some("TLS13") => Some(TlsVersion::Tls13),
        Some("TLS12") => Some(TlsVersion::Tls12),
        Some(old @ ("SSL3.0" | "TLS10" | "TLS11")) => {
            cx.error(format!("`{old}` is not supported: Manifold's TLS (rustls) speaks TLS 1.2 and 1.3 only (`TLS12`, `TLS13`)"));
            None
        }
        Some(other) => {
            cx.error(format!(
                "unknown TLS version `{other}` (KrakenD's names: `TLS12`, `TLS13`)"
            ));
            None
        }
    }
}

fn suites(
    cx: &mut Cx<'_, '_>,
    list: Vec<u16>,
    min: TlsVersion,
    max: TlsVersion,
) -> Option<Vec<u16>> {
    let mark = cx.mark();
    for (i, id) in list.iter().enumerate() {
        let known = |set: &[(u16, &str)]| set.iter().any(|(s, _)| s == id);
        if known(TLS13_SUITES) || known(TLS12_SUITES) {
            continue;
        }
        let supported: Vec<String> = TLS13_SUITES
            .iter()
            .chain(TLS12_SUITES)
            .map(|(id, _)| id.to_string())
            .collect();
        let message = match LEGACY_SUITES.iter().find(|(s, _)| s == id) {
            Some((_, name)) => format!("cipher suite {id} ({name}) is not implemented by Manifold's TLS (rustls: no CBC, RC4, 3DES or static-RSA suites); supported: {}", supported.join(", ")),
            None => format!("unknown cipher suite {id}; supported: {}", supported.join(", ")),
        };
        let at = cx.path().index(i);
        cx.at_path(at).error(message);
    }
    let has12 = list
        .iter()
        .any(|id| TLS12_SUITES.iter().any(|(s, _)| s == id));
    if max == TlsVersion::Tls12 && !has12 && !cx.failed_since(mark) {
        cx.error(
            "no TLS 1.2 suite listed while `max_version` is `TLS12`: no connection could be made",
        );
    }
    let _ = min;
    (!cx.failed_since(mark)).then_some(list)
}

fn curves(cx: &mut Cx<'_, '_>, list: Vec<u16>) -> Option<Vec<u16>> {
    let mark = cx.mark();
    for (i, id) in list.iter().enumerate() {
        if CURVES.iter().any(|(c, _)| c == id) {
            continue;
        }
        let message = if *id == 25 {
            "curve 25 (P-521) is not implemented by Manifold's TLS (rustls with ring); supported: 23 (P-256), 24 (P-384), 29 (X25519)".to_owned()
        } else {
            format!("unknown curve {id}; supported: 23 (P-256), 24 (P-384), 29 (X25519)")
        };
        let at = cx.path().index(i);
        cx.at_path(at).error(message);
    }
    if list.is_empty() {
        cx.error("an empty `curve_preferences` leaves no key exchange: remove it for the defaults");
    }
    (!cx.failed_since(mark)).then_some(list)
}

/// A certificate and key pair, both required.
fn pair(
    cx: &mut Cx<'_, '_>,
    (cert_key, cert): (&str, Option<&str>),
    (key_key, key): (&str, Option<&str>),
) -> Option<KeyPair> {
    let mut read = |name: &str, path: Option<&str>| match path {
        Some(path) => pem(&mut cx.at(name), path),
        None => {
            cx.error(format!("`{name}` is required (a path to a PEM file)"));
            None
        }
    };
    let certificate = read(cert_key, cert);
    let private_key = read(key_key, key);
    Some(KeyPair {
        certificate: certificate?,
        private_key: private_key?,
    })
}

fn pem(cx: &mut Cx<'_, '_>, path: &str) -> Option<PemFile> {
    let server = matches!(cx.path().to_string().split('.').next(), Some("tls"));
    if server && !cx.file_was_read(path) {
        // A serverless build: the platform terminates TLS and the files are not read. A
        // native front end reads every file, so it never gets here (and rustls would refuse
        // the empty text at start anyway).
        return Some(PemFile {
            path: path.to_owned(),
            text: String::new(),
            at: cx.place(),
        });
    }
    let text = cx.file(path)?;
    if !text.contains("-----BEGIN ") {
        cx.error(format!(
            "`{path}` is not a PEM file (convert DER files with `openssl x509 -inform der`)"
        ));
        return None;
    }
    Some(PemFile {
        path: path.to_owned(),
        text,
        at: cx.place(),
    })
}
