//! `manifold/compression` (a Manifold namespace, root level): compress responses with gzip or
//! brotli, as the client's `Accept-Encoding` allows. KrakenD never compresses what it sends,
//! so without this namespace nothing is compressed.

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

/// The namespace's name.
pub const COMPRESSION_NAMESPACE: &str = "manifold/compression";

/// Bodies smaller than this are sent as they are (a small body barely shrinks, and the
/// encoding costs more than the bytes saved).
pub const DEFAULT_MIN_SIZE: usize = 1024;
/// gzip level by default (zlib's own default: a good ratio for little CPU).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// brotli quality by default (4: about gzip 6's CPU for smaller output; 11 is for static
/// files, far too slow per request).
pub const DEFAULT_BROTLI_LEVEL: u32 = 4;

/// A content coding the gateway can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
}

/// Options of `manifold/compression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// `enabled` (default true): false keeps the settings but compresses nothing.
    pub enabled: bool,
    /// `min_size`: bodies smaller than this many bytes are not compressed.
    pub min_size: usize,
    /// `gzip_level`: 1 (fastest) to 9 (smallest).
    pub gzip_level: u32,
    /// `brotli_level`: 0 (fastest) to 11 (smallest).
    pub brotli_level: u32,
    /// `encodings`: what the gateway offers, in its order of preference for equal q-values
    /// (default `["br", "gzip"]`).
    pub encodings: Vec<Coding>,
}

/// The options as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawCompression {
    enabled: Option<bool>,
    min_size: Option<usize>,
    gzip_level: Option<u32>,
    brotli_level: Option<u32>,
    encodings: Option<Vec<String>>,
}

// === impl Coding ===

impl Coding {
    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

// === impl Compression ===

impl Default for Compression {
    fn default() -> Self {
        Self {
            enabled: true,
            min_size: DEFAULT_MIN_SIZE,
            gzip_level: DEFAULT_GZIP_LEVEL,
            brotli_level: DEFAULT_BROTLI_LEVEL,
            encodings: vec![Coding::Brotli, Coding::Gzip],
        }
    }
}

impl Namespace for Compression {
    type Raw = RawCompression;
    const STRICT: bool = true;

    fn plan(raw: RawCompression, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        let defaults = Compression::default();
        let mut level = |key: &str, value: Option<u32>, max: u32, min: u32, default: u32| {
            let v = value.unwrap_or(default);
            if !(min..=max).contains(&v) {
                cx.at(key)
                    .error(format!("`{key}` must be between {min} and {max}, not {v}"));
            }
            v
        };
        let gzip_level = level("gzip_level", raw.gzip_level, 9, 1, DEFAULT_GZIP_LEVEL);
        let brotli_level = level(
            "brotli_level",
            raw.brotli_level,
            11,
            0,
            DEFAULT_BROTLI_LEVEL,
        );
        let mut encodings = Vec::new();
        for (i, name) in raw.encodings.iter().flatten().enumerate() {
            let coding = match name.to_ascii_lowercase().as_str() {
                "br" => Coding::Brotli,
                "gzip" => Coding::Gzip,
                _ => {
                    cx.at("encodings").item(i).error(format!(
                        "unknown encoding `{name}`: Manifold compresses with `br` and `gzip`"
                    ));
                    continue;
                }
            };
            if encodings.contains(&coding) {
                cx.at("encodings")
                    .item(i)
                    .error(format!("`{name}` is listed twice"));
            }
            encodings.push(coding);
        }
        if raw.encodings.as_ref().is_some_and(Vec::is_empty) {
            cx.at("encodings")
                .error("`encodings` is empty; list `br` and/or `gzip`, or set `enabled: false`");
        }
        if cx.failed_since(mark) {
            return None;
        }
        Some(Self {
            enabled: raw.enabled.unwrap_or(true),
            min_size: raw.min_size.unwrap_or(defaults.min_size),
            gzip_level,
            brotli_level,
            encodings: if raw.encodings.is_some() {
                encodings
            } else {
                defaults.encodings
            },
        })
    }
}
