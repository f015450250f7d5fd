//! The topic `moldau produce` writes to, looked up as Kafka's producers do: a Metadata
//! request with `allow_auto_topic_creation`, so the broker's
//! `auto.create.topics.enable` decides whether a missing topic is created on use.

use std::time::Duration;

use anyhow::bail;
use moldau_client::metadata::TopicInfo;
use moldau_client::AdminClient;

use crate::context::Context;

/// Pause between two lookups while a just-created topic has no leader yet.
const LEADER_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The topic `name`, created by the broker if it allows that; a clear reason when the
/// name is invalid or the broker does not create topics on use.
pub async fn topic_for_produce(ctx: &Context, name: &str) -> anyhow::Result<TopicInfo> {
    let mut config = ctx.client_config();
    config.allow_auto_topic_creation = true;
    let admin = AdminClient::new(config).map_err(|e| ctx.explain(e))?;
    let names = [name.to_string()];
    loop {
        let md = admin
            .cluster()
            .refresh(Some(&names))
            .await
            .map_err(|e| ctx.explain(e))?;
        if let Some(topic) = md.topics.get(name) {
            return Ok(topic.clone());
        }
        let error = md.topic_errors.get(name);
        match error.map(|e| e.name.as_str()) {
            Some("INVALID_TOPIC_EXCEPTION") => bail!("{}", invalid_topic_name(name)),
            Some("UNKNOWN_TOPIC_OR_PARTITION") | None => bail!(
                "topic '{name}' does not exist, and the broker does not create topics on \
                 use (auto.create.topics.enable=false); create it with: moldau topic create {name}"
            ),
            // Created a moment ago: its leader is on the way (the caller's timeout
            // bounds the wait).
            Some("LEADER_NOT_AVAILABLE") => tokio::time::sleep(LEADER_RETRY_BACKOFF).await,
            Some(_) => match error {
                Some(e) => bail!("topic '{name}': {}", crate::context::broker_reason(e)),
                None => bail!("topic '{name}' is not available"),
            },
        }
    }
}

/// Why Kafka refuses a topic name, with the rule it breaks.
pub fn invalid_topic_name(name: &str) -> String {
    format!(
        "invalid topic name: '{name}' (a topic name is 1 to 249 characters of a-z, A-Z, \
         0-9, '.', '_' and '-', and not '.' or '..')"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_name_message_names_the_topic_and_the_rule() {
        let m = invalid_topic_name("a b");
        assert!(m.starts_with("invalid topic name: 'a b' ("), "{m}");
        assert!(m.contains("249"), "{m}");
    }
}
