//! `moldau`: the broker and the tools around it in one binary.

mod serve;

use clap::{Parser, Subcommand};

/// Hostile array counts on the wire must close a connection, not abort the process.
#[global_allocator]
static ALLOCATOR: moldau_broker::alloc_guard::GuardedAllocator =
    moldau_broker::alloc_guard::GuardedAllocator;

#[derive(Parser)]
#[command(
    name = "moldau",
    version,
    about = "A Kafka-compatible streaming platform"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, env = "MOLDAU_LOG_LEVEL", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker.
    ///
    /// Examples:
    ///   moldau serve
    ///   moldau serve --data-dir /var/lib/moldau --set num.partitions=3
    ///   moldau serve --config moldau.toml --listen 0.0.0.0:9092 --advertise kafka1:9092
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
