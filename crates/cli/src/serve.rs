//! `moldau serve`: configuration from file, flags and environment, then the broker
//! until Ctrl-C or SIGTERM, shutting down cleanly.

use anyhow::{bail, Context};
use clap::Args;
use moldau_broker::{Broker, BrokerConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory (Kafka's log.dirs).
    #[arg(long, env = "MOLDAU_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the Kafka listener (port 0 picks a free port).
    #[arg(long, env = "MOLDAU_LISTEN")]
    listen: Option<String>,
    /// Address clients are told to connect to (defaults to the listener's).
    #[arg(long, env = "MOLDAU_ADVERTISE")]
    advertise: Option<String>,
    /// Address of the web console, or "off".
    #[arg(long, env = "MOLDAU_CONSOLE", default_value = "127.0.0.1:8080")]
    console: String,
    /// This broker's id (Kafka's node.id).
    #[arg(long, env = "MOLDAU_NODE_ID")]
    node_id: Option<i32>,
    /// The cluster this node belongs to (as `moldau storage random-uuid` prints); a data
    /// directory formatted for another cluster is refused.
    #[arg(long, env = "MOLDAU_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// TOML file whose keys are Kafka property names.
    #[arg(long, env = "MOLDAU_CONFIG")]
    config: Option<PathBuf>,
    /// Any Kafka property, as name=value; repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", env = "MOLDAU_SET")]
    set: Vec<String>,
}

/// Merges file, `--set` and flags (later wins) into Kafka properties.
fn properties(args: &ServeArgs) -> anyhow::Result<BTreeMap<String, String>> {
    let mut props = crate::properties::load(args.config.as_deref(), &args.set)?;
    if let Some(dir) = &args.data_dir {
        props.insert("log.dirs".into(), dir.display().to_string());
    }
    if let Some(listen) = &args.listen {
        props.insert("listeners".into(), format!("PLAINTEXT://{listen}"));
    }
    if let Some(adv) = &args.advertise {
        props.insert("advertised.listeners".into(), format!("PLAINTEXT://{adv}"));
    }
    if let Some(id) = args.node_id {
        props.insert("node.id".into(), id.to_string());
    }
    if let Some(id) = &args.cluster_id {
        props.insert("cluster.id".into(), id.clone());
    }
    Ok(props)
}

/// Splits "host:port" (the port must be a number).
fn split_host_port(addr: &str) -> anyhow::Result<(String, i32)> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("'{addr}' is not HOST:PORT"))?;
    let port: i32 = port
        .parse()
        .with_context(|| format!("'{port}' in '{addr}' is not a port number"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config =
        BrokerConfig::from_properties(properties(&args)?).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("moldau")
        .build()?;
    runtime.block_on(serve(config, args.console))
}

async fn serve(config: BrokerConfig, console: String) -> anyhow::Result<()> {
    moldau_broker::open_files_limit::raise_to_hard_limit();
    let listen = config.listen_address();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding the Kafka listener to {listen}"))?;
    let bound = listener.local_addr()?;
    // Bound before the broker opens, so a taken console port fails start-up at once.
    let console_listener = match console.as_str() {
        "off" => None,
        addr => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("binding the web console to {addr} (--console off disables it)")
        })?),
    };
    let advertised = match config.advertised_address() {
        Some(a) => split_host_port(&a)?,
        None => (bound.ip().to_string(), bound.port() as i32),
    };
    let broker: Arc<Broker> = {
        let config = config.clone();
        let advertised = advertised.clone();
        tokio::task::spawn_blocking(move || {
            let handle = tokio::runtime::Handle::current();
            let _guard = handle.enter();
            Broker::open(config, advertised)
        })
        .await??
    };
    // One log directory: when it fails the broker stops, as Kafka does when its last
    // log directory goes offline; a restart recovers from the last good fsync.
    broker.logs.on_offline(Box::new(|error| {
        tracing::error!(%error, "the only log directory is offline; stopping the broker");
        std::process::exit(1);
    }));
    if broker.logs.is_offline() {
        bail!("the log directory went offline during start-up");
    }
    tracing::info!(
        node_id = broker.node_id,
        cluster_id = %broker.cluster_id,
        data_dir = %broker.data_dir.display(),
        "kafka listener on {bound}, advertised as {}:{}",
        advertised.0,
        advertised.1
    );
    // Signal handlers go in before the listening line: a stop sent by a script as soon
    // as it sees that line must shut down cleanly, not kill the process.
    let stop_signal = StopSignal::install()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let console_task = match console_listener {
        Some(l) => {
            let addr = l.local_addr()?;
            tracing::info!("web console on http://{addr}");
            // Printed before the Kafka line, so waiting for that one is enough.
            println!("moldau listening console={addr}");
            let stop = stop_rx.clone();
            Some(tokio::spawn(moldau_console::serve(
                Arc::clone(&broker),
                l,
                stop,
            )))
        }
        None => None,
    };
    // Tests and scripts wait for this line to learn the bound port.
    println!("moldau listening kafka={bound}");
    let _ = std::io::stdout().flush();

    let server = tokio::spawn(moldau_broker::server::run(
        Arc::clone(&broker),
        listener,
        stop_rx,
    ));
    stop_signal.wait().await;
    tracing::info!("shutting down: answering in-flight requests");
    let _ = stop_tx.send(true);
    let _ = server.await;
    if let Some(task) = console_task {
        let _ = task.await;
    }
    tokio::task::spawn_blocking(move || broker.shutdown()).await??;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Ctrl-C or SIGTERM, listened for from the moment it is installed.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> std::io::Result<StopSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            split_host_port("127.0.0.1:9092").unwrap(),
            ("127.0.0.1".into(), 9092)
        );
        assert!(split_host_port("nohost").is_err());
        assert!(split_host_port("h:port").is_err());
    }
}
