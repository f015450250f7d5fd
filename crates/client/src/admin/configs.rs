//! DescribeConfigs and IncrementalAlterConfigs.

use std::collections::BTreeMap;

use moldau_protocol::kafka::messages::describe_configs_request::DescribeConfigsResource;
use moldau_protocol::kafka::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use moldau_protocol::kafka::messages::{
    ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};

use super::{
    item_result, sb, AdminClient, AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource,
};
use crate::cluster::Lane;
use crate::error::{Error, Result};

impl AdminClient {
    /// Configs of `resources`. Broker resources go to that broker.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<BTreeMap<ConfigResource, Vec<ConfigEntry>>> {
        let mut out = BTreeMap::new();
        for r in resources {
            let build = |_version: i16| {
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(r.type_code())
                        .with_resource_name(sb(r.name()))
                        .with_configuration_keys(None),
                ])
            };
            let resp = match broker_target(r) {
                Some(node) => {
                    self.cluster
                        .send_to_with(node, Lane::Data, ApiKey::DescribeConfigs, None, build)
                        .await?
                }
                None => {
                    self.cluster
                        .send_any_with(ApiKey::DescribeConfigs, build)
                        .await?
                }
            };
            for res in resp.results {
                item_result(res.error_code, res.error_message.as_ref())?;
                let key = ConfigResource::from_wire(res.resource_type, &res.resource_name)
                    .unwrap_or_else(|| r.clone());
                let mut entries: Vec<ConfigEntry> = res
                    .configs
                    .into_iter()
                    .map(|c| ConfigEntry {
                        name: c.name.to_string(),
                        value: c.value.map(|v| v.to_string()),
                        source: ConfigSource::from_wire(c.config_source),
                        read_only: c.read_only,
                        sensitive: c.is_sensitive,
                    })
                    .collect();
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                out.insert(key, entries);
            }
        }
        Ok(out)
    }

    /// Applies incremental config changes to one resource.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let configs: Vec<AlterableConfig> = ops
            .iter()
            .map(|op| {
                let (name, code, value) = match op {
                    AlterConfigOp::Set(n, v) => (n, 0, Some(v)),
                    AlterConfigOp::Delete(n) => (n, 1, None),
                    AlterConfigOp::Append(n, v) => (n, 2, Some(v)),
                    AlterConfigOp::Subtract(n, v) => (n, 3, Some(v)),
                };
                AlterableConfig::default()
                    .with_name(sb(name))
                    .with_config_operation(code)
                    .with_value(value.map(|v| sb(v)))
            })
            .collect();
        let build = |_version: i16| {
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(resource.type_code())
                    .with_resource_name(sb(resource.name()))
                    .with_configs(configs.clone()),
            ])
        };
        let resp = match broker_target(resource) {
            Some(node) => {
                self.cluster
                    .send_to_with(
                        node,
                        Lane::Data,
                        ApiKey::IncrementalAlterConfigs,
                        None,
                        build,
                    )
                    .await?
            }
            None => {
                self.cluster
                    .send_any_with(ApiKey::IncrementalAlterConfigs, build)
                    .await?
            }
        };
        if resp.responses.is_empty() {
            return Err(Error::Protocol(
                "IncrementalAlterConfigs without results".into(),
            ));
        }
        for r in &resp.responses {
            item_result(r.error_code, r.error_message.as_ref())?;
        }
        Ok(())
    }
}

/// A broker resource with a numeric name is answered by that broker.
fn broker_target(r: &ConfigResource) -> Option<i32> {
    match r {
        ConfigResource::Broker(id) => id.parse().ok(),
        _ => None,
    }
}
