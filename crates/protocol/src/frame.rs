//! Request framing: a 4-byte big-endian size, then the request header and body.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use thiserror::Error;

/// Kafka's `socket.request.max.bytes` default: the largest request frame accepted.
pub const REQUEST_FRAME_BYTES_MAX_DEFAULT: usize = 104_857_600;

/// Why a request frame could not be turned into a header and body.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge { size: i64, limit: usize },
    #[error("frame size {0} is negative")]
    Negative(i32),
    #[error("frame too short for a request header")]
    TooShort,
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("malformed request header: {0}")]
    BadHeader(String),
    #[error("malformed {api_key:?} v{version} body: {reason}")]
    BadBody {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Checks a frame's declared size before anything is allocated for it.
pub fn check_frame_size(size: i32, limit: usize) -> Result<usize, FrameError> {
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    if size as usize > limit {
        return Err(FrameError::TooLarge {
            size: size as i64,
            limit,
        });
    }
    Ok(size as usize)
}

/// The start of a request: enough to answer even when the body does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads api key, version and correlation id, which every header version starts with.
pub fn peek_prefix(frame: &[u8]) -> Result<RequestPrefix, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort);
    }
    Ok(RequestPrefix {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// Decodes the request header, leaving `frame` positioned at the body.
pub fn decode_header(frame: &mut Bytes) -> Result<(ApiKey, RequestHeader), FrameError> {
    let prefix = peek_prefix(frame)?;
    let key =
        ApiKey::try_from(prefix.api_key).map_err(|_| FrameError::UnknownApiKey(prefix.api_key))?;
    let header_version = key.request_header_version(prefix.api_version);
    let header = RequestHeader::decode(frame, header_version)
        .map_err(|e| FrameError::BadHeader(e.to_string()))?;
    Ok((key, header))
}

/// Decodes a request body of `api_key` at `version`: the one decode every handler
/// applies (and the request fuzz targets exercise).
pub fn decode_body<T: Decodable>(
    api_key: ApiKey,
    version: i16,
    mut body: Bytes,
) -> Result<T, FrameError> {
    T::decode(&mut body, version).map_err(|e| FrameError::BadBody {
        api_key,
        version,
        reason: e.to_string(),
    })
}

/// Frames an encoded response: size prefix, then the bytes.
pub fn frame_len(body_len: usize) -> [u8; 4] {
    (body_len as u32).to_be_bytes()
}

/// Reads a size-prefixed frame out of `buf` when a whole one is there. Reserves
/// nothing: a size prefix is only a claim, so the caller grows `buf` as bytes arrive
/// (see [`frame_bytes_missing`]).
pub fn split_frame(buf: &mut bytes::BytesMut, limit: usize) -> Result<Option<Bytes>, FrameError> {
    if frame_bytes_missing(buf, limit)? > 0 {
        return Ok(None);
    }
    let size = declared_size(buf, limit)?;
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// How many more bytes complete the frame that `buf` starts with (the rest of the
/// size prefix when that is not all there yet); 0 when a whole frame is there. The
/// declared size is checked against `limit` first.
pub fn frame_bytes_missing(buf: &[u8], limit: usize) -> Result<usize, FrameError> {
    if buf.len() < 4 {
        return Ok(4 - buf.len());
    }
    let size = declared_size(buf, limit)?;
    Ok((4 + size).saturating_sub(buf.len()))
}

/// The checked size of the frame whose 4-byte prefix starts `buf`.
fn declared_size(buf: &[u8], limit: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    check_frame_size(size, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_negative_frames_are_refused() {
        assert!(matches!(
            check_frame_size(200, 100),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            check_frame_size(-1, 100),
            Err(FrameError::Negative(-1))
        ));
        assert_eq!(check_frame_size(100, 100).unwrap(), 100);
    }

    #[test]
    fn split_frame_waits_for_whole_frame() {
        let mut buf = bytes::BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert!(split_frame(&mut buf, 10).unwrap().is_none());
        buf.extend_from_slice(&[3]);
        assert_eq!(
            split_frame(&mut buf, 10).unwrap().unwrap().as_ref(),
            &[1, 2, 3]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn a_size_prefix_alone_reserves_nothing() {
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&100_000_000i32.to_be_bytes());
        buf.extend_from_slice(&[1, 2]);
        let capacity = buf.capacity();
        assert!(split_frame(&mut buf, 104_857_600).unwrap().is_none());
        assert_eq!(buf.capacity(), capacity, "no room reserved for the claim");
        assert_eq!(
            frame_bytes_missing(&buf, 104_857_600).unwrap(),
            100_000_000 - 2
        );
    }

    #[test]
    fn missing_bytes_count_the_prefix_then_the_body() {
        assert_eq!(frame_bytes_missing(&[], 10).unwrap(), 4);
        assert_eq!(frame_bytes_missing(&[0, 0], 10).unwrap(), 2);
        assert_eq!(frame_bytes_missing(&[0, 0, 0, 3, 9], 10).unwrap(), 2);
        assert_eq!(frame_bytes_missing(&[0, 0, 0, 1, 9, 9], 10).unwrap(), 0);
        assert!(matches!(
            frame_bytes_missing(&[0, 0, 0, 11], 10),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_api_key_is_reported() {
        let mut frame = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
        assert!(matches!(
            decode_header(&mut frame),
            Err(FrameError::UnknownApiKey(0x7f00))
        ));
    }
}
