//! The ACLs of the image, indexed so that the ACLs that can apply to one resource
//! are found without scanning them all: by id (for removal), and per resource type
//! by literal name and by prefix in sorted maps.

use crate::MetadataError;
use moldau_protocol::acl::{AclLookup, AclPatternType, AclRecord, AclResourceType, ACL_WILDCARD};
use std::collections::BTreeMap;
use std::ops::Bound;

type ByName = BTreeMap<String, Vec<AclRecord>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclIndex {
    by_id: BTreeMap<[u8; 16], AclRecord>,
    literal: BTreeMap<AclResourceType, ByName>,
    prefixed: BTreeMap<AclResourceType, ByName>,
}

impl AclIndex {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every ACL, by id.
    pub fn iter(&self) -> impl Iterator<Item = &AclRecord> {
        self.by_id.values()
    }

    pub fn get(&self, id: &[u8; 16]) -> Option<&AclRecord> {
        self.by_id.get(id)
    }

    /// Adds an ACL; an id in use or an empty resource name, principal or host is
    /// refused.
    pub fn insert(&mut self, acl: AclRecord) -> Result<(), MetadataError> {
        if self.by_id.contains_key(&acl.id) {
            return Err(MetadataError::Invalid(format!(
                "ACL id {} is taken",
                uuid::Uuid::from_bytes(acl.id)
            )));
        }
        if acl.resource_name.is_empty() || acl.principal.is_empty() || acl.host.is_empty() {
            return Err(MetadataError::Invalid(
                "ACL with an empty resource name, principal or host".into(),
            ));
        }
        self.names_mut(acl.pattern_type)
            .entry(acl.resource_type)
            .or_default()
            .entry(acl.resource_name.clone())
            .or_default()
            .push(acl.clone());
        self.by_id.insert(acl.id, acl);
        Ok(())
    }

    /// Removes the ACL with this id; an unknown id is refused.
    pub fn remove(&mut self, id: &[u8; 16]) -> Result<AclRecord, MetadataError> {
        let acl = self.by_id.remove(id).ok_or_else(|| {
            MetadataError::Invalid(format!("no ACL with id {}", uuid::Uuid::from_bytes(*id)))
        })?;
        let names = self.names_mut(acl.pattern_type);
        if let Some(by_name) = names.get_mut(&acl.resource_type) {
            if let Some(list) = by_name.get_mut(&acl.resource_name) {
                list.retain(|a| a.id != *id);
                if list.is_empty() {
                    by_name.remove(&acl.resource_name);
                }
            }
            if by_name.is_empty() {
                names.remove(&acl.resource_type);
            }
        }
        Ok(acl)
    }

    fn names_mut(&mut self, pattern: AclPatternType) -> &mut BTreeMap<AclResourceType, ByName> {
        match pattern {
            AclPatternType::Literal => &mut self.literal,
            AclPatternType::Prefixed => &mut self.prefixed,
        }
    }
}

impl AclLookup for AclIndex {
    fn of_type(&self, resource_type: AclResourceType) -> Vec<&AclRecord> {
        let literal = self.literal.get(&resource_type).into_iter();
        let prefixed = self.prefixed.get(&resource_type).into_iter();
        literal
            .chain(prefixed)
            .flat_map(|m| m.values().flatten())
            .collect()
    }

    fn matching(&self, resource_type: AclResourceType, name: &str) -> Vec<&AclRecord> {
        let mut out = Vec::new();
        if let Some(literal) = self.literal.get(&resource_type) {
            for key in [name, ACL_WILDCARD] {
                if let Some(list) = literal.get(key) {
                    out.extend(list.iter());
                }
                if name == ACL_WILDCARD {
                    break;
                }
            }
        }
        if let Some(prefixed) = self.prefixed.get(&resource_type) {
            for_each_prefix_key(prefixed, name, |list| out.extend(list.iter()));
        }
        out
    }
}

