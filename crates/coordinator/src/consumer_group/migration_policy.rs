//! `group.consumer.migration.policy`: whether a classic group may turn into a
//! consumer group while it has members (upgrade), and back (downgrade).

/// Kafka's ConsumerGroupMigrationPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    /// Both directions (Kafka 4.x's default).
    #[default]
    Bidirectional,
    /// Classic to consumer only.
    Upgrade,
    /// Consumer to classic only.
    Downgrade,
    /// Neither: a non-empty group keeps its type.
    Disabled,
}

impl MigrationPolicy {
    /// Parses the property value (case-insensitive, as Kafka).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "disabled" => Some(MigrationPolicy::Disabled),
            _ => None,
        }
    }

    pub fn upgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Upgrade
        )
    }

    pub fn downgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Downgrade
        )
    }
}

#[cfg(test)]
mod tests {
    use super::MigrationPolicy;

    #[test]
    fn parses_kafka_values() {
        assert_eq!(
            MigrationPolicy::parse("BIDIRECTIONAL"),
            Some(MigrationPolicy::Bidirectional)
        );
        assert_eq!(MigrationPolicy::parse("nope"), None);
        assert!(MigrationPolicy::Upgrade.upgrade_enabled());
        assert!(!MigrationPolicy::Upgrade.downgrade_enabled());
        assert!(!MigrationPolicy::Disabled.upgrade_enabled());
        assert!(MigrationPolicy::Downgrade.downgrade_enabled());
    }
}
