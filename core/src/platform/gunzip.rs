//! The gzip port: backends' `Content-Encoding: gzip` bodies decoded by the platform, in a build
//! that leaves the core's own decoder out (feature `gzip`). On Workers the runtime's
//! `DecompressionStream` decodes natively, where flate2, miniz_oxide and crc32fast's tables
//! would cost the bundle about 27 KB gzip (docs/workers.md, "Size"). Natively and on Lambda the
//! core decodes: [`Platform::new`](super::Platform::new) attaches [`Flate`].
//!
//! Either way the core keeps the decisions: which bodies are decoded, the size limit (the
//! decoder stops producing output past it, so a gzip bomb costs no memory), and how a failure
//! is reported.

use bytes::Bytes;

use super::{BoxFuture, MaybeSend, MaybeSync};

/// Why a gzip body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GunzipError {
    /// Not a valid gzip stream: the decoder's message.
    Invalid(String),
    /// It decodes to more bytes than the limit.
    TooLarge,
}

/// Decodes gzip bodies.
pub trait Gunzip: MaybeSend + MaybeSync {
    /// `body` decoded, or an error; never more than `limit` bytes of output.
    fn gunzip(&self, body: Bytes, limit: usize) -> BoxFuture<'static, Result<Bytes, GunzipError>>;
}

/// The core's own decoder (flate2), in builds with the `gzip` feature. Like Go's
/// `gzip.Reader` (KrakenD's transport), it decodes every member of a multi-member body and
/// refuses bytes after the last one.
#[cfg(feature = "gzip")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Flate;

#[cfg(feature = "gzip")]
impl Gunzip for Flate {
    fn gunzip(&self, body: Bytes, limit: usize) -> BoxFuture<'static, Result<Bytes, GunzipError>> {
        use std::io::Read as _;
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let read = flate2::read::MultiGzDecoder::new(&body[..])
            .take(cap)
            .read_to_end(&mut out);
        let decoded = match read {
            Err(e) => Err(GunzipError::Invalid(e.to_string())),
            Ok(_) if out.len() > limit => Err(GunzipError::TooLarge),
            Ok(_) => Ok(Bytes::from(out)),
        };
        Box::pin(std::future::ready(decoded))
    }
}

/// The decoder a platform starts with: the core's own, if this build has it.
pub(super) fn builtin() -> Option<std::sync::Arc<dyn Gunzip>> {
    #[cfg(feature = "gzip")]
    return Some(std::sync::Arc::new(Flate));
    #[cfg(not(feature = "gzip"))]
    None
}
