//! The body of both config PATCHes (a topic's overrides and the brokers'
//! cluster-wide dynamic defaults): values to set, values to remove, confirmation.

use crate::error::ApiError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One change: a config name and its new value, `None` to remove it.
pub type ConfigChange = (String, Option<String>);

/// Body of `PATCH /api/v1/topics/{name}/configs` and `PATCH /api/v1/broker-configs`.
#[derive(Debug, Deserialize)]
pub struct AlterConfigsBody {
    /// Values to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Values to remove (back to what applies without them).
    #[serde(default)]
    pub reset: Vec<String>,
    #[serde(default)]
    pub confirm: bool,
}

impl AlterConfigsBody {
    /// Each change as (name, new value), `None` for a reset; refused when empty.
    pub fn changes(self) -> Result<(Vec<ConfigChange>, bool), ApiError> {
        let mut changes: Vec<ConfigChange> =
            self.set.into_iter().map(|(k, v)| (k, Some(v))).collect();
        changes.extend(self.reset.into_iter().map(|k| (k, None)));
        if changes.is_empty() {
            return Err(ApiError::BadRequest("no config changes given".into()));
        }
        Ok((changes, self.confirm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_resets_become_one_change_list_and_none_is_refused() {
        let body: AlterConfigsBody = serde_json::from_str(
            r#"{"set": {"retention.ms": "1000"}, "reset": ["segment.bytes"], "confirm": true}"#,
        )
        .expect("body");
        let (changes, confirmed) = body.changes().expect("changes");
        assert!(confirmed);
        assert_eq!(
            changes,
            vec![
                ("retention.ms".to_string(), Some("1000".to_string())),
                ("segment.bytes".to_string(), None),
            ]
        );
        let empty: AlterConfigsBody = serde_json::from_str("{}").expect("body");
        assert!(matches!(empty.changes(), Err(ApiError::BadRequest(_))));
    }
}
