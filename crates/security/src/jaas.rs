//! The one JAAS line Kafka's broker reads for PLAIN:
//! `listener.name.<l>.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";`
//! Each `user_<name>="<password>"` option is a user the listener accepts.

use std::collections::BTreeMap;

/// Kafka's login module for PLAIN, the only one whose options the broker reads.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// Kafka's login module for SCRAM: the broker reads its `username`/`password`, the
/// login it presents to other brokers.
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
/// Most options one JAAS line may carry (users included).
pub const JAAS_OPTIONS_MAX: usize = 10_000;

/// A parsed `sasl.jaas.config` value: the login module and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    pub login_module: String,
    pub options: BTreeMap<String, String>,
}

impl JaasConfig {
    /// Parses `<module> <flag> key="value" …;`. Values are double-quoted (a backslash
    /// escapes the next character) or bare words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let body = text
            .strip_suffix(';')
            .ok_or("a JAAS configuration ends with ';'")?;
        let mut chars = body.chars().peekable();
        let mut words = Vec::new();
        for _ in 0..2 {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let word: String =
                std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
            if word.is_empty() {
                return Err("expected '<LoginModule> <flag> key=\"value\" …;'".into());
            }
            words.push(word);
        }
        let flag = words[1].as_str();
        if !matches!(flag, "required" | "requisite" | "sufficient" | "optional") {
            return Err(format!(
                "'{flag}' is not a JAAS control flag (required, requisite, sufficient, optional)"
            ));
        }
        let mut options = BTreeMap::new();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let key: String =
                std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
            if chars.next() != Some('=') || key.is_empty() {
                return Err(format!("option '{key}' has no '=value'"));
            }
            let value = if chars.peek() == Some(&'"') {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => value.push(c),
                            None => return Err(format!("option '{key}' ends inside quotes")),
                        },
                        Some(c) => value.push(c),
                        None => return Err(format!("option '{key}' ends inside quotes")),
                    }
                }
                value
            } else {
                std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect()
            };
            if options.len() >= JAAS_OPTIONS_MAX {
                return Err(format!("more than {JAAS_OPTIONS_MAX} options"));
            }
            options.insert(key, value);
        }
        Ok(JaasConfig {
            login_module: words[0].clone(),
            options,
        })
    }

    /// The `user_<name>` options: user name to password.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_plain_login_line() {
        let c = JaasConfig::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \"quoted\" secret";"#,
        )
        .unwrap();
        assert_eq!(c.login_module, PLAIN_LOGIN_MODULE);
        let users = c.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "a \"quoted\" secret");
        assert_eq!(c.options["username"], "admin");
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(
            JaasConfig::parse("Module required a=\"b\"").is_err(),
            "no ';'"
        );
        assert!(JaasConfig::parse("Module always a=\"b\";").is_err());
        assert!(JaasConfig::parse("Module required a=\"b;").is_err());
        assert!(JaasConfig::parse("Module required novalue;").is_err());
        assert!(JaasConfig::parse(";").is_err());
    }
}
