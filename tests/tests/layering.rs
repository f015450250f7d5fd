//! DESIGN.md's layering, checked against `cargo metadata`: a lower crate never
//! depends on a higher one, and the pure crates pull in no I/O crates.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Which of our crates each crate may depend on (normal dependencies): DESIGN.md's
/// table, row for row.
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let table: &[(&str, &[&str])] = &[
        ("moldau-protocol", &[]),
        ("moldau-log", &["moldau-protocol"]),
        ("moldau-metadata", &["moldau-log", "moldau-protocol"]),
        ("moldau-coordinator", &["moldau-protocol"]),
        ("moldau-security", &["moldau-protocol", "moldau-metadata"]),
        (
            "moldau-broker",
            &[
                "moldau-protocol",
                "moldau-log",
                "moldau-metadata",
                "moldau-coordinator",
                "moldau-security",
            ],
        ),
        (
            "moldau-console",
            // The client's record decoder and partitioner serve the message browser.
            &[
                "moldau-broker",
                "moldau-client",
                "moldau-protocol",
                "moldau-log",
                "moldau-metadata",
                "moldau-coordinator",
            ],
        ),
        ("moldau-client", &["moldau-protocol"]),
        (
            "moldau-cli",
            &[
                "moldau-client",
                "moldau-broker",
                "moldau-console",
                "moldau-log",
                "moldau-coordinator",
                "moldau-protocol",
            ],
        ),
    ];
    table
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect()
}

/// `cargo metadata` of the workspace, with (`deps`) or without the dependency graph.
fn cargo_metadata(deps: bool) -> serde_json::Value {
    let mut args = vec![
        "metadata".to_string(),
        "--format-version".into(),
        "1".into(),
        "--offline".into(),
    ];
    if deps {
        // Only this machine's packages: others' (Windows, macOS) may not be downloaded.
        args.extend(["--filter-platform".into(), host_triple()]);
    } else {
        args.push("--no-deps".into());
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The target triple rustc builds for here.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_string()
}

/// Crates that do network or async I/O: none may be reachable from the crates that
/// DESIGN.md says do no I/O (`protocol`, `coordinator`, and `security` once it exists).
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "h2",
    "reqwest",
    "ureq",
    "tonic",
    "axum",
    "warp",
    "async-std",
    "async-io",
    "async-net",
    "smol",
    "tokio-util",
    "tokio-stream",
    "rdkafka",
    "rustls",
    "native-tls",
    "openssl",
];

/// Crates that open sockets: `metadata` may use openraft (and through it an async
/// runtime) but never these directly, and its tokio (if any) has no networking.
const SOCKET_CRATES: &[&str] = &[
    "mio",
    "socket2",
    "hyper",
    "h2",
    "reqwest",
    "ureq",
    "tonic",
    "axum",
    "warp",
    "async-std",
    "async-net",
    "smol",
    "rdkafka",
];

