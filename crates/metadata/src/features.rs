//! Cluster features (KIP-584): the levels this build supports, the levels the
//! cluster has finalized (FeatureLevelRecords in the image), and the controller's
//! decision on an UpdateFeatures request as a pure function of the image.
//!
//! Only what Moldau implements is advertised: the metadata records it writes are
//! those of metadata.version 3.3-IV3 (level 7, Kafka 4.0's minimum); the quorum has
//! static voters (kraft.version 0); groups run the KIP-848 consumer protocol beside
//! the classic one (group.version 1); transactions run at transaction.version 0 to 2
//! (2: KIP-890 part 2, an epoch bump per transaction, for the clients that see it
//! finalized).
//!
//! A new cluster starts at the levels `moldau storage format` chose (by default the
//! latest, as `kafka-storage format` writes Kafka 4.1's production levels): the first
//! active controller commits them before anything else ([`bootstrap_records`]). A
//! cluster that already has metadata keeps its levels.

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

/// `group.version`: 1 is the KIP-848 consumer group protocol.
pub const GROUP_VERSION: &str = "group.version";
/// Highest `group.version` Moldau serves.
pub const GROUP_VERSION_LEVEL_MAX: i16 = 1;

/// Oldest Kafka release a cluster can be formatted as: 3.3-IV3, the metadata records
/// Moldau writes (Kafka 4.x's minimum too).
pub const RELEASE_VERSION_MIN: (u16, u16) = (3, 3);
/// The release whose levels a new cluster gets by default (Kafka 4.1).
pub const RELEASE_VERSION_LATEST: (u16, u16) = (4, 1);
/// First release whose production levels include transaction.version 2 and
/// group.version 1 (Kafka 4.0).
const RELEASE_WITH_TV2_AND_KIP848: (u16, u16) = (4, 0);

