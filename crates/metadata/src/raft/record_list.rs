//! A list of encoded metadata records in one byte string: the value of a normal
//! Raft entry's Kafka record, and the body of a snapshot. Each record is a 4-byte
//! big-endian length followed by [`MetadataRecord::to_bytes`].

use crate::{MetadataError, MetadataRecord};

/// Largest single encoded record written or accepted from the log, a snapshot or
/// the wire (KRaft's largest metadata batch is 8 MiB).
pub const RECORD_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Most records one list may hold (a snapshot of a large cluster is the biggest).
pub const LIST_RECORDS_MAX: usize = 10_000_000;

const LENGTH_BYTES: usize = 4;

pub fn encode_record_list(records: &[MetadataRecord]) -> Result<Vec<u8>, MetadataError> {
    if records.len() > LIST_RECORDS_MAX {
        return Err(MetadataError::Invalid(format!(
            "{} records in one list, at most {LIST_RECORDS_MAX}",
            records.len()
        )));
    }
    let mut out = Vec::new();
    for record in records {
        let bytes = record.to_bytes();
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(MetadataError::Invalid(format!(
                "a metadata record of {} bytes exceeds {RECORD_BYTES_MAX}",
                bytes.len()
            )));
        }
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

pub fn decode_record_list(mut bytes: &[u8]) -> Result<Vec<MetadataRecord>, MetadataError> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        if records.len() >= LIST_RECORDS_MAX {
            return Err(MetadataError::Malformed(format!(
                "more than {LIST_RECORDS_MAX} records in one list"
            )));
        }
        let Some((len, rest)) = bytes.split_first_chunk::<LENGTH_BYTES>() else {
            return Err(MetadataError::Malformed(
                "record list ends inside a length".into(),
            ));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > RECORD_BYTES_MAX {
            return Err(MetadataError::Malformed(format!(
                "record of {len} bytes exceeds {RECORD_BYTES_MAX}"
            )));
        }
        if len > rest.len() {
            return Err(MetadataError::Malformed(format!(
                "record of {len} bytes but {} left",
                rest.len()
            )));
        }
        records.push(MetadataRecord::from_bytes(&rest[..len])?);
        bytes = &rest[len..];
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refuses_torn_or_oversized_input() {
        let records = vec![
            MetadataRecord::Config {
                resource: crate::ConfigResource::Broker(None),
                name: "a".into(),
                value: Some("1".into()),
            },
            MetadataRecord::Config {
                resource: crate::ConfigResource::Broker(Some(2)),
                name: "b".into(),
                value: None,
            },
        ];
        let bytes = encode_record_list(&records).unwrap();
        assert_eq!(decode_record_list(&bytes).unwrap(), records);
        assert!(decode_record_list(&[]).unwrap().is_empty());
        assert!(decode_record_list(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_record_list(&bytes[..2]).is_err());
        let huge = ((RECORD_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(decode_record_list(&huge).is_err());
    }
}
