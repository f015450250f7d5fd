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
    /// Print log segments and indexes the way kafka-dump-log.sh does.
    ///
    /// Examples:
    ///   moldau dump-log --files moldau-data/demo-0/00000000000000000000.log --print-data-log
    ///   moldau dump-log --files demo-0/00000000000000000000.index --verify-index-only
    DumpLog(DumpLogArgs),
}

#[derive(clap::Args)]
struct DumpLogArgs {
    /// Comma-separated .log, .index and .timeindex files.
    #[arg(long, value_delimiter = ',', required = true)]
    files: Vec<std::path::PathBuf>,
    /// Print every record, not only batch headers.
    #[arg(long)]
    print_data_log: bool,
    /// Only check index entries against the log, printing mismatches.
    #[arg(long)]
    verify_index_only: bool,
}

fn main() -> std::process::ExitCode {
    moldau_broker::alloc_guard::tune_heap_for_large_buffers();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain, no backtrace.
            eprintln!("moldau: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::DumpLog(args) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            moldau_log::dump::dump_files(
                &args.files,
                args.print_data_log,
                args.verify_index_only,
                &mut out,
            )?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
    }
}
