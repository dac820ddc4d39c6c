//! The signature port: JWS verification by the platform, for the key families a build leaves
//! out of its own code (`jwt-platform`). On Workers, WebCrypto verifies RSA, ECDSA and Ed25519
//! signatures natively, where the RustCrypto crates would cost the bundle about 60 KB gzip and
//! every token the CPU time of big-number arithmetic in wasm (docs/workers.md).
//!
//! The core keeps every decision: the algorithm comes from the config, the header checks and
//! the key's choice come first (`jose`), and the claims are read only after the port said yes.
//! The port only answers whether the bytes verify.

use crate::jose::{Alg, PlatformKey};

use super::{BoxFuture, MaybeSend, MaybeSync};

/// Verifies signatures with public keys given as JWKs.
pub trait Signatures: MaybeSend + MaybeSync {
    /// Whether `signature` is a valid `alg` signature of `input` under `key`. False for
    /// anything else, a key the platform cannot import included (a point off its curve).
    fn verify(
        &self,
        alg: Alg,
        key: &PlatformKey,
        input: &[u8],
        signature: &[u8],
    ) -> BoxFuture<'static, bool>;
}
