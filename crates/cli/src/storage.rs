//! `moldau storage`: the data directory's identity, as `kafka-storage.sh` manages it
//! (random-uuid, format, info).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use moldau_broker::BrokerConfig;
use moldau_log::properties_file::{random_kafka_uuid, uuid_from_kafka_string, MetaProperties};
use moldau_log::DirLock;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(Subcommand, Debug)]
enum StorageCommand {
    /// Print a new cluster id (Kafka's 22-character URL-safe base64 uuid).
    RandomUuid,
    /// Write meta.properties (cluster.id, node.id, directory.id) into every data dir.
    ///
    /// Examples:
    ///   moldau storage format --cluster-id "$(moldau storage random-uuid)" --node-id 1 --data-dir d1
    ///   moldau storage format -t MkU3OEVBNTcwNTJENDM2Qk --config moldau.toml
    Format(FormatArgs),
    /// Show each data dir's meta.properties, or why it cannot be used.
    Info(DirArgs),
}

/// Where the data directories are: flags, or the serve configuration.
#[derive(Args, Debug)]
struct DirArgs {
    /// The serve configuration (TOML, Kafka property names) naming node.id and log.dirs.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Any Kafka property, as name=value; repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// A data directory (Kafka's log.dirs); repeatable. Overrides the configuration's.
    #[arg(long)]
    data_dir: Vec<PathBuf>,
    /// This node's id (Kafka's node.id). Overrides the configuration's.
    #[arg(long)]
    node_id: Option<i32>,
}

#[derive(Args, Debug)]
struct FormatArgs {
    /// The cluster id, as `moldau storage random-uuid` prints it.
    #[arg(long, short = 't')]
    cluster_id: String,
    #[command(flatten)]
    dirs: DirArgs,
    /// Skip directories that are already formatted instead of failing.
    #[arg(long, short = 'g')]
    ignore_formatted: bool,
    /// The initial controller quorum, `id@host:port,…` (KIP-853's
    /// --initial-controllers; `--voters` is the same).
    #[arg(long, alias = "voters")]
    initial_controllers: Option<String>,
    /// This node alone is the initial controller quorum.
    #[arg(long, conflicts_with = "initial_controllers")]
    standalone: bool,
    /// The Kafka release whose feature levels the new cluster starts at (3.3 to
    /// 4.1; default the latest, 4.1: transaction.version 2, group.version 1).
    #[arg(long, short = 'r')]
    release_version: Option<String>,
    /// A feature level for the new cluster, as name=level (e.g.
    /// transaction.version=1); repeatable; overrides the release's.
    #[arg(long = "feature", short = 'f', value_name = "NAME=LEVEL")]
    features: Vec<String>,
}

/// Node id and data directories resolved from flags and configuration.
struct Target {
    node_id: i32,
    dirs: Vec<PathBuf>,
    /// Where the metadata log lives (metadata.log.dir, else the first data dir).
    metadata_dir: PathBuf,
}

impl DirArgs {
    fn resolve(&self) -> anyhow::Result<Target> {
        let props = crate::properties::load(self.config.as_deref(), &self.set)?;
        let config = BrokerConfig::from_properties(props).context("invalid configuration")?;
        let node_id = self.node_id.unwrap_or_else(|| config.node_id());
        let explicit_metadata_dir = config
            .explicit("metadata.log.dir")
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        let dirs = if self.data_dir.is_empty() {
            // Every log directory and the metadata log's, as kafka-storage.sh does.
            let mut dirs: Vec<PathBuf> = config.log_dirs().into_iter().map(PathBuf::from).collect();
            let metadata_dir = PathBuf::from(config.metadata_log_dir());
            if !dirs.contains(&metadata_dir) {
                dirs.push(metadata_dir);
            }
            dirs
        } else {
            self.data_dir.clone()
        };
        let metadata_dir = match (explicit_metadata_dir, self.data_dir.first()) {
            (Some(dir), _) => dir,
            (None, Some(first)) => first.clone(),
            (None, None) => PathBuf::from(config.metadata_log_dir()),
        };
        Ok(Target {
            node_id,
            dirs,
            metadata_dir,
        })
    }
}

pub fn run(args: StorageArgs) -> anyhow::Result<()> {
    match args.command {
        StorageCommand::RandomUuid => {
            println!("{}", random_kafka_uuid());
            Ok(())
        }
        StorageCommand::Format(args) => format(args),
        StorageCommand::Info(args) => info(args),
    }
}

