//! `manifold-features <config>`: the manifold-core features a gateway config needs, comma
//! separated (empty: none), for `cargo build --no-default-features --features <list>`.
//! edge-worker/build.sh runs it before building the Worker (docs/workers.md).

use std::process::ExitCode;

#[allow(clippy::print_stderr)] // a command-line tool: its errors go to stderr
fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: manifold-features <config.json>");
        return ExitCode::from(2);
    };
    match manifold_build::features_for(std::path::Path::new(&path)) {
        Ok(features) => {
            println!("{}", features.join(","));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("manifold-features: {e}");
            ExitCode::FAILURE
        }
    }
}
