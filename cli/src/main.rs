//! The `manifold` command (placeholder until the CLI issue lands).

fn main() {
    println!("manifold {}", manifold_core::VERSION);
}
