//! `ssl.principal.mapping.rules`: how a client certificate's subject (an RFC 2253
//! distinguished name) becomes the connection's principal name, with Kafka's grammar
//! (KIP-371): a list of `DEFAULT` and `RULE:pattern/replacement/[LU]` separated by
//! commas or newlines, tried in order. A `RULE` applies when its pattern matches the
//! whole name; the replacement's `$n` / `${name}` take the pattern's groups (Java's
//! replacement syntax, `\` quoting the next character); `L` / `U` change the case.
//! `DEFAULT` keeps the whole name. A name no rule matches has no principal: the
//! connection fails authentication, as Kafka's `NoMatchingRule` does.

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::PatternID;

/// The longest rules text accepted; the rules are configuration, not data.
pub const RULES_TEXT_BYTES_MAX: usize = 64 * 1024;

/// The rules, in order.
#[derive(Debug, Clone)]
pub struct PrincipalMappingRules {
    rules: Vec<MappingRule>,
}

#[derive(Debug, Clone)]
enum MappingRule {
    /// The distinguished name as it is.
    Default,
    Rewrite {
        /// As written, for messages and equality.
        text: String,
        /// The pattern anchored at both ends (Java's `Matcher.matches()`).
        regex: Regex,
        replacement: Vec<ReplacementPart>,
        case: CaseChange,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReplacementPart {
    Literal(String),
    /// A capture group's text by index (nothing when the group did not take part).
    Group(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseChange {
    Keep,
    Lower,
    Upper,
}

impl PartialEq for PrincipalMappingRules {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl Eq for PrincipalMappingRules {}

impl Default for PrincipalMappingRules {
    fn default() -> Self {
        PrincipalMappingRules {
            rules: vec![MappingRule::Default],
        }
    }
}

impl PrincipalMappingRules {
    /// Parses the property's value; an empty value is `DEFAULT`. The error says which
    /// rule is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > RULES_TEXT_BYTES_MAX {
            return Err(format!(
                "longer than {RULES_TEXT_BYTES_MAX} bytes ({} bytes)",
                text.len()
            ));
        }
        let mut rules = Vec::new();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let (rule, after) = parse_rule(rest)?;
            rules.push(rule);
            let after = after.trim_start_matches([' ', '\t', '\r']);
            rest = match after.chars().next() {
                None => "",
                Some(',' | '\n') => after[1..].trim_start(),
                Some(_) => {
                    return Err(format!(
                        "invalid rule: unexpected '{}' after a rule (rules are separated by ',' or a newline)",
                        after.chars().take(20).collect::<String>()
                    ))
                }
            };
        }
        if rules.is_empty() {
            rules.push(MappingRule::Default);
        }
        Ok(PrincipalMappingRules { rules })
    }

    /// The principal name for a subject: the first rule that applies decides; None
    /// when none does.
    pub fn apply(&self, distinguished_name: &str) -> Option<String> {
        self.rules.iter().find_map(|r| r.apply(distinguished_name))
    }

    /// The rules as written, normalised (for logs and equality).
    pub fn describe(&self) -> String {
        let texts: Vec<&str> = self
            .rules
            .iter()
            .map(|r| match r {
                MappingRule::Default => "DEFAULT",
                MappingRule::Rewrite { text, .. } => text.as_str(),
            })
            .collect();
        texts.join(",")
    }
}

impl MappingRule {
    fn apply(&self, name: &str) -> Option<String> {
        match self {
            MappingRule::Default => Some(name.to_string()),
            MappingRule::Rewrite {
                regex,
                replacement,
                case,
                ..
            } => {
                let mut captures = regex.create_captures();
                regex.captures(name, &mut captures);
                if !captures.is_match() {
                    return None;
                }
                let mapped = expand(replacement, &captures, name);
                Some(match case {
                    CaseChange::Keep => mapped,
                    CaseChange::Lower => mapped.to_lowercase(),
                    CaseChange::Upper => mapped.to_uppercase(),
                })
            }
        }
    }
}

fn expand(parts: &[ReplacementPart], captures: &Captures, name: &str) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            ReplacementPart::Literal(text) => out.push_str(text),
            ReplacementPart::Group(index) => {
                if let Some(span) = captures.get_group(*index) {
                    out.push_str(&name[span.range()]);
                }
            }
        }
    }
    out
}

