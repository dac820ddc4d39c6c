//! Embeds `config/gateway.json` (or `MANIFOLD_CONFIG`) into the Worker and validates it at
//! build time, so a broken config fails the build, not the first request (see manifold-build).

fn main() {
    manifold_build::embed_gateway_config(manifold_build::Target::Workers, "docs/workers.md");
}
