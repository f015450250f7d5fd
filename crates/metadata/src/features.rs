//! Cluster features (KIP-584): the levels this build supports, the levels the
//! cluster has finalized (FeatureLevelRecords in the image), and the controller's
//! decision on an UpdateFeatures request as a pure function of the image.
//!
//! Only what Moldau implements is advertised: the metadata records it writes are
//! those of metadata.version 3.3-IV3 (level 7, Kafka 4.0's minimum); the quorum has
//! static voters (kraft.version 0); groups are classic only (group.version 0, no
//! KIP-848); transactions run at transaction.version 0 to 2 (2: KIP-890 part 2,
//! an epoch bump per transaction, for the clients that see it finalized).

use crate::{MetadataImage, MetadataRecord};

/// One feature and the range of levels this build can run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedFeature {
    pub name: &'static str,
    pub min_level: i16,
    pub max_level: i16,
}

/// `metadata.version`: the format of the metadata records.
pub const METADATA_VERSION: &str = "metadata.version";
/// Level of `metadata.version` 3.3-IV3, the records Moldau writes.
pub const METADATA_VERSION_LEVEL: i16 = 7;

/// `transaction.version`: 2 lets clients use KIP-890 part 2 (EndTxn v5, partitions
/// added by their leaders).
pub const TRANSACTION_VERSION: &str = "transaction.version";
/// Highest `transaction.version` Moldau serves.
pub const TRANSACTION_VERSION_LEVEL_MAX: i16 = 2;

/// Every feature Kafka 4.1 defines, with the levels Moldau implements.
pub const SUPPORTED_FEATURES: &[SupportedFeature] = &[
    SupportedFeature {
        name: "group.version",
        min_level: 0,
        max_level: 0,
    },
    SupportedFeature {
        name: "kraft.version",
        min_level: 0,
        max_level: 0,
    },
    SupportedFeature {
        name: METADATA_VERSION,
        min_level: METADATA_VERSION_LEVEL,
        max_level: METADATA_VERSION_LEVEL,
    },
    SupportedFeature {
        name: TRANSACTION_VERSION,
        min_level: 0,
        max_level: TRANSACTION_VERSION_LEVEL_MAX,
    },
];

/// The supported range of `name`, if this build knows the feature.
pub fn supported_feature(name: &str) -> Option<SupportedFeature> {
    SUPPORTED_FEATURES.iter().copied().find(|f| f.name == name)
}

/// The finalized level of every feature above level 0, by name. `metadata.version`
/// is always finalized: a cluster formatted before it was recorded runs at the
/// one level Moldau writes.
pub fn finalized_levels(image: &MetadataImage) -> Vec<(String, i16)> {
    let mut levels: Vec<(String, i16)> = image
        .features()
        .filter(|(_, level)| **level > 0)
        .map(|(name, level)| (name.clone(), *level))
        .collect();
    if image.feature_level(METADATA_VERSION).is_none() {
        levels.push((METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL));
        levels.sort();
    }
    levels
}

/// How an UpdateFeatures request lets a level move (Kafka's upgrade types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    /// From the wire value (v1+); `None` for values Kafka does not define.
    pub fn from_wire(value: i8) -> Option<UpgradeType> {
        match value {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// Why a feature update was refused: Kafka answers INVALID_UPDATE_VERSION with
/// this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FeatureUpdateRefused(pub String);

/// The record that sets `name` to `level`, or why that change is refused.
/// Level 0 removes a feature (never `metadata.version`); a lower level than the
/// finalized one needs a downgrade upgrade type.
pub fn decide_feature_update(
    image: &MetadataImage,
    name: &str,
    level: i16,
    upgrade_type: UpgradeType,
) -> Result<MetadataRecord, FeatureUpdateRefused> {
    let refuse = |why: String| Err(FeatureUpdateRefused(why));
    let Some(supported) = supported_feature(name) else {
        return refuse(format!(
            "The controller does not support the feature {name}."
        ));
    };
    if name == METADATA_VERSION && level < 1 {
        return refuse(format!("{name} cannot be removed (level {level})."));
    }
    let removal = level == 0 && supported.min_level == 0;
    if !removal && (level < supported.min_level || level > supported.max_level) {
        return refuse(format!(
            "Invalid update version {level} for feature {name}: this cluster supports levels {} to {}.",
            supported.min_level, supported.max_level
        ));
    }
    let current = finalized_levels(image)
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, l)| l);
    if level < current && upgrade_type == UpgradeType::Upgrade {
        return refuse(format!(
            "Can't downgrade the version of {name} from {current} to {level} without setting the upgrade type to safe or unsafe downgrade."
        ));
    }
    Ok(MetadataRecord::FeatureLevel {
        name: name.to_string(),
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_version_is_finalized_even_before_it_is_recorded() {
        let image = MetadataImage::new();
        assert_eq!(
            finalized_levels(&image),
            vec![(METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL)]
        );
    }

    #[test]
    fn unsupported_levels_and_features_are_refused() {
        let image = MetadataImage::new();
        for (name, level) in [
            ("group.version", 1),
            ("transaction.version", 3),
            ("kraft.version", 1),
            (METADATA_VERSION, 27),
            (METADATA_VERSION, 0),
            ("no.such.feature", 1),
        ] {
            assert!(
                decide_feature_update(&image, name, level, UpgradeType::Upgrade).is_err(),
                "{name}={level}"
            );
        }
    }

    #[test]
    fn a_supported_level_becomes_a_feature_level_record() {
        let image = MetadataImage::new();
        let record = decide_feature_update(
            &image,
            METADATA_VERSION,
            METADATA_VERSION_LEVEL,
            UpgradeType::Upgrade,
        );
        assert_eq!(
            record,
            Ok(MetadataRecord::FeatureLevel {
                name: METADATA_VERSION.into(),
                level: METADATA_VERSION_LEVEL
            })
        );
        let removal = decide_feature_update(&image, "group.version", 0, UpgradeType::Upgrade);
        assert!(removal.is_ok());
        let tv2 = decide_feature_update(&image, TRANSACTION_VERSION, 2, UpgradeType::Upgrade);
        assert_eq!(
            tv2,
            Ok(MetadataRecord::FeatureLevel {
                name: TRANSACTION_VERSION.into(),
                level: 2
            })
        );
    }

    #[test]
    fn upgrade_types_from_the_wire() {
        assert_eq!(UpgradeType::from_wire(1), Some(UpgradeType::Upgrade));
        assert_eq!(
            UpgradeType::from_wire(3),
            Some(UpgradeType::UnsafeDowngrade)
        );
        assert_eq!(UpgradeType::from_wire(0), None);
    }
}