/// One rule at the start of `text`; returns it and the text after it.
fn parse_rule(text: &str) -> Result<(MappingRule, &str), String> {
    if let Some(after) = text.strip_prefix("DEFAULT") {
        return Ok((MappingRule::Default, after));
    }
    let Some(body) = text.strip_prefix("RULE:") else {
        return Err(format!(
            "invalid rule '{}': expected DEFAULT or RULE:pattern/replacement/[LU]",
            first_line(text)
        ));
    };
    let (pattern, after_pattern) = until_unescaped_slash(body).ok_or_else(|| {
        format!(
            "invalid rule '{}': no '/' after the pattern",
            first_line(text)
        )
    })?;
    let (replacement, after_replacement) =
        until_unescaped_slash(after_pattern).ok_or_else(|| {
            format!(
                "invalid rule '{}': no '/' after the replacement",
                first_line(text)
            )
        })?;
    let (case, rest) = match after_replacement.chars().next() {
        Some('L') => (CaseChange::Lower, &after_replacement[1..]),
        Some('U') => (CaseChange::Upper, &after_replacement[1..]),
        _ => (CaseChange::Keep, after_replacement),
    };
    let rule_text = &text[..text.len() - rest.len()];
    let regex = Regex::new(&format!(r"\A(?:{pattern})\z"))
        .map_err(|e| format!("invalid rule '{rule_text}': bad pattern '{pattern}': {e}"))?;
    let replacement = parse_replacement(replacement, &regex)
        .map_err(|e| format!("invalid rule '{rule_text}': replacement '{replacement}': {e}"))?;
    Ok((
        MappingRule::Rewrite {
            text: rule_text.to_string(),
            regex,
            replacement,
            case,
        },
        rest,
    ))
}