/// Calls `found` for every key of `map` that is a prefix of `name` (the name itself
/// included), longest first. Each step finds the greatest key not above a candidate
/// and shortens the candidate, so the cost is about (matches + 1) tree lookups rather
/// than one per character of the name.
fn for_each_prefix_key<'a>(map: &'a ByName, name: &str, mut found: impl FnMut(&'a Vec<AclRecord>)) {
    let mut candidate: &str = name;
    while !candidate.is_empty() {
        let Some((key, list)) = map
            .range::<str, _>((Bound::Unbounded, Bound::Included(candidate)))
            .next_back()
        else {
            return;
        };
        if name.starts_with(key.as_str()) {
            found(list);
            // The next match is strictly shorter than this one.
            let last = key.chars().next_back().map_or(0, char::len_utf8);
            candidate = &name[..key.len() - last];
        } else {
            // A key that is a prefix of `name` and sorts below `key` is a prefix of
            // their common prefix.
            let common = common_prefix_len(key, name);
            if common >= candidate.len() {
                // `key` < candidate yet shares all of it: impossible for a true
                // prefix; shorten by one character to make progress.
                let last = candidate.chars().next_back().map_or(0, char::len_utf8);
                candidate = &candidate[..candidate.len() - last];
            } else {
                candidate = &name[..common];
            }
        }
    }
}

/// Length in bytes of the longest common prefix of `a` and `b`, on a char boundary.
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moldau_protocol::acl::{AclOperation, AclPermission};

    fn acl(n: u8, pattern: AclPatternType, name: &str) -> AclRecord {
        AclRecord {
            id: [n; 16],
            resource_type: AclResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn names(index: &AclIndex, name: &str) -> Vec<String> {
        let mut v: Vec<String> = index
            .matching(AclResourceType::Topic, name)
            .iter()
            .map(|a| format!("{}:{}", a.pattern_type, a.resource_name))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn finds_literal_wildcard_and_every_prefix() {
        let mut index = AclIndex::default();
        let mut n = 0;
        for (p, name) in [
            (AclPatternType::Literal, "payments"),
            (AclPatternType::Literal, "*"),
            (AclPatternType::Literal, "pay"),
            (AclPatternType::Prefixed, "pay"),
            (AclPatternType::Prefixed, "p"),
            (AclPatternType::Prefixed, "paz"),
            (AclPatternType::Prefixed, "payments-eu"),
            (AclPatternType::Prefixed, "payments"),
            (AclPatternType::Prefixed, "pax"),
            (AclPatternType::Prefixed, "q"),
        ] {
            n += 1;
            index.insert(acl(n, p, name)).unwrap();
        }
        assert_eq!(
            names(&index, "payments"),
            vec![
                "LITERAL:*",
                "LITERAL:payments",
                "PREFIXED:p",
                "PREFIXED:pay",
                "PREFIXED:payments"
            ]
        );
        assert_eq!(names(&index, "pb"), vec!["LITERAL:*", "PREFIXED:p"]);
        assert_eq!(names(&index, "zzz"), vec!["LITERAL:*"]);
        assert_eq!(
            names(&index, "payments-eu-1"),
            vec![
                "LITERAL:*",
                "PREFIXED:p",
                "PREFIXED:pay",
                "PREFIXED:payments",
                "PREFIXED:payments-eu"
            ]
        );
    }

    #[test]
    fn prefix_search_agrees_with_a_scan() {
        let mut index = AclIndex::default();
        let prefixes = ["a", "ab", "abc", "abd", "b", "ba", "é", "éa", "aé", "abcde"];
        for (i, p) in prefixes.iter().enumerate() {
            index
                .insert(acl(i as u8, AclPatternType::Prefixed, p))
                .unwrap();
        }
        for name in [
            "a", "abcdef", "abd", "abz", "b", "bab", "éaé", "aéb", "c", "", "ab",
        ] {
            let mut expected: Vec<String> = prefixes
                .iter()
                .filter(|p| name.starts_with(*p))
                .map(|p| format!("PREFIXED:{p}"))
                .collect();
            expected.sort();
            assert_eq!(names(&index, name), expected, "name {name:?}");
        }
    }

    #[test]
    fn removal_and_refusals() {
        let mut index = AclIndex::default();
        index.insert(acl(1, AclPatternType::Prefixed, "x")).unwrap();
        assert!(index.insert(acl(1, AclPatternType::Literal, "y")).is_err());
        assert!(index.insert(acl(2, AclPatternType::Literal, "")).is_err());
        assert_eq!(index.remove(&[1; 16]).unwrap().resource_name, "x");
        assert!(index.remove(&[1; 16]).is_err());
        assert!(index.is_empty());
        assert_eq!(index, AclIndex::default());
    }
}