fn format(args: FormatArgs) -> anyhow::Result<()> {
    if uuid_from_kafka_string(&args.cluster_id).is_none() {
        bail!(
            "cluster id '{}' is not a Kafka uuid (22 characters of URL-safe base64); get one from `moldau storage random-uuid`",
            args.cluster_id
        );
    }
    let levels = moldau_broker::bootstrap_features::levels_for_format(
        args.release_version.as_deref(),
        &args.features,
    )?;
    let target = args.dirs.resolve()?;
    if let Some(voters) = &args.initial_controllers {
        check_initial_controllers(voters, target.node_id)?;
    }
    let mut unformatted = Vec::new();
    for dir in &target.dirs {
        match MetaProperties::read(dir).with_context(|| format!("reading {}", dir.display()))? {
            Some(meta) if args.ignore_formatted => {
                println!(
                    "Data directory {} is already formatted (cluster.id {}, node.id {}); skipping it.",
                    dir.display(),
                    meta.cluster_id,
                    meta.node_id
                );
            }
            Some(meta) => bail!(
                "data directory {} is already formatted (cluster.id {}, node.id {}); use --ignore-formatted to skip it and format the others",
                dir.display(),
                meta.cluster_id,
                meta.node_id
            ),
            None => unformatted.push(dir),
        }
    }
    if unformatted.is_empty() {
        println!("All of the data directories are already formatted.");
        return Ok(());
    }
    for dir in unformatted {
        format_dir(dir, &args.cluster_id, target.node_id)?;
        if *dir == target.metadata_dir {
            // The metadata log's directory carries the new cluster's feature levels.
            moldau_broker::bootstrap_features::write(dir, &levels)
                .with_context(|| format!("writing the feature levels into {}", dir.display()))?;
            let shown: Vec<String> = levels.iter().map(|(n, l)| format!("{n}={l}")).collect();
            println!("Bootstrap feature levels: {}.", shown.join(", "));
        }
        println!(
            "Formatting data directory {} with cluster.id {} and node.id {}.",
            dir.display(),
            args.cluster_id,
            target.node_id
        );
    }
    Ok(())
}

/// Writes meta.properties under the directory lock, so a running broker's directory is
/// never rewritten under it.
fn format_dir(dir: &Path, cluster_id: &str, node_id: i32) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = DirLock::acquire(dir)?;
    // Checked again under the lock: a broker may have formatted it meanwhile.
    if let Some(meta) = MetaProperties::read(dir)? {
        bail!(
            "data directory {} was formatted meanwhile (cluster.id {})",
            dir.display(),
            meta.cluster_id
        );
    }
    MetaProperties::new_directory(cluster_id, node_id).write(dir)?;
    Ok(())
}

/// Moldau's quorum is this one node until the Raft quorum runs in `serve`, so the only
/// initial quorum accepted is this node alone (anything else would be ignored).
fn check_initial_controllers(voters: &str, node_id: i32) -> anyhow::Result<()> {
    let parsed = moldau_broker::quorum_voters::parse_voters(voters)
        .map_err(|e| anyhow::anyhow!("--initial-controllers: {e}"))?;
    match parsed.as_slice() {
        [only] if only.id == node_id => Ok(()),
        [only] => bail!(
            "--initial-controllers names node {} but this node is {node_id}; a controller must be one of the initial voters",
            only.id
        ),
        _ => bail!(
            "--initial-controllers lists {} voters: a multi-node controller quorum is not supported yet; give this node alone",
            parsed.len()
        ),
    }
}

fn info(args: DirArgs) -> anyhow::Result<()> {
    let target = args.resolve()?;
    let mut problems = Vec::new();
    for dir in &target.dirs {
        match MetaProperties::read(dir) {
            Ok(Some(meta)) => {
                println!("Found data directory:\n  {}\n", dir.display());
                println!(
                    "Found metadata: {{cluster.id={}, directory.id={}, node.id={}, version={}}}\n",
                    meta.cluster_id, meta.directory_id, meta.node_id, meta.version
                );
                if meta.node_id != target.node_id {
                    problems.push(format!(
                        "{} is formatted for node.id {}, not {}",
                        dir.display(),
                        meta.node_id,
                        target.node_id
                    ));
                }
            }
            Ok(None) if dir.exists() => {
                problems.push(format!("{} is not formatted.", dir.display()))
            }
            Ok(None) => problems.push(format!("{} does not exist.", dir.display())),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        println!("Found problem:\n  {p}\n");
    }
    bail!("{} problem(s) found", problems.len())
}
