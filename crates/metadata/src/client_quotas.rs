//! Client quotas (KIP-546) as pure functions of the image: which entities and keys an
//! AlterClientQuotas entry may set (and the records that set them), and which stored
//! entities a DescribeClientQuotas filter matches.

use crate::record_types::{ClientQuotaChange, QuotaEntity, QuotaEntityPart};
use crate::MetadataRecord;
use std::collections::BTreeMap;

pub const ENTITY_USER: &str = "user";
pub const ENTITY_CLIENT_ID: &str = "client-id";
pub const ENTITY_IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// DescribeClientQuotas match types.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

/// Why a quota request is refused; every case is Kafka's INVALID_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuotaRequestError(pub String);

fn invalid(msg: String) -> QuotaRequestError {
    QuotaRequestError(msg)
}

/// Checks an entity as a client sent it and returns it ordered by type: user,
/// client-id, user with client-id, or ip alone; no type twice.
pub fn validate_entity(parts: &[QuotaEntityPart]) -> Result<QuotaEntity, QuotaRequestError> {
    if parts.is_empty() {
        return Err(invalid("Invalid empty client quota entity.".into()));
    }
    let mut entity = parts.to_vec();
    entity.sort();
    for w in entity.windows(2) {
        if w[0].entity_type == w[1].entity_type {
            return Err(invalid(format!(
                "Entity type {} cannot appear more than once in the entity.",
                w[0].entity_type
            )));
        }
    }
    for part in &entity {
        match part.entity_type.as_str() {
            ENTITY_USER | ENTITY_CLIENT_ID => {}
            ENTITY_IP if entity.len() == 1 => {
                if let Some(ip) = &part.name {
                    ip.parse::<std::net::IpAddr>().map_err(|_| {
                        invalid(format!("{ip} is not a valid IP or resolvable host."))
                    })?;
                }
            }
            ENTITY_IP => return Err(invalid(
                "Invalid quota entity combination: ip cannot be combined with user or client-id."
                    .into(),
            )),
            other => {
                return Err(invalid(format!(
                    "Unhandled client quota entity type: {other}"
                )))
            }
        }
    }
    Ok(entity)
}

/// Checks one quota operation on a validated entity. Moldau enforces the byte rates
/// (Produce and Fetch), the request percentage (handler time) and the controller
/// mutation rate (CreateTopics, CreatePartitions, DeleteTopics); the other key Kafka
/// knows (`connection_creation_rate`) is refused rather than stored and ignored.
pub fn validate_op(
    entity: &QuotaEntity,
    key: &str,
    value: f64,
    remove: bool,
) -> Result<(), QuotaRequestError> {
    let is_ip = entity.iter().any(|p| p.entity_type == ENTITY_IP);
    match key {
        PRODUCER_BYTE_RATE | CONSUMER_BYTE_RATE if !is_ip => {}
        // A rate in partitions per second, and a share of the handler time in
        // percent of one thread (KIP-124): doubles in Kafka.
        CONTROLLER_MUTATION_RATE | REQUEST_PERCENTAGE if !is_ip => {
            let positive = value.is_finite() && value > 0.0;
            if !remove && !positive {
                return Err(invalid(format!(
                    "Configuration {key} must be a positive number, not {value}"
                )));
            }
            return Ok(());
        }
        CONNECTION_CREATION_RATE if is_ip => {
            return Err(invalid(format!(
                "Quota {key} is not enforced by Moldau, so it cannot be set."
            )))
        }
        _ => return Err(invalid(format!("Invalid configuration key {key}"))),
    }
    if remove {
        return Ok(());
    }
    // Byte rates are longs in Kafka: a whole number, and a positive one.
    if !value.is_finite() || value.fract() != 0.0 || value < 1.0 || value > i64::MAX as f64 {
        return Err(invalid(format!(
            "Configuration {key} must be a positive Long value, not {value}"
        )));
    }
    Ok(())
}

/// The records for one AlterClientQuotas entry: every operation is checked first,
/// so an entry is applied whole or not at all.
pub fn alter_records(
    parts: &[QuotaEntityPart],
    ops: &[(String, f64, bool)],
) -> Result<Vec<MetadataRecord>, QuotaRequestError> {
    let entity = validate_entity(parts)?;
    let mut seen = std::collections::BTreeSet::new();
    for (key, value, remove) in ops {
        if !seen.insert(key.as_str()) {
            return Err(invalid(format!(
                "Quota key {key} appears more than once in one entry."
            )));
        }
        validate_op(&entity, key, *value, *remove)?;
    }
    Ok(ops
        .iter()
        .map(|(key, value, remove)| {
            MetadataRecord::ClientQuota(ClientQuotaChange {
                entity: entity.clone(),
                key: key.clone(),
                value: if *remove { 0.0 } else { *value },
                remove: *remove,
            })
        })
        .collect())
}

/// One DescribeClientQuotas filter component: (entity type, match type, match).
pub type FilterComponent = (String, i8, Option<String>);

/// A checked DescribeClientQuotas filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaFilter {
    /// Types whose name must be exactly this (`None`: the default entity).
    exact: BTreeMap<String, Option<String>>,
    /// Types the entity must have, with any name.
    any: Vec<String>,
    /// The entity has no other types than the filter's.
    strict: bool,
}

