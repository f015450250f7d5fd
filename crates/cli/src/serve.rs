//! `moldau serve`: configuration from file, flags and environment, then the broker
//! until Ctrl-C or SIGTERM, shutting down cleanly.

use anyhow::{bail, Context};
use clap::Args;
use moldau_broker::advertised_listeners::{AdvertisedListener, AdvertisedListeners};
use moldau_broker::server::NamedListener;
use moldau_broker::{Broker, BrokerConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory (Kafka's log.dirs) [default: ./moldau-data, or log.dirs from
    /// --config]
    #[arg(long, env = "MOLDAU_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the PLAINTEXT client listener (port 0 picks a free port); other
    /// listeners come from `listeners` [default: 127.0.0.1:9092, or listeners from
    /// --config]
    #[arg(long, env = "MOLDAU_LISTEN")]
    listen: Option<String>,
    /// Address clients of the PLAINTEXT listener are told to connect to (defaults to
    /// the listener's).
    #[arg(long, env = "MOLDAU_ADVERTISE")]
    advertise: Option<String>,
    /// Address of the CONTROLLER listener (adds it to `listeners` and
    /// `controller.listener.names`).
    #[arg(long, env = "MOLDAU_CONTROLLER")]
    controller: Option<String>,
    /// The controller quorum, `id@host:port,…` (Kafka's controller.quorum.voters).
    #[arg(long, env = "MOLDAU_VOTERS")]
    voters: Option<String>,
    /// broker, controller, or both (Kafka's process.roles) [default: broker,controller]
    #[arg(long, env = "MOLDAU_PROCESS_ROLES")]
    process_roles: Option<String>,
    /// This broker's rack (Kafka's broker.rack), reported to clients.
    #[arg(long, env = "MOLDAU_RACK")]
    rack: Option<String>,
    /// Address of the web console, or "off".
    #[arg(long, env = "MOLDAU_CONSOLE", default_value = "127.0.0.1:8080")]
    console: String,
    /// This broker's id (Kafka's node.id) [default: 1]
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
        upsert_listener(&mut props, "listeners", "PLAINTEXT", listen);
    }
    if let Some(adv) = &args.advertise {
        upsert_listener(&mut props, "advertised.listeners", "PLAINTEXT", adv);
    }
    if let Some(controller) = &args.controller {
        upsert_listener(&mut props, "listeners", "CONTROLLER", controller);
        props
            .entry("controller.listener.names".into())
            .or_insert_with(|| "CONTROLLER".into());
    }
    for (name, value) in [
        ("controller.quorum.voters", &args.voters),
        ("process.roles", &args.process_roles),
        ("broker.rack", &args.rack),
    ] {
        if let Some(v) = value {
            props.insert(name.into(), v.clone());
        }
    }
    if let Some(id) = args.node_id {
        props.insert("node.id".into(), id.to_string());
    }
    if let Some(id) = &args.cluster_id {
        props.insert("cluster.id".into(), id.clone());
    }
    Ok(props)
}

/// Sets listener `name` to `address` in the list property `property` (the default
/// list when unset), keeping the other listeners.
fn upsert_listener(
    props: &mut BTreeMap<String, String>,
    property: &str,
    name: &str,
    address: &str,
) {
    let current = props.get(property).cloned().unwrap_or_else(|| {
        moldau_broker::config::broker_property(property)
            .and_then(|d| d.default)
            .unwrap_or_default()
            .to_string()
    });
    let prefix = format!("{name}://");
    let mut items: Vec<String> = current
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty() && !i.to_ascii_uppercase().starts_with(&prefix))
        .map(str::to_string)
        .collect();
    let entry = format!("{prefix}{address}");
    // The PLAINTEXT listener stays first: it is the one printed as `kafka=`.
    if name == "PLAINTEXT" {
        items.insert(0, entry);
    } else {
        items.push(entry);
    }
    props.insert(property.to_string(), items.join(","));
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

/// Binds every listener of the configuration: client listeners first, in order.
async fn bind_listeners(
    config: &BrokerConfig,
) -> anyhow::Result<(Vec<NamedListener>, Vec<tokio::net::TcpListener>)> {
    let listeners = &config.node.listeners;
    let mut client = Vec::new();
    for l in listeners.client_listeners() {
        let address = l.bind_address();
        let bound = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding listener {} to {address}", l.name))?;
        client.push(NamedListener {
            name: l.name.as_str().into(),
            listener: bound,
        });
    }
    let mut controller = Vec::new();
    for l in listeners.controller_listeners() {
        let address = l.bind_address();
        controller.push(
            tokio::net::TcpListener::bind(&address)
                .await
                .with_context(|| format!("binding controller listener {} to {address}", l.name))?,
        );
    }
    Ok((client, controller))
}

