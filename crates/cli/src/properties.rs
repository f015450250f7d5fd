//! Kafka properties from a TOML file and `--set NAME=VALUE` flags, shared by `serve`
//! and `storage`.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads `config` (if given), then applies `set` (later wins).
pub fn load(config: Option<&Path>, set: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut props = BTreeMap::new();
    if let Some(path) = config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let value: toml::Value = text
            .parse()
            .with_context(|| format!("parsing config file {}", path.display()))?;
        flatten("", &value, &mut props)?;
    }
    for s in set {
        let Some((k, v)) = s.split_once('=') else {
            bail!("--set expects NAME=VALUE, got '{s}'");
        };
        props.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(props)
}

/// Flattens TOML tables so `log.segment.bytes = 5` (nested tables) and
/// `"log.segment.bytes" = 5` both give the property `log.segment.bytes`.
fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out)?;
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        toml::Value::Integer(i) => {
            out.insert(prefix.to_string(), i.to_string());
        }
        toml::Value::Float(f) => {
            out.insert(prefix.to_string(), f.to_string());
        }
        toml::Value::Boolean(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        toml::Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.insert(prefix.to_string(), parts.join(","));
        }
        toml::Value::Datetime(d) => bail!("property '{prefix}' cannot be a date ({d})"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_dotted_keys_become_property_names() {
        let v: toml::Value =
            "log.segment.bytes = 1000\n\"num.partitions\" = 3\nauto.create.topics.enable = false\n"
                .parse()
                .unwrap();
        let mut out = BTreeMap::new();
        flatten("", &v, &mut out).unwrap();
        assert_eq!(out["log.segment.bytes"], "1000");
        assert_eq!(out["num.partitions"], "3");
        assert_eq!(out["auto.create.topics.enable"], "false");
    }
}
