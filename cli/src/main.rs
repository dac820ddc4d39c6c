//! `manifold`: serve, check or demo a KrakenD v3 config, or turn it into OpenAPI and back. Argument parsing and the runtime only;
//! the commands live in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use manifold::check::Report;
use manifold::log_buffer;
use manifold::logging::{self, LogFormat};
use manifold::run::{RunOptions, StartError};
use manifold::{demo, openapi, run, signal};
use manifold_core::config::load::LoadError;
use manifold_core::Gateway;

// The profile of scenario a (bench/profile-notes.md) put glibc's malloc/free at ~12 % of the
// gateway's own CPU; mimalloc's thread-local free lists cut that.
#[global_allocator]
static GLOBAL: manifold_alloc::Mimalloc = manifold_alloc::Mimalloc;

/// Manifold: a KrakenD-compatible declarative API gateway.
#[derive(Debug, Parser)]
#[command(name = "manifold", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a config (like `krakend run`).
    Run(RunArgs),
    /// Validate a config: every error and warning with line:column (like `krakend check`).
    Check(CheckArgs),
    /// Run KrakenD's front-page example with in-process backends.
    Demo(DemoArgs),
    /// OpenAPI: export the gateway as an OpenAPI 3.1 document, or import a config skeleton.
    #[command(subcommand)]
    Openapi(OpenapiCommand),
}

#[derive(Debug, Subcommand)]
enum OpenapiCommand {
    /// Write an OpenAPI 3.1 document of a config's endpoints (JSON).
    Export(ExportArgs),
    /// Write a KrakenD config skeleton from an OpenAPI 3.0/3.1 file (JSON or YAML).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The config file (KrakenD v3 JSON).
    #[arg(short, long)]
    config: PathBuf,
    /// Write the document here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// `info.title` (default: the config's file name).
    #[arg(long)]
    title: Option<String>,
    /// `info.version`.
    #[arg(long, default_value = "1.0.0")]
    api_version: String,
    /// `servers[0].url`, e.g. https://api.example.com.
    #[arg(long)]
    server: Option<String>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The OpenAPI 3.0/3.1 file (JSON or YAML).
    spec: PathBuf,
    /// Write the config here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// scheme://host[:port] of the backends instead of the spec's `servers[0]` (its path is kept).
    #[arg(long, value_name = "URL")]
    backend_host: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The config file (KrakenD v3 JSON).
    #[arg(short, long)]
    config: PathBuf,
    /// Listen on this port instead of the config's `port`.
    #[arg(short, long)]
    port: Option<u16>,
    /// Debug logs and the `/__debug/` endpoint.
    #[arg(short, long)]
    debug: bool,
    /// Worker threads (default: one per CPU core; 1: everything on one thread).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Log line format (default: text, or JSON with `telemetry/logging`'s `logstash` format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Largest accepted request body, in bytes (larger ones get 413); overrides the config's
    /// `router.max_payload` (default 10 MiB).
    #[arg(long, value_name = "BYTES")]
    max_body_size: Option<usize>,
    /// Reload the config when the file changes: validated first, swapped atomically; an
    /// invalid file is refused and logged (SIGHUP reloads too, with or without this flag).
    #[arg(short, long)]
    watch: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The config file (KrakenD v3 JSON).
    #[arg(short, long)]
    config: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The gateway's port.
    #[arg(short, long, default_value_t = 8080)]
    port: u16,
}

fn main() -> ExitCode {
    // Before the heap grows: huge pages multiplied the peak RSS (memory.rs).
    manifold::memory::no_transparent_huge_pages();
    let cli = Cli::parse();
    ExitCode::from(match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => check(&args),
        Command::Demo(args) => demo(&args),
        Command::Openapi(OpenapiCommand::Export(args)) => {
            openapi::run_export(&openapi::ExportArgs {
                config: args.config,
                output: args.output,
                title: args.title,
                version: args.api_version,
                server: args.server,
            })
        }
        Command::Openapi(OpenapiCommand::Import(args)) => {
            openapi::run_import(&openapi::ImportArgs {
                spec: args.spec,
                output: args.output,
                options: openapi::import::Options {
                    backend_host: args.backend_host,
                },
            })
        }
    })
}

fn run(args: RunArgs) -> u8 {
    // Logging starts once the config is loaded (`telemetry/logging`); errors before that go
    // to stderr, for the person at the terminal.
    // One thread: tokio's current-thread runtime, so the accept loop, the connections and the
    // backend connections' tasks share one thread and wake each other without crossing
    // threads (bench/profile-notes.md). More: the work-stealing runtime with that many workers.
    let mut runtime = match args.threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(n);
            runtime
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    // Log lines go out in one write per batch, before a runtime thread goes idle
    // (log_buffer.rs).
    runtime.on_thread_park(log_buffer::flush_thread);
    let options = RunOptions {
        config: args.config,
        port: args.port,
        debug: args.debug,
        max_body: args.max_body_size,
        watch: args.watch,
        log_format: args.log_format,
    };
    let result = runtime
        .enable_all()
        .build()
        .map_err(|e| {
            StartError::Bind(std::io::Error::other(format!(
                "cannot start the runtime: {e}"
            )))
        })
        .and_then(|rt| {
            rt.block_on(async {
                let stop = signal::install();
                run::run(options.clone(), stop).await
            })
        });
    // The lines this thread (the current-thread runtime's) still keeps.
    log_buffer::flush_thread();
    match result {
        Ok(_) => 0,
        Err(e) => report_start_error(&options.config, &e),
    }
}

fn check(args: &CheckArgs) -> u8 {
    // Run-time `${env:NAME}` values need not be set here: they stand in, `run` resolves them.
    let (result, standing_in) =
        manifold_native::check_file(&args.config, |name| std::env::var(name).ok());
    // Compiling catches what only the router sees, building the TLS settings what only rustls
    // sees, opening the Redis pools reads their TLS files, as `run` does before serving; the
    // platform is never called.
    let result = result.and_then(|config| match run::native_tls(&config) {
        Err(e) => Err(run::tls_load_error(e, &config)),
        Ok((platform, _)) => match run::open_pools(&config.redis) {
            Ok(_) => Ok(Gateway::new(config, platform)),
            Err(mut e) => {
                e.warnings = config.warnings;
                Err(LoadError::Invalid(e))
            }
        },
    });
    let report = Report {
        file: &args.config,
        result: result.as_ref().map(Gateway::config),
        standing_in: &standing_in,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    report.exit_code()
}

fn demo(args: &DemoArgs) -> u8 {
    // Quiet logs: the demo prints its own per-request summary.
    logging::init(LogFormat::Text, "warn");
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| {
            StartError::Bind(std::io::Error::other(format!(
                "cannot start the runtime: {e}"
            )))
        })
        .and_then(|rt| {
            rt.block_on(async {
                let stop = signal::install();
                demo::run(args.port, stop).await
            })
        });
    match result {
        Ok(()) => 0,
        Err(e) => report_start_error(&PathBuf::from("config/demo.json"), &e),
    }
}

/// Startup failures go to stderr whatever the log format: they are for the person at the
/// terminal (config errors in `check`'s format, with line:column).
#[allow(clippy::print_stderr)]
fn report_start_error(config: &std::path::Path, error: &StartError) -> u8 {
    match error {
        StartError::Load(e) => {
            let report = Report {
                file: config,
                result: Err(e),
                standing_in: &[],
            };
            eprint!("{}", report.text());
        }
        other => eprintln!("manifold: {other}"),
    }
    error.exit_code()
}