/// Normal (not dev or build) dependencies reachable from `package_name`.
fn normal_dependency_closure(metadata: &serde_json::Value, package_name: &str) -> BTreeSet<String> {
    let packages = metadata["packages"].as_array().expect("packages");
    let name_of = |id: &str| {
        packages
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["name"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let nodes = metadata["resolve"]["nodes"].as_array().expect("resolve");
    let Some(root) = packages.iter().find(|p| p["name"] == package_name) else {
        return BTreeSet::new();
    };
    let mut seen_ids = BTreeSet::new();
    let mut todo = vec![root["id"].as_str().unwrap_or_default().to_string()];
    while let Some(id) = todo.pop() {
        let Some(node) = nodes.iter().find(|n| n["id"] == id.as_str()) else {
            continue;
        };
        for dep in node["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap_or_default().to_string();
            if normal && seen_ids.insert(dep_id.clone()) {
                todo.push(dep_id);
            }
        }
    }
    seen_ids.iter().map(|id| name_of(id)).collect()
}

#[test]
fn pure_crates_pull_in_no_io_crates() {
    let metadata = cargo_metadata(true);
    for pure in ["moldau-protocol", "moldau-coordinator", "moldau-security"] {
        let closure = normal_dependency_closure(&metadata, pure);
        let found: Vec<&str> = IO_CRATES
            .iter()
            .copied()
            .filter(|c| closure.contains(*c))
            .collect();
        assert!(
            found.is_empty(),
            "{pure} must do no I/O (DESIGN.md) but depends on {found:?}"
        );
    }
    // The check sees the graph: protocol's codec dependencies are there.
    assert!(normal_dependency_closure(&metadata, "moldau-protocol").contains("kafka-protocol"));
}

#[test]
fn metadata_opens_no_sockets() {
    let metadata = cargo_metadata(false);
    let packages = metadata["packages"].as_array().expect("packages");
    let package = packages
        .iter()
        .find(|p| p["name"] == "moldau-metadata")
        .expect("moldau-metadata in the workspace");
    for dep in package["dependencies"].as_array().expect("dependencies") {
        if !dep["kind"].is_null() {
            continue;
        }
        let name = dep["name"].as_str().unwrap_or_default();
        assert!(
            !SOCKET_CRATES.contains(&name),
            "moldau-metadata must open no sockets but depends on {name}"
        );
        if name == "tokio" {
            let features: Vec<&str> = dep["features"]
                .as_array()
                .expect("features")
                .iter()
                .filter_map(|f| f.as_str())
                .collect();
            assert!(
                !features.iter().any(|f| matches!(*f, "net" | "full")),
                "moldau-metadata's tokio must not have networking: {features:?}"
            );
        }
    }
}

#[test]
fn crates_depend_only_downwards() {
    let metadata = cargo_metadata(false);
    let allowed = allowed();
    let mut checked = 0;
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(permitted) = allowed.get(name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            // Only normal dependencies count; tests may use anything.
            if dep_name.starts_with("moldau-") && dep["kind"].is_null() {
                assert!(
                    permitted.contains(dep_name),
                    "{name} must not depend on {dep_name} (see DESIGN.md)"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 7, "found the workspace crates ({checked})");
}

/// The code of a Rust source line: without its `//` comment and with its string
/// literals emptied, so words in messages and docs do not count as names.
fn code_of(line: &str) -> String {
    let mut code = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_string = false;
                    code.push('"');
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                code.push('"');
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => code.push(c),
        }
    }
    code
}

/// Whether `code` uses `word` as a whole identifier (`Broker`, not `MetadataResponseBroker`).
fn names_identifier(code: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Every line of the `.rs` files under `dir` (relative to the workspace) that names
/// one of `forbidden`, as "path:line: text".
fn lines_naming(dir: &str, forbidden: &[&str]) -> (usize, Vec<String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = 0;
    let mut found = Vec::new();
    let mut pending = vec![root.join(dir)];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("source directory reads") {
                pending.push(entry.expect("directory entry").path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).expect("source file reads");
        for (i, line) in text.lines().enumerate() {
            let code = code_of(line);
            if forbidden.iter().any(|w| names_identifier(&code, w)) {
                found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    (files, found)
}

/// DESIGN.md, "Inside the broker": a handler gets narrow services from its request
/// context, never the whole broker.
#[test]
fn handlers_do_not_name_the_broker() {
    let (files, found) = lines_naming("crates/broker/src/handlers", &["Broker"]);
    assert!(files >= 50, "found the handlers ({files} files)");
    assert!(
        found.is_empty(),
        "handlers must use the services of RequestContext, not Broker:\n{}",
        found.join("\n")
    );
}

#[test]
fn identifier_scan_ignores_comments_strings_and_longer_names() {
    assert!(names_identifier(&code_of("fn f(b: &Broker) {}"), "Broker"));
    assert!(names_identifier(
        &code_of("use crate::broker::Broker;"),
        "Broker"
    ));
    assert!(!names_identifier(
        &code_of("MetadataResponseBroker::default()"),
        "Broker"
    ));
    assert!(!names_identifier(
        &code_of("format!(\"Broker {x} \\\" Broker\")"),
        "Broker"
    ));
    assert!(!names_identifier(
        &code_of("let x = 1; // the Broker"),
        "Broker"
    ));
}

/// DESIGN.md: the console reaches the broker through one facade (`ConsoleBackend`);
/// only its entry point, which builds the facade, names `Broker`.
#[test]
fn console_reaches_the_broker_through_its_backend() {
    let (files, found) = lines_naming("crates/console/src", &["Broker"]);
    assert!(files >= 20, "found the console's modules ({files} files)");
    let outside_entry: Vec<&String> = found
        .iter()
        .filter(|l| !l.contains("console/src/lib.rs:"))
        .collect();
    assert!(
        outside_entry.is_empty(),
        "console modules must use ConsoleBackend, not Broker:\n{outside_entry:?}"
    );
}
