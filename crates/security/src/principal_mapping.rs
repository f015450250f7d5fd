//! `ssl.principal.mapping.rules`: how a client certificate's subject (an RFC 2253
//! distinguished name) becomes the connection's principal name. Kafka's `DEFAULT`
//! keeps the whole name; `RULE:` regular-expression rules are refused for now rather
//! than ignored.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalMappingRules {
    /// The distinguished name as it is.
    Default,
}

impl PrincipalMappingRules {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rules: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        match rules[..] {
            [] | ["DEFAULT"] => Ok(PrincipalMappingRules::Default),
            _ => Err(format!(
                "only DEFAULT is supported (the certificate's whole subject is the principal), not '{text}'"
            )),
        }
    }

    /// The principal name for a subject.
    pub fn apply(&self, distinguished_name: &str) -> String {
        match self {
            PrincipalMappingRules::Default => distinguished_name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_subject_and_rules_are_refused() {
        let rules = PrincipalMappingRules::parse("DEFAULT").unwrap();
        assert_eq!(rules.apply("CN=alice,O=Example"), "CN=alice,O=Example");
        assert_eq!(PrincipalMappingRules::parse("").unwrap(), rules);
        assert!(
            PrincipalMappingRules::parse("RULE:^CN=(.*?),.*$/$1/,DEFAULT")
                .unwrap_err()
                .contains("only DEFAULT")
        );
    }
}
