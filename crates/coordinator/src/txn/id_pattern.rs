//! ListTransactions v2's `transactional_id_pattern` (KIP-1152): a regular expression
//! a listed transactional id must match whole, as Java's `Matcher.matches` does.
//! Null or empty lists every id; a pattern that does not compile, or is longer than
//! Moldau compiles, is INVALID_REGULAR_EXPRESSION.

use regex_automata::meta::Regex;

/// Longest pattern compiled, in bytes (the compiled size grows with it).
pub const TRANSACTIONAL_ID_PATTERN_BYTES_MAX: usize = 1_024;

/// Which transactional ids a ListTransactions request lists.
#[derive(Debug, Clone)]
pub struct TransactionalIdPattern {
    regex: Option<Regex>,
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "the transactional id pattern is {0} bytes, more than {TRANSACTIONAL_ID_PATTERN_BYTES_MAX}"
    )]
    TooLong(usize),
    #[error("the transactional id pattern is not a valid regular expression: {0}")]
    Invalid(String),
}

impl TransactionalIdPattern {
    /// The filter for `pattern` as a request sent it.
    pub fn compile(pattern: Option<&str>) -> Result<Self, PatternError> {
        let Some(pattern) = pattern.filter(|p| !p.is_empty()) else {
            return Ok(TransactionalIdPattern { regex: None });
        };
        if pattern.len() > TRANSACTIONAL_ID_PATTERN_BYTES_MAX {
            return Err(PatternError::TooLong(pattern.len()));
        }
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| PatternError::Invalid(e.to_string()))?;
        Ok(TransactionalIdPattern { regex: Some(regex) })
    }

    /// True when `transactional_id` is listed.
    pub fn matches(&self, transactional_id: &str) -> bool {
        self.regex
            .as_ref()
            .is_none_or(|r| r.is_match(transactional_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_or_empty_lists_every_id() {
        for pattern in [None, Some("")] {
            let p = TransactionalIdPattern::compile(pattern).expect("compiles");
            assert!(p.matches("anything") && p.matches(""));
        }
    }

    #[test]
    fn the_whole_id_must_match() {
        let p = TransactionalIdPattern::compile(Some("orders-.*")).expect("compiles");
        assert!(p.matches("orders-1"));
        assert!(!p.matches("old-orders-1"), "not a search");
        let p = TransactionalIdPattern::compile(Some("a|b")).expect("compiles");
        assert!(p.matches("a") && p.matches("b") && !p.matches("ab"));
    }

    #[test]
    fn a_bad_or_huge_pattern_is_refused() {
        assert!(matches!(
            TransactionalIdPattern::compile(Some("orders-[")),
            Err(PatternError::Invalid(_))
        ));
        let long = "a".repeat(TRANSACTIONAL_ID_PATTERN_BYTES_MAX + 1);
        assert_eq!(
            TransactionalIdPattern::compile(Some(&long)).unwrap_err(),
            PatternError::TooLong(TRANSACTIONAL_ID_PATTERN_BYTES_MAX + 1)
        );
    }
}