/// The text up to the first '/' not quoted by '\' (the quote is kept: the pattern
/// and replacement read it themselves), and the text after that '/'.
fn until_unescaped_slash(text: &str) -> Option<(&str, &str)> {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '/' => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Java's `Matcher.appendReplacement` grammar: `\x` is x, `$n` a group (more digits
/// are taken while they still name a group), `${name}` a named group.
fn parse_replacement(text: &str, regex: &Regex) -> Result<Vec<ReplacementPart>, String> {
    let info = regex.group_info();
    // Group 0 is the whole match; Java's groupCount() does not count it.
    let group_count = info.group_len(PatternID::ZERO).saturating_sub(1);
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.push(chars.next().ok_or("ends with a lone '\\'")?),
            '$' => {
                let index = if chars.peek() == Some(&'{') {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    info.to_index(PatternID::ZERO, &name)
                        .ok_or_else(|| format!("no group named '{name}'"))?
                } else {
                    let first = chars
                        .next()
                        .and_then(|c| c.to_digit(10))
                        .ok_or("'$' is not followed by a group number")?
                        as usize;
                    if first > group_count {
                        return Err(format!("no group {first} (the pattern has {group_count})"));
                    }
                    let mut index = first;
                    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let longer = index * 10 + d as usize;
                        if longer > group_count {
                            break;
                        }
                        index = longer;
                        chars.next();
                    }
                    index
                };
                if !literal.is_empty() {
                    parts.push(ReplacementPart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(ReplacementPart::Group(index));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(ReplacementPart::Literal(literal));
    }
    Ok(parts)
}

fn first_line(text: &str) -> &str {
    text.split([',', '\n']).next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, name: &str) -> Option<String> {
        PrincipalMappingRules::parse(rules).unwrap().apply(name)
    }

    #[test]
    fn default_and_empty_keep_the_subject() {
        let rules = PrincipalMappingRules::parse("DEFAULT").unwrap();
        assert_eq!(
            rules.apply("CN=alice,O=Example").as_deref(),
            Some("CN=alice,O=Example")
        );
        assert_eq!(PrincipalMappingRules::parse("").unwrap(), rules);
        assert_eq!(PrincipalMappingRules::parse("  ").unwrap(), rules);
        assert_eq!(PrincipalMappingRules::default(), rules);
    }

    #[test]
    fn kafka_documentation_examples() {
        // The examples from Kafka's security documentation; the patterns hold commas.
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
                     RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
                     RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\
                     DEFAULT";
        assert_eq!(
            map(
                rules,
                "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"
            )
            .as_deref(),
            Some("serviceuser")
        );
        assert_eq!(
            map(
                rules,
                "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"
            )
            .as_deref(),
            Some("adminuser@admin")
        );
        assert_eq!(
            map(rules, "OU=Admin,CN=Duke.Ellington,O=Music").as_deref(),
            Some("duke.ellington")
        );
        assert_eq!(
            map(rules, "OU=NoCommonName").as_deref(),
            Some("OU=NoCommonName")
        );
    }

    #[test]
    fn upper_case_newlines_and_spaces_between_rules() {
        let rules = " RULE:^CN=([^,]*),.*$/$1/U \n RULE:^O=(.*)$/org-$1/ ";
        assert_eq!(map(rules, "CN=bob,O=x").as_deref(), Some("BOB"));
        assert_eq!(map(rules, "O=acme").as_deref(), Some("org-acme"));
    }

    #[test]
    fn the_pattern_must_match_the_whole_name() {
        // Java's matches(): an unanchored pattern that only matches a prefix does not
        // apply, and a lazy group stretches to the end.
        assert_eq!(map("RULE:CN=alice/x/", "CN=alice,O=Example"), None);
        assert_eq!(
            map("RULE:CN=(.*?)/$1/", "CN=alice,O=Example").as_deref(),
            Some("alice,O=Example")
        );
    }

    #[test]
    fn no_matching_rule_means_no_principal() {
        assert_eq!(map("RULE:^CN=(.*?),OU=Eng$/$1/", "CN=carol,OU=Sales"), None);
    }

    #[test]
    fn java_replacement_syntax() {
        // `\` quotes, `${name}` names a group, `$12` is group 1 then '2' when there is
        // no group 12, an escaped '/' belongs to the pattern or replacement.
        assert_eq!(
            map(r"RULE:^CN=(.*)$/\$1-$1/", "CN=a").as_deref(),
            Some("$1-a")
        );
        assert_eq!(
            map(r"RULE:^CN=(?P<user>[^,]*).*$/u:${user}/", "CN=dan,O=x").as_deref(),
            Some("u:dan")
        );
        assert_eq!(map("RULE:^CN=(.*)$/$12/", "CN=e").as_deref(), Some("e2"));
        assert_eq!(
            map(r"RULE:^CN=(.*)\/(.*)$/$2\/$1/", "CN=a/b").as_deref(),
            Some("b/a")
        );
        // An optional group that did not take part adds nothing.
        assert_eq!(
            map("RULE:^CN=(x)?(.*)$/[$1]$2/", "CN=yz").as_deref(),
            Some("[]yz")
        );
    }

    #[test]
    fn malformed_rules_are_refused_with_the_reason() {
        for (rules, reason) in [
            ("RULE:^CN=(.*)$", "no '/' after the pattern"),
            ("RULE:^CN=(.*)$/$1", "no '/' after the replacement"),
            ("RULE:^CN=(.*)$/$2/", "no group 2"),
            ("RULE:^CN=(.*)$/$x/", "not followed by a group number"),
            ("RULE:^CN=(.*)$/${nope}/", "no group named 'nope'"),
            ("RULE:^CN=((.*)$/$1/", "bad pattern"),
            ("RULE:^CN=(.*)$/$1/X", "unexpected 'X'"),
            ("DEFAULTS", "unexpected 'S'"),
            ("KERBEROS", "expected DEFAULT or RULE"),
            ("DEFAULT,,", "expected DEFAULT or RULE"),
        ] {
            let err = PrincipalMappingRules::parse(rules).unwrap_err();
            assert!(err.contains(reason), "{rules}: {err}");
        }
        let long = "DEFAULT,".repeat(RULES_TEXT_BYTES_MAX / 8 + 1);
        assert!(PrincipalMappingRules::parse(&long)
            .unwrap_err()
            .contains("longer than"));
    }
}
