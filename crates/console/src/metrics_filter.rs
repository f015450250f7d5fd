//! `/metrics` as a logged-in user may see it, by the labels of each series: one
//! labelled with a `topic` needs DESCRIBE on that topic, one labelled with a `group`
//! DESCRIBE on that group (both, when it has both), and any other series is a
//! figure of the broker or the cluster and needs DESCRIBE on the cluster (as
//! DescribeCluster, DescribeLogDirs and an unfiltered ListGroups do). `# HELP` and
//! `# TYPE` lines stay: they name families, not resources.

/// What the caller may describe.
pub struct SeriesAccess<'a> {
    pub cluster: bool,
    pub topic: &'a dyn Fn(&str) -> bool,
    pub group: &'a dyn Fn(&str) -> bool,
}

/// The lines of a Prometheus text exposition that `access` lets through.
pub fn filter_series(text: &str, access: &SeriesAccess<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() || visible(line, access) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn visible(line: &str, access: &SeriesAccess<'_>) -> bool {
    let Some(labels) = labels_of(line) else {
        // A line that does not parse is not shown to a filtered caller.
        return false;
    };
    let mut scoped = false;
    for (key, value) in &labels {
        match key.as_str() {
            "topic" => {
                scoped = true;
                if !(access.topic)(value) {
                    return false;
                }
            }
            "group" => {
                scoped = true;
                if !(access.group)(value) {
                    return false;
                }
            }
            _ => {}
        }
    }
    scoped || access.cluster
}

/// The labels of a sample line `name{k="v",...} value` (none for `name value`),
/// values unescaped; None when the label block is malformed.
fn labels_of(line: &str) -> Option<Vec<(String, String)>> {
    let Some(open) = line.find('{') else {
        return Some(Vec::new());
    };
    if line[..open].contains(' ') {
        // The name ended before any brace: no labels.
        return Some(Vec::new());
    }
    let mut labels = Vec::new();
    let mut chars = line[open + 1..].chars();
    loop {
        let mut key = String::new();
        loop {
            match chars.next()? {
                '}' if key.is_empty() => return Some(labels),
                '=' => break,
                ',' if key.is_empty() => {}
                c => key.push(c),
            }
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_string(), value));
        match chars.next()? {
            ',' => {}
            '}' => return Some(labels),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP moldau_broker_info Always 1.
# TYPE moldau_broker_info gauge
moldau_broker_info{cluster_id=\"c\",node_id=\"1\"} 1
moldau_log_fsyncs_total 7
moldau_topic_bytes_in_total{topic=\"seen\"} 10
moldau_topic_bytes_in_total{topic=\"hid\\\"den\"} 20
moldau_consumer_group_members{group=\"mine\"} 2
moldau_consumer_group_members{group=\"theirs\"} 3
moldau_consumer_group_lag{group=\"mine\",topic=\"seen\"} 4
moldau_consumer_group_lag{group=\"mine\",topic=\"hid\\\"den\"} 5
";

    fn filtered(cluster: bool) -> String {
        let topic = |t: &str| t == "seen";
        let group = |g: &str| g == "mine";
        filter_series(
            TEXT,
            &SeriesAccess {
                cluster,
                topic: &topic,
                group: &group,
            },
        )
    }

    #[test]
    fn series_are_kept_by_their_topic_and_group() {
        let text = filtered(false);
        assert!(text.contains("# TYPE moldau_broker_info gauge\n"));
        assert!(!text.contains("moldau_broker_info{"), "{text}");
        assert!(!text.contains("moldau_log_fsyncs_total 7"), "{text}");
        assert!(text.contains("moldau_topic_bytes_in_total{topic=\"seen\"} 10\n"));
        assert!(!text.contains("hid"), "{text}");
        assert!(text.contains("moldau_consumer_group_members{group=\"mine\"} 2\n"));
        assert!(!text.contains("theirs"), "{text}");
        assert!(text.contains("moldau_consumer_group_lag{group=\"mine\",topic=\"seen\"} 4\n"));
    }

    #[test]
    fn cluster_describe_adds_the_unlabelled_figures_only() {
        let text = filtered(true);
        assert!(text.contains("moldau_broker_info{cluster_id=\"c\",node_id=\"1\"} 1\n"));
        assert!(text.contains("moldau_log_fsyncs_total 7\n"));
        assert!(!text.contains("hid"), "{text}");
        assert!(!text.contains("theirs"), "{text}");
    }

    #[test]
    fn escaped_label_values_are_read_whole() {
        let labels = labels_of("m{topic=\"a\\\"b,c\",x=\"\\\\\"} 1").unwrap();
        assert_eq!(
            labels,
            vec![
                ("topic".to_string(), "a\"b,c".to_string()),
                ("x".to_string(), "\\".to_string())
            ]
        );
        assert_eq!(labels_of("m 1").unwrap(), vec![]);
        assert!(labels_of("m{topic=unquoted} 1").is_none());
    }
}
