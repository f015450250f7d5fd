//! The message browser's field filter: `user.country = "CZ"`, `items[0].qty >= 2`,
//! `note ~ "late"`. The record value is parsed as JSON and the path walked from its
//! root; a record whose value is not JSON, or lacks the path, does not match.

use crate::error::{ApiError, ApiResult};
use serde_json::Value;
use std::cmp::Ordering;

/// Longest filter text accepted, in bytes.
pub const FIELD_FILTER_TEXT_BYTES_MAX: usize = 1024;
/// Most steps (`a`, `[0]`) in one path.
pub const FIELD_PATH_STEPS_MAX: usize = 32;
/// Values larger than this are not parsed for a field filter (they never match).
pub const FIELD_FILTER_VALUE_BYTES_MAX: usize = 1 << 20;

/// One step of a path: an object member or an array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Member(String),
    Index(usize),
}

/// How the field is compared with the filter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    /// The field's text (a string's content, or other JSON as written) contains it.
    Contains,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A parsed `path op value` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFilter {
    pub path: Vec<Step>,
    pub comparison: Comparison,
    /// A JSON literal; text that is not one is taken as a string.
    pub expected: Value,
}

const OPERATORS: [(&str, Comparison); 7] = [
    ("!=", Comparison::NotEqual),
    (">=", Comparison::GreaterOrEqual),
    ("<=", Comparison::LessOrEqual),
    ("=", Comparison::Equal),
    ("~", Comparison::Contains),
    ("<", Comparison::Less),
    (">", Comparison::Greater),
];

fn bad(text: &str, why: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "field filter '{text}': {why} (write path op value, e.g. user.country = \"CZ\"; ops = != ~ < <= > >=)"
    ))
}

fn parse_path(text: &str, path: &str) -> ApiResult<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        // Only a path that starts at a root array may begin with `[`.
        let starts_at_root_array = steps.is_empty() && !rest.is_empty();
        if name.is_empty() && !starts_at_root_array {
            return Err(bad(text, "empty name in the path"));
        }
        if !name.is_empty() {
            steps.push(Step::Member(name.to_string()));
        }
        while let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after
                .split_once(']')
                .ok_or_else(|| bad(text, "unclosed ["))?;
            let index: usize = index
                .trim()
                .parse()
                .map_err(|_| bad(text, "an index in [] must be a number"))?;
            steps.push(Step::Index(index));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(bad(text, "unexpected text after ]"));
        }
        if steps.len() > FIELD_PATH_STEPS_MAX {
            return Err(bad(text, "the path is too deep"));
        }
    }
    Ok(steps)
}

impl FieldFilter {
    /// Parses `path op value`.
    pub fn parse(text: &str) -> ApiResult<Self> {
        if text.len() > FIELD_FILTER_TEXT_BYTES_MAX {
            return Err(bad(
                "…",
                &format!("longer than {FIELD_FILTER_TEXT_BYTES_MAX} bytes"),
            ));
        }
        let at = text
            .find(['=', '!', '~', '<', '>'])
            .ok_or_else(|| bad(text, "no operator"))?;
        let path = text[..at].trim();
        let rest = &text[at..];
        let (op, comparison) = OPERATORS
            .iter()
            .find(|(op, _)| rest.starts_with(op))
            .ok_or_else(|| bad(text, "unknown operator"))?;
        let literal = rest[op.len()..].trim();
        if path.is_empty() {
            return Err(bad(text, "no path before the operator"));
        }
        if literal.is_empty() {
            return Err(bad(text, "no value after the operator"));
        }
        let expected =
            serde_json::from_str(literal).unwrap_or_else(|_| Value::String(literal.to_string()));
        Ok(FieldFilter {
            path: parse_path(text, path)?,
            comparison: *comparison,
            expected,
        })
    }

    /// Whether a record value (raw bytes) matches.
    pub fn matches(&self, value: Option<&[u8]>) -> bool {
        let Some(bytes) = value.filter(|v| v.len() <= FIELD_FILTER_VALUE_BYTES_MAX) else {
            return false;
        };
        let Ok(root) = serde_json::from_slice::<Value>(bytes) else {
            return false;
        };
        let mut at = &root;
        for step in &self.path {
            let next = match step {
                Step::Member(name) => at.get(name.as_str()),
                Step::Index(i) => at.get(*i),
            };
            match next {
                Some(v) => at = v,
                None => return false,
            }
        }
        self.compare(at)
    }

    fn compare(&self, field: &Value) -> bool {
        let want = &self.expected;
        match self.comparison {
            Comparison::Equal => equal(field, want),
            Comparison::NotEqual => !equal(field, want),
            Comparison::Contains => text_of(field).contains(&text_of(want)),
            Comparison::Less => order(field, want) == Some(Ordering::Less),
            Comparison::LessOrEqual => {
                matches!(order(field, want), Some(Ordering::Less | Ordering::Equal))
            }
            Comparison::Greater => order(field, want) == Some(Ordering::Greater),
            Comparison::GreaterOrEqual => matches!(
                order(field, want),
                Some(Ordering::Greater | Ordering::Equal)
            ),
        }
    }
}

/// Numbers compare by value (2 = 2.0); everything else structurally.
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Numbers by value, strings by text; other pairs are not ordered.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(filter: &str, value: &str) -> bool {
        FieldFilter::parse(filter)
            .map(|f| f.matches(Some(value.as_bytes())))
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
    }

    #[test]
    fn paths_operators_and_literals() {
        let v = r#"{"user":{"country":"CZ","age":41},"items":[{"qty":2},{"qty":5}],"note":"late delivery"}"#;
        assert!(hit(r#"user.country = "CZ""#, v));
        assert!(hit("user.country=CZ", v));
        assert!(!hit(r#"user.country = "DE""#, v));
        assert!(hit(r#"user.country != "DE""#, v));
        assert!(hit("user.age = 41.0", v));
        assert!(hit("user.age >= 41", v));
        assert!(!hit("user.age > 41", v));
        assert!(hit("items[1].qty < 6", v));
        assert!(hit("items[0].qty <= 2", v));
        assert!(hit("note ~ late", v));
        assert!(hit(r#"user ~ "CZ""#, v));
        // Missing paths and non-JSON values never match.
        assert!(!hit("items[2].qty = 2", v));
        assert!(!hit("user.city != x", v));
        assert!(!hit("a = 1", "not json"));
        assert!(!FieldFilter::parse("a = 1").is_ok_and(|f| f.matches(None)));
    }

    #[test]
    fn bad_filters_are_refused() {
        for text in [
            "user.country",
            "= 1",
            "a =",
            "a[x] = 1",
            "a[0 = 1",
            "a..b = 1",
        ] {
            assert!(FieldFilter::parse(text).is_err(), "{text}");
        }
        let deep = format!("{} = 1", vec!["a"; FIELD_PATH_STEPS_MAX + 1].join("."));
        assert!(FieldFilter::parse(&deep).is_err());
        assert!(FieldFilter::parse(&"a".repeat(FIELD_FILTER_TEXT_BYTES_MAX + 1)).is_err());
    }
}