/// Each client listener's advertised address: `advertised.listeners`, else the address
/// it is bound to (with the port it got).
fn advertised_listeners(
    config: &BrokerConfig,
    bound: &[NamedListener],
) -> anyhow::Result<AdvertisedListeners> {
    let mut entries = Vec::new();
    for l in bound {
        let (host, port) = match config.node.listeners.advertised_for(&l.name) {
            Some(a) => (a.host.clone(), i32::from(a.port)),
            None => {
                let addr = l.listener.local_addr()?;
                (addr.ip().to_string(), i32::from(addr.port()))
            }
        };
        entries.push(AdvertisedListener {
            name: l.name.to_string(),
            host,
            port,
        });
    }
    Ok(AdvertisedListeners::new(
        entries,
        &config.node.listeners.inter_broker,
    ))
}

async fn serve(config: BrokerConfig, console: String) -> anyhow::Result<()> {
    moldau_broker::open_files_limit::raise_and_size_file_cache();
    let (client_listeners, controller_listeners) = bind_listeners(&config).await?;
    // Bound before the broker opens, so a taken console port fails start-up at once.
    let console_listener = match console.as_str() {
        "off" => None,
        addr => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("binding the web console to {addr} (--console off disables it)")
        })?),
    };
    let advertised = advertised_listeners(&config, &client_listeners)?;
    if controller_listeners.len() > 1 {
        bail!("controller.listener.names: give one controller listener, it carries the metadata quorum");
    }
    let mut shown = Vec::new();
    let controller_listener = controller_listeners.into_iter().next();
    if let Some(l) = &controller_listener {
        shown.push(format!(
            "controller listener on {} (metadata quorum, no client APIs)",
            l.local_addr()?
        ));
    }
    let broker: Arc<Broker> =
        Broker::open(config.clone(), advertised.clone(), controller_listener).await?;
    // A failed log directory takes only its partitions offline; once every one has
    // failed the broker stops, as Kafka does; a restart recovers from the last good
    // fsync.
    broker.logs.on_all_offline(Box::new(|error| {
        tracing::error!(%error, "every log directory is offline; stopping the broker");
        std::process::exit(1);
    }));
    if broker.logs.all_offline() {
        bail!("every log directory went offline during start-up");
    }
    for (l, a) in client_listeners.iter().zip(advertised.iter()) {
        shown.push(format!(
            "{}://{} advertised as {}:{}",
            l.name,
            l.listener.local_addr()?,
            a.host,
            a.port
        ));
    }
    tracing::info!(
        node_id = broker.node_id,
        cluster_id = %broker.cluster_id,
        data_dir = %broker.data_dir.display(),
        log_dirs = %broker.config.log_dirs().join(","),
        "listeners: {}",
        shown.join(", ")
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
    // Tests and scripts wait for the `kafka=` line (the first client listener) to learn
    // the bound port; each listener is printed by name before it.
    for l in &client_listeners {
        println!(
            "moldau listening listener.{}={}",
            l.name,
            l.listener.local_addr()?
        );
    }
    let first = client_listeners
        .first()
        .context("no client listener")?
        .listener
        .local_addr()?;
    println!("moldau listening kafka={first}");
    let _ = std::io::stdout().flush();

    let server = tokio::spawn(moldau_broker::server::run_listeners(
        Arc::clone(&broker),
        client_listeners,
        stop_rx,
    ));
    let mut refusal = broker.lifecycle.refusal();
    let refused = tokio::select! {
        _ = stop_signal.wait() => None,
        // The controller will never take this broker (another cluster's directory).
        r = refusal.wait_for(Option::is_some) => r.ok().and_then(|r| r.clone()),
    };
    // Leadership is handed to other replicas first, while this node still serves:
    // clients move to the new leaders at once instead of after a session timeout.
    let handover_limit =
        std::time::Duration::from_millis(config.node.session_timeout_ms.max(1) as u64);
    broker.controlled_shutdown(handover_limit).await;
    tracing::info!("shutting down: answering in-flight requests");
    let _ = stop_tx.send(true);
    let _ = server.await;
    if let Some(task) = console_task {
        let _ = task.await;
    }
    broker.stop_metadata_quorum().await;
    tokio::task::spawn_blocking(move || broker.shutdown()).await??;
    if let Some(why) = refused {
        bail!("{why}");
    }
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
    fn flags_set_their_listener_and_keep_the_others() {
        let mut props = BTreeMap::new();
        upsert_listener(&mut props, "listeners", "PLAINTEXT", "127.0.0.1:0");
        assert_eq!(props["listeners"], "PLAINTEXT://127.0.0.1:0");
        props.insert(
            "listeners".into(),
            "INTERNAL://127.0.0.1:19092,PLAINTEXT://127.0.0.1:9092".into(),
        );
        upsert_listener(&mut props, "listeners", "PLAINTEXT", "127.0.0.1:0");
        upsert_listener(&mut props, "listeners", "CONTROLLER", "127.0.0.1:9093");
        assert_eq!(
            props["listeners"],
            "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:19092,CONTROLLER://127.0.0.1:9093"
        );
    }
}