/// Every feature Kafka 4.1 defines, with the levels Moldau implements.
pub const SUPPORTED_FEATURES: &[SupportedFeature] = &[
    SupportedFeature {
        name: GROUP_VERSION,
        min_level: 0,
        max_level: GROUP_VERSION_LEVEL_MAX,
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

/// Parses a Kafka release version as `kafka-storage format --release-version` takes
/// it (`4.1`, `3.9`, `4.0-IV3`: the part after `-` is ignored); `None` if it is not
/// one. Whether it is supported is [`bootstrap_levels`]'s decision.
pub fn parse_release_version(text: &str) -> Option<(u16, u16)> {
    let release = text.trim().split('-').next()?;
    let mut parts = release.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    // A patch number ("3.9.1") names the same feature levels as its minor release.
    if parts.next().is_some_and(|p| p.parse::<u16>().is_err()) || parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// The feature levels a new cluster of `release` starts at, as `kafka-storage
/// format --release-version` chooses them (Kafka's production defaults of that
/// release), then `overrides` (`--feature name=level`) on top. Refused: a release
/// older than [`RELEASE_VERSION_MIN`] or newer than this build knows, an unknown
/// feature, a level outside the supported range.
pub fn bootstrap_levels(
    release: (u16, u16),
    overrides: &[(String, i16)],
) -> Result<Vec<(String, i16)>, FeatureUpdateRefused> {
    let refuse = |why: String| Err(FeatureUpdateRefused(why));
    if release < RELEASE_VERSION_MIN || release > RELEASE_VERSION_LATEST {
        return refuse(format!(
            "release version {}.{} is not supported: this build formats {}.{} to {}.{}",
            release.0,
            release.1,
            RELEASE_VERSION_MIN.0,
            RELEASE_VERSION_MIN.1,
            RELEASE_VERSION_LATEST.0,
            RELEASE_VERSION_LATEST.1
        ));
    }
    let mut levels = production_levels(release);
    for (name, level) in overrides {
        let Some(supported) = supported_feature(name) else {
            return refuse(format!("unknown feature {name}"));
        };
        if *level < supported.min_level || *level > supported.max_level {
            return refuse(format!(
                "{name}={level}: this build supports levels {} to {}",
                supported.min_level, supported.max_level
            ));
        }
        match levels.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = *level,
            None => levels.push((name.clone(), *level)),
        }
    }
    levels.retain(|(_, level)| *level > 0);
    levels.sort();
    Ok(levels)
}

/// Kafka's production levels of `release` for the features Moldau implements, above
/// level 0, by name (the range of `release` is [`bootstrap_levels`]'s check).
pub fn production_levels(release: (u16, u16)) -> Vec<(String, i16)> {
    let since_4_0 = i16::from(release >= RELEASE_WITH_TV2_AND_KIP848);
    let mut levels = vec![
        (METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL),
        (GROUP_VERSION.to_string(), since_4_0),
        (TRANSACTION_VERSION.to_string(), 2 * since_4_0),
    ];
    levels.retain(|(_, level)| *level > 0);
    levels.sort();
    levels
}

/// The records that start a new cluster at `levels`: one FeatureLevelRecord each,
/// only while the image holds nothing yet (no feature, broker or topic), so a
/// cluster with metadata is never moved to other levels by a restart.
pub fn bootstrap_records(image: &MetadataImage, levels: &[(String, i16)]) -> Vec<MetadataRecord> {
    let new_cluster = image.features().next().is_none()
        && image.brokers().next().is_none()
        && image.topics().next().is_none();
    if !new_cluster {
        return Vec::new();
    }
    levels
        .iter()
        .filter(|(_, level)| *level > 0)
        .map(|(name, level)| MetadataRecord::FeatureLevel {
            name: name.clone(),
            level: *level,
        })
        .collect()
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
            ("group.version", 2),
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
    fn a_new_cluster_starts_at_kafka_4_1_production_levels() {
        let latest = bootstrap_levels(RELEASE_VERSION_LATEST, &[]).unwrap();
        assert_eq!(
            latest,
            vec![
                (GROUP_VERSION.to_string(), 1),
                (METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL),
                (TRANSACTION_VERSION.to_string(), 2),
            ]
        );
        // A 3.x release has neither KIP-848 nor KIP-890 part 2 by default.
        let old = bootstrap_levels((3, 9), &[]).unwrap();
        assert_eq!(
            old,
            vec![(METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL)]
        );
        let tv1 = bootstrap_levels(
            RELEASE_VERSION_LATEST,
            &[(TRANSACTION_VERSION.to_string(), 1)],
        )
        .unwrap();
        assert!(tv1.contains(&(TRANSACTION_VERSION.to_string(), 1)));
        assert!(bootstrap_levels((3, 2), &[]).is_err());
        assert!(bootstrap_levels((4, 2), &[]).is_err());
        assert!(bootstrap_levels((4, 1), &[(TRANSACTION_VERSION.to_string(), 3)]).is_err());
        assert!(bootstrap_levels((4, 1), &[("no.such".to_string(), 1)]).is_err());
    }

    #[test]
    fn release_versions_parse_as_kafka_storage_takes_them() {
        assert_eq!(parse_release_version("4.1"), Some((4, 1)));
        assert_eq!(parse_release_version("3.9.1"), Some((3, 9)));
        assert_eq!(parse_release_version("4.0-IV3"), Some((4, 0)));
        assert_eq!(parse_release_version("4"), None);
        assert_eq!(parse_release_version("x.y"), None);
    }

    #[test]
    fn bootstrap_records_only_start_an_empty_cluster() {
        let levels = bootstrap_levels(RELEASE_VERSION_LATEST, &[]).unwrap();
        let mut image = MetadataImage::new();
        let records = bootstrap_records(&image, &levels);
        assert_eq!(records.len(), 3);
        for r in &records {
            image.apply(r, 0).unwrap();
        }
        assert_eq!(image.feature_level(TRANSACTION_VERSION), Some(2));
        // Once the cluster has metadata, a restart writes nothing again.
        assert!(bootstrap_records(&image, &levels).is_empty());
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
