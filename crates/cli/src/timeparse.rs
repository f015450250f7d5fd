//! Times and durations on the command line: ISO-8601 datetimes (`--to-datetime`,
//! `--timestamp`), ISO-8601 durations (`--by-duration PT1H`), short durations
//! (`--timeout 30s`), and their display.

use std::time::Duration;

/// Milliseconds in one day.
const DAY_MS: i64 = 86_400_000;
/// Longest input these parsers look at, in bytes (a datetime or duration is short).
const INPUT_BYTES_MAX: usize = 64;

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > INPUT_BYTES_MAX {
        return Err(format!("'{s}' is not a duration (try 30s, 500ms, 2m)"));
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}' (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is out of range"))
}

/// Parses an ISO-8601 duration as Kafka's `--by-duration` takes it:
/// `P[nD][T[nH][nM][n[.n]S]]`, e.g. `PT1H30M`, `P1DT12H`, `PT0.5S`.
pub fn parse_iso_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not an ISO-8601 duration like PT1H30M or P1DT12H");
    if s.len() > INPUT_BYTES_MAX {
        return Err(bad());
    }
    let upper = s.trim().to_ascii_uppercase();
    let rest = upper.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total_ms: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Result<(), String> {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            // Units must come in order, each at most once.
            let pos = units[next_unit..]
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(bad)?;
            let n: f64 = number.parse().map_err(|_| bad())?;
            total_ms += n * units[next_unit + pos].1;
            next_unit += pos + 1;
            number.clear();
            any = true;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    take(date, &[('D', DAY_MS as f64)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return Err(bad());
        }
        take(t, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    }
    if !any {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total_ms / 1000.0).map_err(|_| bad())
}

/// Parses an ISO-8601 datetime into milliseconds since the Unix epoch:
/// `2024-05-01`, `2024-05-01T12:00`, `2024-05-01T12:00:00.250`, with an optional
/// `Z` or `±HH:MM` offset. Without an offset the time is UTC (not the local zone,
/// so a script means the same thing on every machine).
pub fn parse_datetime_ms(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("'{s}' is not a datetime like 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00")
    };
    let s = s.trim();
    if s.len() > INPUT_BYTES_MAX || !s.is_ascii() {
        return Err(bad());
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let year: i64 = num(y, 4).ok_or_else(bad)?;
    let month: i64 = num(mo, 2).ok_or_else(bad)?;
    let day: i64 = num(da, 2).ok_or_else(bad)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    // Split off the zone: `Z`, or the last `+`/`-` in the time part.
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
        let zone = time[i + 1..].replace(':', "");
        if zone.len() != 4 {
            return Err(bad());
        }
        let h: i64 = num(&zone[..2], 2).ok_or_else(bad)?;
        let m: i64 = num(&zone[2..], 2).ok_or_else(bad)?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (&time[..i], sign * (h * 3_600_000 + m * 60_000))
    } else {
        (time, 0)
    };
    let mut clock_ms = 0;
    if !clock.is_empty() {
        let (hms, frac) = match clock.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (clock, None),
        };
        let mut parts = hms.split(':');
        let h: i64 = parts.next().and_then(|p| num(p, 2)).ok_or_else(bad)?;
        let m: i64 = parts.next().and_then(|p| num(p, 2)).ok_or_else(bad)?;
        let sec: i64 = match parts.next() {
            Some(p) => num(p, 2).ok_or_else(bad)?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return Err(bad());
        }
        let ms = match frac {
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let padded = format!("{f:0<3}");
                padded[..3].parse::<i64>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => 0,
        };
        clock_ms = ((h * 60 + m) * 60 + sec) * 1000 + ms;
    }
    Ok(days_from_civil(year, month, day) * DAY_MS + clock_ms - offset_ms)
}

/// A timestamp argument: milliseconds since the epoch, or an ISO-8601 datetime.
pub fn parse_timestamp_arg(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(ms) => Ok(ms),
        Err(_) => parse_datetime_ms(s),
    }
}

/// Milliseconds since the epoch as `2024-05-01T12:00:00.250Z`.
pub fn format_ms_utc(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        in_day % 1000
    )
}

/// A duration the way people read it: `850ms`, `12s`, `3m12s`, `2h05m`, `3d04h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}d{:02}h", s / 86_400, s / 3600 % 24)
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A run of exactly `digits` ASCII digits.
fn num(s: &str, digits: usize) -> Option<i64> {
    (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_with_and_without_zones() {
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_datetime_ms("1970-01-02"), Ok(DAY_MS));
        assert_eq!(
            parse_datetime_ms("2024-02-29T12:30:15.250Z"),
            Ok(1_709_209_815_250)
        );
        assert_eq!(
            parse_datetime_ms("2024-02-29T14:30:15.25+02:00"),
            Ok(1_709_209_815_250)
        );
        assert_eq!(
            parse_datetime_ms("2024-02-29T07:30:15.250-0500"),
            Ok(1_709_209_815_250)
        );
        assert_eq!(parse_datetime_ms("2024-02-29 12:30"), Ok(1_709_209_800_000));
    }

    #[test]
    fn bad_datetimes_are_refused() {
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "yesterday",
            "2024-01-01T25:00",
            "2024-01-01T10:00+5",
            "",
        ] {
            assert!(parse_datetime_ms(s).is_err(), "{s}");
        }
    }

    #[test]
    fn utc_formatting_round_trips() {
        for ms in [0, 1_709_209_815_250, 951_782_400_000, -1] {
            assert_eq!(parse_datetime_ms(&format_ms_utc(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(format_ms_utc(1_709_209_815_250), "2024-02-29T12:30:15.250Z");
    }

    #[test]
    fn iso_durations() {
        assert_eq!(parse_iso_duration("PT1H30M"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_iso_duration("P1DT12H"),
            Ok(Duration::from_secs(129_600))
        );
        assert_eq!(parse_iso_duration("p2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_iso_duration("PT0.5S"), Ok(Duration::from_millis(500)));
        for s in ["PT", "P", "1H", "PT1M1H", "PT1H1H", "PT1X", "PT5"] {
            assert!(parse_iso_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn short_durations_and_display() {
        assert_eq!(parse_duration_arg("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration_arg("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration_arg("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration_arg("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration_arg("5 parsecs").is_err());
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(format_duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(format_duration(Duration::from_secs(273_600)), "3d04h");
    }

    #[test]
    fn timestamps_take_millis_or_datetimes() {
        assert_eq!(parse_timestamp_arg("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp_arg("1970-01-01T00:00:01Z"), Ok(1000));
    }
}
