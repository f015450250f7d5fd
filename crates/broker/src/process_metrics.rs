//! The `process_*` metrics every Prometheus client library exposes (CPU time, memory,
//! file descriptors, start time), read from `/proc` at scrape time, so the standard
//! dashboards and alerts work unchanged. Elsewhere than Linux nothing is written.

use std::fmt::Write;

use crate::metrics::header;

/// Fields of `/proc/self/stat` this needs, in clock ticks and pages as the kernel
/// gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// User-mode CPU time, in clock ticks.
    pub utime_ticks: u64,
    /// Kernel-mode CPU time, in clock ticks.
    pub stime_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/self/stat`. The command name (field 2) is in parentheses and may
/// hold spaces or parentheses itself, so the fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let after = &text[text.rfind(')')? + 1..];
    // Index 0 is field 3 (state); field N is at index N - 3.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The soft "Max open files" limit from `/proc/self/limits`; `None` when unlimited.
pub fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The boot time (`btime`) from `/proc/stat`, in seconds since the epoch.
pub fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Appends the `process_*` families (those that can be read) to `out`.
pub fn write_prometheus(out: &mut String) {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
    else {
        return;
    };
    let ticks_per_second = sysconf(libc::_SC_CLK_TCK).unwrap_or(100).max(1) as f64;
    let page_bytes = sysconf(libc::_SC_PAGESIZE).unwrap_or(4096);
    header(
        out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    let cpu = (stat.utime_ticks + stat.stime_ticks) as f64 / ticks_per_second;
    let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
    header(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    let _ = writeln!(
        out,
        "process_resident_memory_bytes {}",
        stat.rss_pages.saturating_mul(page_bytes)
    );
    header(
        out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    );
    let _ = writeln!(out, "process_virtual_memory_bytes {}", stat.virtual_bytes);
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        header(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        // The directory handle itself is one of the entries; Prometheus' clients
        // count it too.
        let _ = writeln!(out, "process_open_fds {}", entries.count());
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| parse_max_open_files(&t))
    {
        header(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        let _ = writeln!(out, "process_max_fds {max}");
    }
    if let Some(boot) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_boot_time(&t))
    {
        header(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        let start = boot as f64 + stat.start_ticks as f64 / ticks_per_second;
        let _ = writeln!(out, "process_start_time_seconds {start}");
    }
}

/// A `sysconf` value; `None` when the system does not say.
fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads a system constant; any name is allowed.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (moldau (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    150 37 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.utime_ticks, 150);
        assert_eq!(s.stime_ticks, 37);
        assert_eq!(s.start_ticks, 123456);
        assert_eq!(s.virtual_bytes, 987654321);
        assert_eq!(s.rss_pages, 2048);
        assert_eq!(parse_stat("4242 (moldau) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn limits_and_boot_time_parse() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(20000));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_its_metrics() {
        let mut out = String::new();
        write_prometheus(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(out.contains(&format!("\n{name}")), "{name} missing:\n{out}");
        }
    }
}