impl QuotaFilter {
    pub fn new(components: &[FilterComponent], strict: bool) -> Result<Self, QuotaRequestError> {
        let mut filter = QuotaFilter {
            exact: BTreeMap::new(),
            any: Vec::new(),
            strict,
        };
        for (entity_type, match_type, name) in components {
            if filter.exact.contains_key(entity_type) || filter.any.contains(entity_type) {
                return Err(invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                )));
            }
            match (*match_type, name) {
                (MATCH_EXACT, Some(n)) => {
                    filter.exact.insert(entity_type.clone(), Some(n.clone()));
                }
                (MATCH_EXACT, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null".into(),
                    ))
                }
                (MATCH_DEFAULT | MATCH_SPECIFIED, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT or MATCH_TYPE_SPECIFIED, but set match string to a value".into(),
                    ))
                }
                (MATCH_DEFAULT, None) => {
                    filter.exact.insert(entity_type.clone(), None);
                }
                (MATCH_SPECIFIED, None) => filter.any.push(entity_type.clone()),
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            }
        }
        let has = |t: &str| filter.exact.contains_key(t) || filter.any.iter().any(|a| a == t);
        if has(ENTITY_IP) && (has(ENTITY_USER) || has(ENTITY_CLIENT_ID)) {
            return Err(invalid(
                "Invalid entity filter component combination, IP filter component should not be used with user or clientId filter component.".into(),
            ));
        }
        Ok(filter)
    }

    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.any.len() {
            return false;
        }
        let name_of = |t: &str| entity.iter().find(|p| p.entity_type == t).map(|p| &p.name);
        self.exact.iter().all(|(t, want)| name_of(t) == Some(want))
            && self.any.iter().all(|t| name_of(t).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(t: &str, name: Option<&str>) -> QuotaEntityPart {
        QuotaEntityPart {
            entity_type: t.into(),
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn entities_are_ordered_and_checked() {
        let e = validate_entity(&[part("user", Some("u")), part("client-id", None)]).unwrap();
        assert_eq!(e[0].entity_type, "client-id");
        assert!(validate_entity(&[]).is_err());
        assert!(validate_entity(&[part("user", None), part("user", Some("x"))]).is_err());
        assert!(validate_entity(&[part("ip", Some("1.2.3.4")), part("user", None)]).is_err());
        assert!(validate_entity(&[part("ip", Some("not an ip"))]).is_err());
        assert!(validate_entity(&[part("group", None)]).is_err());
    }

    #[test]
    fn unknown_and_unenforced_keys_are_refused() {
        let user = validate_entity(&[part("user", None)]).unwrap();
        assert!(validate_op(&user, PRODUCER_BYTE_RATE, 1024.0, false).is_ok());
        assert!(validate_op(&user, "bogus_rate", 1.0, false).is_err());
        assert!(validate_op(&user, REQUEST_PERCENTAGE, 50.0, false).is_ok());
        assert!(validate_op(&user, REQUEST_PERCENTAGE, 0.01, false).is_ok());
        assert!(validate_op(&user, REQUEST_PERCENTAGE, -1.0, false).is_err());
        assert!(validate_op(&user, REQUEST_PERCENTAGE, f64::INFINITY, false).is_err());
        assert!(validate_op(&user, CONTROLLER_MUTATION_RATE, 0.5, false).is_ok());
        assert!(validate_op(&user, CONTROLLER_MUTATION_RATE, 0.0, false).is_err());
        assert!(validate_op(&user, PRODUCER_BYTE_RATE, 1.5, false).is_err());
        assert!(validate_op(&user, PRODUCER_BYTE_RATE, 0.0, false).is_err());
        assert!(validate_op(&user, CONSUMER_BYTE_RATE, f64::NAN, true).is_ok());
    }

    #[test]
    fn an_entry_with_one_bad_op_yields_no_records() {
        let ops = vec![
            (PRODUCER_BYTE_RATE.to_string(), 100.0, false),
            ("nope".to_string(), 1.0, false),
        ];
        assert!(alter_records(&[part("user", Some("u"))], &ops).is_err());
        let ok = alter_records(&[part("user", Some("u"))], &ops[..1]).unwrap();
        assert_eq!(ok.len(), 1);
    }

    #[test]
    fn strict_and_non_strict_filters() {
        let user_only = vec![part("user", Some("alice"))];
        let user_client =
            validate_entity(&[part("user", Some("alice")), part("client-id", None)]).unwrap();
        let f = |c: &[(&str, i8, Option<&str>)], strict| {
            let c: Vec<FilterComponent> = c
                .iter()
                .map(|(t, m, n)| (t.to_string(), *m, n.map(str::to_string)))
                .collect();
            QuotaFilter::new(&c, strict).unwrap()
        };
        let exact = f(&[("user", MATCH_EXACT, Some("alice"))], false);
        assert!(exact.matches(&user_only) && exact.matches(&user_client));
        let exact_strict = f(&[("user", MATCH_EXACT, Some("alice"))], true);
        assert!(exact_strict.matches(&user_only) && !exact_strict.matches(&user_client));
        let default_client = f(&[("client-id", MATCH_DEFAULT, None)], false);
        assert!(default_client.matches(&user_client) && !default_client.matches(&user_only));
        let any_user = f(&[("user", MATCH_SPECIFIED, None)], true);
        assert!(any_user.matches(&user_only) && !any_user.matches(&user_client));
        let everything = f(&[], false);
        assert!(everything.matches(&user_only) && everything.matches(&user_client));
        assert!(QuotaFilter::new(&[("user".into(), MATCH_EXACT, None)], false).is_err());
        assert!(QuotaFilter::new(&[("user".into(), 7, None)], false).is_err());
        let twice = vec![
            ("user".to_string(), MATCH_DEFAULT, None),
            ("user".to_string(), MATCH_SPECIFIED, None),
        ];
        assert!(QuotaFilter::new(&twice, false).is_err());
    }
}
