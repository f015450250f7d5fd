//! The console's `/metrics` page, read with a plain HTTP/1.1 request (no client
//! library: the test sees exactly what a Prometheus scraper gets).

use std::io::{Read, Write};
use std::time::Duration;

/// How long a scrape may take: `/metrics` of many partitions on a loaded machine.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);

/// The whole response to `GET /metrics` from the console at `console` (headers and
/// body).
pub fn scrape_metrics(console: &str) -> String {
    let mut stream = std::net::TcpStream::connect(console).expect("console connects");
    stream
        .set_read_timeout(Some(SCRAPE_TIMEOUT))
        .expect("read timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {console}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// The value of the sample line `series` (name and labels, exactly as printed) in a
/// scrape, if present.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
