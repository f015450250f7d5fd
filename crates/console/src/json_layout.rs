//! Pretty-printing JSON text as it is: keys stay in the order the producer wrote
//! them (a parse into `serde_json::Value` would sort them) and numbers keep their
//! spelling. Only whitespace between tokens changes.

/// Spaces per nesting level, as `serde_json::to_string_pretty`.
const INDENT_SPACES: usize = 2;

/// `text` re-laid out with one member per line, or `None` when it is not valid JSON.
pub fn pretty(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    Some(relayout(text))
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', depth * INDENT_SPACES));
}

/// Re-indents text already known to be valid JSON.
fn relayout(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for s in chars.by_ref() {
                    out.push(s);
                    if escaped {
                        escaped = false;
                    } else if s == '\\' {
                        escaped = true;
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_order_and_numbers_their_spelling() {
        let p = pretty(r#"{"zeta":1,"alpha":{"b":2.50,"a":[]},"m":[1, {}, "x,y:{"]}"#);
        assert_eq!(
            p.as_deref(),
            Some(
                "{\n  \"zeta\": 1,\n  \"alpha\": {\n    \"b\": 2.50,\n    \"a\": []\n  },\n  \"m\": [\n    1,\n    {},\n    \"x,y:{\"\n  ]\n}"
            )
        );
    }

    #[test]
    fn matches_serde_layout_where_order_agrees() {
        let text = r#" { "a" : [ true , null ] , "b" : "q\"uo\\te" } "#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(pretty(text), serde_json::to_string_pretty(&value).ok());
    }

    #[test]
    fn invalid_json_is_refused() {
        assert_eq!(pretty("{\"a\":"), None);
        assert_eq!(pretty("{} trailing"), None);
    }
}
