//! The feature levels a new cluster starts at, as `moldau storage format` chooses
//! them from `--release-version` and `--feature` (kafka-storage.sh's flags) and
//! leaves in the metadata directory for the first active controller.

use std::path::Path;

use moldau_metadata::features::{bootstrap_levels, parse_release_version, RELEASE_VERSION_LATEST};
use moldau_metadata::raft::write_bootstrap_levels;

/// Why the requested levels cannot start a cluster.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BootstrapRefused(pub String);

/// The levels for `release_version` (default the latest, Kafka 4.1) with each
/// `name=level` of `features` on top.
pub fn levels_for_format(
    release_version: Option<&str>,
    features: &[String],
) -> Result<Vec<(String, i16)>, BootstrapRefused> {
    let refuse = |why: String| Err(BootstrapRefused(why));
    let release = match release_version {
        Some(text) => match parse_release_version(text) {
            Some(release) => release,
            None => {
                return refuse(format!(
                    "--release-version {text:?} is not a Kafka release such as 4.1 or 3.9"
                ))
            }
        },
        None => RELEASE_VERSION_LATEST,
    };
    let mut overrides: Vec<(String, i16)> = Vec::new();
    for f in features {
        let Some((name, level)) = f.split_once('=') else {
            return refuse(format!("--feature {f:?} is not name=level"));
        };
        let name = name.trim();
        let Ok(level) = level.trim().parse::<i16>() else {
            return refuse(format!("--feature {f:?}: the level is not a number"));
        };
        if overrides.iter().any(|(n, _)| n == name) {
            return refuse(format!("--feature {name} is given twice"));
        }
        overrides.push((name.to_string(), level));
    }
    bootstrap_levels(release, &overrides).map_err(|e| BootstrapRefused(e.0))
}

/// Leaves `levels` in the metadata directory `dir` for the first active controller.
pub fn write(dir: &Path, levels: &[(String, i16)]) -> Result<(), BootstrapRefused> {
    write_bootstrap_levels(dir, levels).map_err(|e| BootstrapRefused(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_choose_the_levels_or_are_refused() {
        let latest = levels_for_format(None, &[]).unwrap();
        assert!(latest.contains(&("transaction.version".into(), 2)));
        let tv1 = levels_for_format(Some("4.1"), &["transaction.version=1".into()]).unwrap();
        assert!(tv1.contains(&("transaction.version".into(), 1)));
        let old = levels_for_format(Some("3.9"), &[]).unwrap();
        assert!(!old.iter().any(|(n, _)| n == "transaction.version"));
        for (release, features) in [
            (Some("four"), vec![]),
            (Some("3.2"), vec![]),
            (None, vec!["transaction.version".to_string()]),
            (None, vec!["transaction.version=two".to_string()]),
            (None, vec!["transaction.version=3".to_string()]),
            (
                None,
                vec![
                    "transaction.version=1".to_string(),
                    "transaction.version=2".to_string(),
                ],
            ),
        ] {
            assert!(
                levels_for_format(release, &features).is_err(),
                "{release:?} {features:?}"
            );
        }
    }
}
