//! `moldau`: the broker and the tools around it in one binary.

mod acl;
mod base64;
mod cluster;
mod consume;
mod context;
mod group;
mod group_describe;
mod group_reset;
mod leader_election;
mod log_dirs;
mod log_json;
mod log_setup;
mod offsets_dump;
mod output;
mod produce;
mod produce_topic;
mod properties;
mod raft_retry_filter;
mod reassign_partitions;
mod record_format;
mod serve;
mod storage;
mod timeparse;
mod topic;
mod topic_describe;
mod transactions;
mod transactions_hanging;
mod user;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it. Defaults to
    /// info for `serve`, warn for the tools (their output is the point).
    #[arg(long, global = true, env = "MOLDAU_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log lines as text (coloured only at a terminal without NO_COLOR) or as JSON
    /// objects, one per line, for log shippers.
    #[arg(
        long,
        global = true,
        env = "MOLDAU_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: log_setup::LogFormat,
    #[command(flatten)]
    client: context::ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker.
    #[command(after_help = "Examples:
  moldau serve
  moldau serve --data-dir /var/lib/moldau --set num.partitions=3
  moldau serve --config moldau.toml --listen 0.0.0.0:9092 --advertise kafka1:9092")]
    Serve(serve::ServeArgs),
    /// Data directory identity, as kafka-storage.sh: random-uuid, format, info.
    #[command(after_help = "Examples:
  moldau storage random-uuid
  moldau storage format --cluster-id \"$(moldau storage random-uuid)\" --node-id 1 --data-dir d1
  moldau storage info --data-dir d1")]
    Storage(storage::StorageArgs),
    /// Print log segments, indexes and producer snapshots the way kafka-dump-log.sh does.
    #[command(after_help = "Examples:
  moldau dump-log --files moldau-data/demo-0/00000000000000000000.log --print-data-log
  moldau dump-log --files demo-0/00000000000000000000.index --verify-index-only")]
    DumpLog(DumpLogArgs),
    /// Create, list, describe, alter and delete topics.
    Topic(topic::TopicArgs),
    /// Consumer groups: list, describe with lag, reset and delete offsets.
    Group(group::GroupArgs),
    /// Write lines from stdin or a file to a topic, one record per line.
    #[command(after_help = produce::EXAMPLES)]
    Produce(produce::ProduceArgs),
    /// Print records of a topic, alone or as a member of a consumer group.
    #[command(after_help = consume::EXAMPLES)]
    Consume(consume::ConsumeArgs),
    /// The cluster: id, brokers, controller, API versions.
    Cluster(cluster::ClusterArgs),
    /// SCRAM users (add, delete, list), as kafka-configs.sh --entity-type users.
    User(user::UserArgs),
    /// Transactions: list, describe, describe-producers, find-hanging, abort (as
    /// kafka-transactions.sh).
    Transactions(transactions::TransactionsArgs),
    /// ACLs (add, remove, list), as kafka-acls.sh.
    Acl(acl::AclArgs),
    /// Log directories: describe them (as kafka-log-dirs.sh), move a partition between them.
    LogDirs(log_dirs::LogDirsArgs),
    /// Elect partition leaders: the preferred replicas, or unclean (as
    /// kafka-leader-election.sh).
    LeaderElection(leader_election::LeaderElectionArgs),
    /// Move partition replicas between brokers from a JSON plan: execute, verify,
    /// cancel, list (as kafka-reassign-partitions.sh).
    ReassignPartitions(reassign_partitions::ReassignPartitionsArgs),
}

#[derive(clap::Args)]
struct DumpLogArgs {
    /// Comma-separated .log, .index, .timeindex and .snapshot files.
    #[arg(long, value_delimiter = ',', required = true)]
    files: Vec<std::path::PathBuf>,
    /// Print every record, not only batch headers. With --json: one JSON object per
    /// line, for each batch and (with this flag) each record; .log files only.
    #[arg(long)]
    print_data_log: bool,
    /// Only check index entries against the log, printing mismatches.
    #[arg(long)]
    verify_index_only: bool,
}

/// Said under each subcommand's help instead of repeating the global options there.
const GLOBAL_OPTIONS_NOTE: &str =
    "Global options (-b, --json, --timeout, --log-level, --log-format) go before or after \
     the subcommand; see `moldau --help`.";

/// Gives every subcommand (at every depth) a hidden copy of each global option, so
/// clap does not propagate the visible one: the options still parse anywhere, but
/// `--help` lists them once, under `moldau --help`.
fn hide_globals_in_subcommands(mut cmd: clap::Command, globals: &[clap::Arg]) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            for g in globals {
                if !sub.get_arguments().any(|a| a.get_id() == g.get_id()) {
                    sub = sub.arg(g.clone().hide(true));
                }
            }
            let note = match sub.get_after_help() {
                Some(examples) => format!("{examples}\n\n{GLOBAL_OPTIONS_NOTE}"),
                None => GLOBAL_OPTIONS_NOTE.to_string(),
            };
            hide_globals_in_subcommands(sub.after_help(note), globals)
        });
    }
    cmd
}

/// The command line definition, global options shown once.
fn command() -> clap::Command {
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    hide_globals_in_subcommands(cmd, &globals)
}

fn main() -> std::process::ExitCode {
    moldau_broker::alloc_guard::tune_heap_for_large_buffers();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let level = cli.log_level.as_deref().unwrap_or(default_level);
    log_setup::init(level, cli.log_format);
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Storage(args) => storage::run(args),
        Command::DumpLog(args) => {
            // Checked first, so a missing file is one clear line rather than a
            // half-printed dump and an I/O error.
            for file in &args.files {
                if !file.exists() {
                    anyhow::bail!("{}: no such file", file.display());
                }
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if cli.client.json() {
                moldau_log::dump_json::dump_logs_json(
                    &args.files,
                    args.print_data_log,
                    Some(&offsets_dump::format_offsets_record),
                    &mut out,
                )?;
            } else {
                moldau_log::dump::dump_files(
                    &args.files,
                    args.print_data_log,
                    args.verify_index_only,
                    Some(&offsets_dump::format_offsets_record),
                    &mut out,
                )?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Topic(args) => topic::run(&cli.client.context()?, args),
        Command::Group(args) => group::run(&cli.client.context()?, args),
        Command::Produce(args) => produce::run(&cli.client.context()?, args),
        Command::Consume(args) => consume::run(&cli.client.context()?, args),
        Command::Cluster(args) => cluster::run(&cli.client.context()?, args),
        Command::User(args) => user::run(&cli.client.context()?, args),
        Command::Transactions(args) => transactions::run(&cli.client.context()?, args),
        Command::Acl(args) => acl::run(&cli.client.context()?, args),
        Command::LogDirs(args) => log_dirs::run(&cli.client.context()?, args),
        Command::LeaderElection(args) => leader_election::run(&cli.client.context()?, args),
        Command::ReassignPartitions(args) => reassign_partitions::run(&cli.client.context()?, args),
    }
}
