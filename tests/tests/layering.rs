//! DESIGN.md's layering, checked against `cargo metadata`: a lower crate never
//! depends on a higher one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Which of our crates each crate may depend on (normal dependencies).
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let table: &[(&str, &[&str])] = &[
        ("moldau-protocol", &[]),
        ("moldau-log", &["moldau-protocol"]),
        ("moldau-metadata", &["moldau-log", "moldau-protocol"]),
        ("moldau-coordinator", &["moldau-protocol"]),
        (
            "moldau-broker",
            &[
                "moldau-protocol",
                "moldau-log",
                "moldau-metadata",
                "moldau-coordinator",
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
                "moldau-protocol",
                "moldau-metadata",
                "moldau-coordinator",
            ],
        ),
    ];
    table
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect()
}

#[test]
fn crates_depend_only_downwards() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
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
