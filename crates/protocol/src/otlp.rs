//! The part of OpenTelemetry's OTLP `MetricsData` protobuf that client telemetry
//! (KIP-714) pushes: each gauge, sum and histogram data point with its attributes.
//! Only the fields read are decoded; everything else is skipped by wire type. The
//! decoder is total (any bytes give points or an error) and bounded: nesting is
//! fixed by the schema, and at most `OTLP_POINTS_MAX` points are kept.

use thiserror::Error;

/// Most data points one push may carry.
pub const OTLP_POINTS_MAX: usize = 10_000;
/// Most attributes one data point may carry.
pub const OTLP_POINT_ATTRIBUTES_MAX: usize = 64;

/// One data point: the metric's name, the point's attributes (values as text) and
/// its value (a histogram gives its count as `<name>.count` and sum as `<name>.sum`).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpPoint {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub value: f64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OtlpError {
    #[error("malformed OTLP metrics: {0}")]
    Malformed(&'static str),
    #[error("more than {OTLP_POINTS_MAX} data points")]
    TooManyPoints,
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// One field of a protobuf message.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// Iterates the fields of one message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { rest: bytes }
    }

    fn varint(&mut self) -> Result<u64, OtlpError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self
                .rest
                .split_first()
                .ok_or(OtlpError::Malformed("truncated varint"))?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(OtlpError::Malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OtlpError> {
        if n > self.rest.len() {
            return Err(OtlpError::Malformed("field longer than its message"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn next_field(&mut self) -> Option<Result<(u64, Field<'a>), OtlpError>> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.read_field())
    }

    fn read_field(&mut self) -> Result<(u64, Field<'a>), OtlpError> {
        let key = self.varint()?;
        let number = key >> 3;
        let field = match (key & 7) as u8 {
            WIRE_VARINT => Field::Varint(self.varint()?),
            WIRE_FIXED64 => {
                let b = self.take(8)?;
                let mut v = [0u8; 8];
                v.copy_from_slice(b);
                Field::Fixed64(u64::from_le_bytes(v))
            }
            WIRE_LEN => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| OtlpError::Malformed("length too large"))?;
                Field::Bytes(self.take(n)?)
            }
            WIRE_FIXED32 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err(OtlpError::Malformed("unknown wire type")),
        };
        Ok((number, field))
    }
}

/// Calls `f` with every length-delimited field numbered `number` of `message`.
fn each_message<'a>(
    message: &'a [u8],
    number: u64,
    mut f: impl FnMut(&'a [u8]) -> Result<(), OtlpError>,
) -> Result<(), OtlpError> {
    let mut fields = Fields::new(message);
    while let Some(field) = fields.next_field() {
        if let (n, Field::Bytes(b)) = field? {
            if n == number {
                f(b)?;
            }
        }
    }
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An AnyValue as text: strings, bools, ints and doubles; other kinds are "".
fn any_value(bytes: &[u8]) -> Result<String, OtlpError> {
    let mut fields = Fields::new(bytes);
    let mut value = String::new();
    while let Some(field) = fields.next_field() {
        value = match field? {
            (1, Field::Bytes(b)) => text(b),
            (2, Field::Varint(v)) => (v != 0).to_string(),
            (3, Field::Varint(v)) => (v as i64).to_string(),
            (4, Field::Fixed64(v)) => f64::from_bits(v).to_string(),
            _ => continue,
        };
    }
    Ok(value)
}

/// The attributes (KeyValue messages numbered `number`) of a data point.
fn attributes(point: &[u8], number: u64) -> Result<Vec<(String, String)>, OtlpError> {
    let mut out = Vec::new();
    each_message(point, number, |kv| {
        if out.len() >= OTLP_POINT_ATTRIBUTES_MAX {
            return Err(OtlpError::Malformed("too many attributes"));
        }
        let mut key = String::new();
        let mut value = String::new();
        let mut fields = Fields::new(kv);
        while let Some(field) = fields.next_field() {
            match field? {
                (1, Field::Bytes(b)) => key = text(b),
                (2, Field::Bytes(b)) => value = any_value(b)?,
                _ => {}
            }
        }
        out.push((key, value));
        Ok(())
    })?;
    Ok(out)
}

/// Appends a point, refusing more than `OTLP_POINTS_MAX`.
fn push(out: &mut Vec<OtlpPoint>, point: OtlpPoint) -> Result<(), OtlpError> {
    if out.len() >= OTLP_POINTS_MAX {
        return Err(OtlpError::TooManyPoints);
    }
    out.push(point);
    Ok(())
}

/// NumberDataPoint: attributes 7, as_double 4, as_int 6.
fn number_points(data: &[u8], name: &str, out: &mut Vec<OtlpPoint>) -> Result<(), OtlpError> {
    each_message(data, 1, |point| {
        let mut value = 0.0;
        let mut fields = Fields::new(point);
        while let Some(field) = fields.next_field() {
            match field? {
                (4, Field::Fixed64(v)) => value = f64::from_bits(v),
                (6, Field::Fixed64(v)) => value = v as i64 as f64,
                _ => {}
            }
        }
        let attributes = attributes(point, 7)?;
        push(
            out,
            OtlpPoint {
                name: name.to_string(),
                attributes,
                value,
            },
        )
    })
}

/// HistogramDataPoint: attributes 9, count 4, sum 5.
fn histogram_points(data: &[u8], name: &str, out: &mut Vec<OtlpPoint>) -> Result<(), OtlpError> {
    each_message(data, 1, |point| {
        let (mut count, mut sum) = (0.0, 0.0);
        let mut fields = Fields::new(point);
        while let Some(field) = fields.next_field() {
            match field? {
                (4, Field::Fixed64(v)) => count = v as f64,
                (5, Field::Fixed64(v)) => sum = f64::from_bits(v),
                _ => {}
            }
        }
        let attributes = attributes(point, 9)?;
        push(
            out,
            OtlpPoint {
                name: format!("{name}.count"),
                attributes: attributes.clone(),
                value: count,
            },
        )?;
        push(
            out,
            OtlpPoint {
                name: format!("{name}.sum"),
                attributes,
                value: sum,
            },
        )
    })
}

/// Metric: name 1, gauge 5, sum 7, histogram 9.
fn metric(bytes: &[u8], out: &mut Vec<OtlpPoint>) -> Result<(), OtlpError> {
    let mut name = String::new();
    let mut fields = Fields::new(bytes);
    while let Some(field) = fields.next_field() {
        if let (1, Field::Bytes(b)) = field? {
            name = text(b);
        }
    }
    let mut fields = Fields::new(bytes);
    while let Some(field) = fields.next_field() {
        match field? {
            (5 | 7, Field::Bytes(data)) => number_points(data, &name, out)?,
            (9, Field::Bytes(data)) => histogram_points(data, &name, out)?,
            _ => {}
        }
    }
    Ok(())
}

/// Every gauge, sum and histogram point of an OTLP `MetricsData` message
/// (resource_metrics 1 → scope_metrics 2 → metrics 2).
pub fn decode_metrics_data(bytes: &[u8]) -> Result<Vec<OtlpPoint>, OtlpError> {
    let mut out = Vec::new();
    each_message(bytes, 1, |resource| {
        each_message(resource, 2, |scope| {
            each_message(scope, 2, |m| metric(m, &mut out))
        })
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn message(number: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | u64::from(WIRE_LEN), &mut out);
        varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    }

    fn fixed64(number: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | u64::from(WIRE_FIXED64), &mut out);
        out.extend_from_slice(&v.to_le_bytes());
        out
    }

    fn attribute(key: &str, value: &str) -> Vec<u8> {
        let mut kv = message(1, key.as_bytes());
        kv.extend(message(2, &message(1, value.as_bytes())));
        kv
    }

    /// MetricsData with one gauge (a double) and one sum (an int) point.
    fn sample() -> Vec<u8> {
        let mut gauge_point = fixed64(4, 2.5f64.to_bits());
        gauge_point.extend(message(7, &attribute("node.id", "1")));
        let gauge = message(1, &gauge_point);
        let mut m1 = message(1, b"org.apache.kafka.producer.node.request.latency.avg");
        m1.extend(message(5, &gauge));
        let sum = message(1, &fixed64(6, 42));
        let mut m2 = message(1, b"org.apache.kafka.producer.record.error.total");
        m2.extend(message(7, &sum));
        let mut scope = message(2, &m1);
        scope.extend(message(2, &m2));
        let resource = message(2, &scope);
        message(1, &resource)
    }

    #[test]
    fn gauge_and_sum_points_with_attributes() {
        let points = decode_metrics_data(&sample()).unwrap_or_default();
        assert_eq!(
            points,
            vec![
                OtlpPoint {
                    name: "org.apache.kafka.producer.node.request.latency.avg".into(),
                    attributes: vec![("node.id".into(), "1".into())],
                    value: 2.5,
                },
                OtlpPoint {
                    name: "org.apache.kafka.producer.record.error.total".into(),
                    attributes: vec![],
                    value: 42.0,
                },
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error_or_fewer_points_never_a_panic() {
        let bytes = sample();
        for n in 0..bytes.len() {
            let _ = decode_metrics_data(&bytes[..n]);
        }
        assert!(decode_metrics_data(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(decode_metrics_data(&[]), Ok(vec![]));
    }
}
