//! AWS Lambda adapter for Manifold. Placeholder: the real adapter lands with the Lambda issue.

fn main() {
    println!(
        "manifold-lambda {} (adapter not built yet)",
        manifold_core::VERSION
    );
}
