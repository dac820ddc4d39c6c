//! Embeds `config/gateway.json` (or `MANIFOLD_CONFIG`) into the bootstrap and validates it at
//! build time, so a broken config fails the build, not a cold start (see manifold-build).

fn main() {
    manifold_build::embed_gateway_config(manifold_build::Target::Lambda, "docs/lambda.md");
}
