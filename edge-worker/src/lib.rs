//! Cloudflare Workers adapter for Manifold. Placeholder: the real adapter lands with the Workers
//! issue; until then this crate only proves that manifold-core links for wasm32.

pub use manifold_core::VERSION;
