//! A hand-written Fetch response encoder (versions 4..=18) whose records stay where
//! they are: a partition's records may be a region of a segment file, which becomes
//! its own chunk of the frame and goes to the socket with `sendfile`.
//!
//! Layout per Kafka's FetchResponse schema: flexible (compact strings, arrays and
//! bytes, tagged-field sections) from v12, topic id instead of topic name from v13.
//! Of the optional tagged fields only a partition's current leader (v12+) and the
//! response's node endpoints (v16+) are written (KIP-951, for a partition not led
//! here), and a replica's diverging epoch; the snapshot id is never set.

use crate::leadership::{CurrentLeader, LeaderEndpoint};
use crate::request::CloseConnection;
use crate::response_frame::{FileRegion, Frame, FrameChunk};
use bytes::{BufMut, Bytes, BytesMut};
use moldau_protocol::varint::put_uvarint;
use uuid::Uuid;

/// Oldest Fetch version this encoder writes.
pub const FETCH_RESPONSE_VERSION_MIN: i16 = 4;
/// Newest Fetch version this encoder writes (v17 and v18 changed only the request).
pub const FETCH_RESPONSE_VERSION_MAX: i16 = 18;
/// First flexible version (compact encodings, tagged fields, response header v1).
const FLEXIBLE_VERSION_MIN: i16 = 12;
/// First version naming topics by id.
const TOPIC_ID_VERSION_MIN: i16 = 13;
/// First version with the response's `node_endpoints` (tag 0).
const NODE_ENDPOINTS_VERSION_MIN: i16 = 16;
/// A partition's `diverging_epoch` tag.
const DIVERGING_EPOCH_TAG: u32 = 0;
/// A partition's `current_leader` tag.
const CURRENT_LEADER_TAG: u32 = 1;
/// The response's `node_endpoints` tag.
const NODE_ENDPOINTS_TAG: u32 = 0;

/// A partition's records in the response.
#[derive(Clone, Debug)]
pub enum FetchRecords {
    /// No records field value at all (null).
    Null,
    /// Records in memory (possibly empty).
    Bytes(Bytes),
    /// Whole batches lying in a segment file.
    File(FileRegion),
}

impl FetchRecords {
    pub(crate) fn len(&self) -> Option<u64> {
        match self {
            FetchRecords::Null => None,
            FetchRecords::Bytes(b) => Some(b.len() as u64),
            FetchRecords::File(r) => Some(r.len),
        }
    }
}

/// An aborted transaction listed in a partition's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// The fields of one partition's answer other than its records.
#[derive(Clone, Debug)]
pub struct FetchPartitionHeader {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `None` encodes a null array.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// Written from v11 on.
    pub preferred_read_replica: i32,
    /// The leader when this node is not it; a tagged field from v12 on.
    pub current_leader: Option<CurrentLeader>,
    /// (epoch, end offset) where a replica's log diverges; a tagged field from v12 on.
    pub diverging_epoch: Option<(i32, i64)>,
}

/// Builds one Fetch response frame: the top-level fields first, then each topic
/// followed by its partitions, in order, with the counts announced up front.
pub struct FetchResponseEncoder {
    version: i16,
    /// Bytes not yet cut into a chunk.
    buf: BytesMut,
    /// Finished chunks after the size prefix.
    chunks: Vec<FrameChunk>,
    /// Bytes in `chunks` and `buf`.
    len: u64,
    topics_left: usize,
    partitions_left: usize,
    /// A topic was started and its tagged-field trailer is still to write.
    topic_open: bool,
}

impl FetchResponseEncoder {
    /// Starts a response of `version` to request `correlation_id` announcing
    /// `topic_count` topics.
    pub fn new(
        version: i16,
        correlation_id: i32,
        throttle_time_ms: i32,
        error_code: i16,
        session_id: i32,
        topic_count: usize,
    ) -> Result<Self, CloseConnection> {
        if !(FETCH_RESPONSE_VERSION_MIN..=FETCH_RESPONSE_VERSION_MAX).contains(&version) {
            return Err(CloseConnection(format!(
                "no Fetch response encoding for v{version}"
            )));
        }
        let mut enc = FetchResponseEncoder {
            version,
            buf: BytesMut::with_capacity(256),
            chunks: Vec::new(),
            len: 0,
            topics_left: topic_count,
            partitions_left: 0,
            topic_open: false,
        };
        // Response header: v1 (with an empty tagged-field section) when flexible.
        enc.buf.put_i32(correlation_id);
        enc.tagged_fields();
        enc.buf.put_i32(throttle_time_ms);
        if version >= 7 {
            enc.buf.put_i16(error_code);
            enc.buf.put_i32(session_id);
        }
        enc.array_len(Some(topic_count))?;
        Ok(enc)
    }

    /// Starts the next topic, announcing `partition_count` partitions. `name` is
    /// written before v13, `topic_id` from v13 on.
    pub fn topic(
        &mut self,
        name: &str,
        topic_id: Uuid,
        partition_count: usize,
    ) -> Result<(), CloseConnection> {
        self.close_topic();
        assert!(self.topics_left > 0, "more topics than announced");
        self.topics_left -= 1;
        if self.version < TOPIC_ID_VERSION_MIN {
            let len = i16::try_from(name.len())
                .map_err(|_| CloseConnection(format!("topic name of {} bytes", name.len())))?;
            if self.flexible() {
                put_uvarint(&mut self.buf, len as u32 + 1);
            } else {
                self.buf.put_i16(len);
            }
            self.buf.put_slice(name.as_bytes());
        } else {
            self.buf.put_slice(topic_id.as_bytes());
        }
        self.array_len(Some(partition_count))?;
        self.partitions_left = partition_count;
        self.topic_open = true;
        Ok(())
    }

    /// Adds the next partition of the current topic.
    pub fn partition(
        &mut self,
        header: &FetchPartitionHeader,
        records: &FetchRecords,
    ) -> Result<(), CloseConnection> {
        assert!(self.partitions_left > 0, "more partitions than announced");
        self.partitions_left -= 1;
        self.buf.put_i32(header.partition_index);
        self.buf.put_i16(header.error_code);
        self.buf.put_i64(header.high_watermark);
        self.buf.put_i64(header.last_stable_offset);
        if self.version >= 5 {
            self.buf.put_i64(header.log_start_offset);
        }
        let aborted = header.aborted_transactions.as_deref();
        self.array_len(aborted.map(<[AbortedTransaction]>::len))?;
        for txn in aborted.unwrap_or_default() {
            self.buf.put_i64(txn.producer_id);
            self.buf.put_i64(txn.first_offset);
            self.tagged_fields();
        }
        if self.version >= 11 {
            self.buf.put_i32(header.preferred_read_replica);
        }
        self.records(records)?;
        if self.flexible() {
            let diverging = header.diverging_epoch;
            let leader = header.current_leader;
            let tags = u8::from(diverging.is_some()) + u8::from(leader.is_some());
            self.buf.put_u8(tags);
            // Tags in ascending order.
            if let Some((epoch, end_offset)) = diverging {
                // EpochEndOffset: int32, int64, no tags of its own.
                put_uvarint(&mut self.buf, DIVERGING_EPOCH_TAG);
                put_uvarint(&mut self.buf, 4 + 8 + 1);
                self.buf.put_i32(epoch);
                self.buf.put_i64(end_offset);
                self.buf.put_u8(0);
            }
            if let Some(leader) = leader {
                // LeaderIdAndEpoch: two int32s, no tags of its own.
                put_uvarint(&mut self.buf, CURRENT_LEADER_TAG);
                put_uvarint(&mut self.buf, 4 + 4 + 1);
                self.buf.put_i32(leader.leader_id);
                self.buf.put_i32(leader.leader_epoch);
                self.buf.put_u8(0);
            }
        }
        Ok(())
    }

    /// The frame: size prefix, header, body, and `node_endpoints` (v16+, when any).
    pub fn finish(mut self, node_endpoints: &[LeaderEndpoint]) -> Result<Frame, CloseConnection> {
        self.close_topic();
        assert_eq!(self.topics_left, 0, "fewer topics than announced");
        if node_endpoints.is_empty() || self.version < NODE_ENDPOINTS_VERSION_MIN {
            self.tagged_fields();
        } else {
            let mut field = BytesMut::new();
            encode_node_endpoints(&mut field, node_endpoints)?;
            self.buf.put_u8(1);
            put_uvarint(&mut self.buf, NODE_ENDPOINTS_TAG);
            let len = u32::try_from(field.len())
                .map_err(|_| CloseConnection(format!("node endpoints of {} bytes", field.len())))?;
            put_uvarint(&mut self.buf, len);
            self.buf.put_slice(&field);
        }
        self.cut_chunk();
        let size = i32::try_from(self.len)
            .map_err(|_| CloseConnection(format!("fetch response of {} bytes", self.len)))?;
        let mut chunks = Vec::with_capacity(self.chunks.len() + 1);
        chunks.push(FrameChunk::Bytes(Bytes::copy_from_slice(
            &size.to_be_bytes(),
        )));
        chunks.append(&mut self.chunks);
        Ok(Frame::from_chunks(chunks))
    }

    /// Ends the current topic (its tagged fields) if one is open.
    fn close_topic(&mut self) {
        if self.topic_open {
            assert_eq!(self.partitions_left, 0, "fewer partitions than announced");
            self.tagged_fields();
            self.topic_open = false;
        }
    }

    fn records(&mut self, records: &FetchRecords) -> Result<(), CloseConnection> {
        let len = records.len();
        let too_big = |n: u64| CloseConnection(format!("fetch records of {n} bytes"));
        match len {
            None if self.flexible() => put_uvarint(&mut self.buf, 0),
            None => self.buf.put_i32(-1),
            Some(n) => {
                let n32 = i32::try_from(n).map_err(|_| too_big(n))?;
                if self.flexible() {
                    put_uvarint(&mut self.buf, n32 as u32 + 1);
                } else {
                    self.buf.put_i32(n32);
                }
            }
        }
        match records {
            FetchRecords::Null => {}
            FetchRecords::Bytes(b) => self.buf.put_slice(b),
            FetchRecords::File(region) => {
                self.cut_chunk();
                self.len += region.len;
                self.chunks.push(FrameChunk::File(region.clone()));
            }
        }
        Ok(())
    }

    /// Moves the buffered bytes into a chunk of their own.
    fn cut_chunk(&mut self) {
        if !self.buf.is_empty() {
            let bytes = self.buf.split().freeze();
            self.len += bytes.len() as u64;
            self.chunks.push(FrameChunk::Bytes(bytes));
        }
    }

    fn array_len(&mut self, len: Option<usize>) -> Result<(), CloseConnection> {
        let too_long = |n: usize| CloseConnection(format!("array of {n} entries"));
        match len {
            None if self.flexible() => put_uvarint(&mut self.buf, 0),
            None => self.buf.put_i32(-1),
            Some(n) => {
                let n32 = i32::try_from(n).map_err(|_| too_long(n))?;
                if self.flexible() {
                    put_uvarint(&mut self.buf, n32 as u32 + 1);
                } else {
                    self.buf.put_i32(n32);
                }
            }
        }
        Ok(())
    }

    /// An empty tagged-field section (flexible versions only).
    fn tagged_fields(&mut self) {
        if self.flexible() {
            self.buf.put_u8(0);
        }
    }

    fn flexible(&self) -> bool {
        self.version >= FLEXIBLE_VERSION_MIN
    }
}

#[cfg(test)]
#[path = "fetch_response_encoder_tests.rs"]
mod tests;

/// A compact array of NodeEndpoint (node id, host, port, rack; no tags of their own).
fn encode_node_endpoints(
    buf: &mut BytesMut,
    endpoints: &[LeaderEndpoint],
) -> Result<(), CloseConnection> {
    let count = u32::try_from(endpoints.len())
        .map_err(|_| CloseConnection(format!("{} node endpoints", endpoints.len())))?;
    put_uvarint(buf, count + 1);
    for e in endpoints {
        buf.put_i32(e.node_id);
        compact_string(buf, Some(&e.host))?;
        buf.put_i32(e.port);
        compact_string(buf, e.rack.as_deref())?;
        buf.put_u8(0);
    }
    Ok(())
}

/// A compact (nullable) string: length + 1 as an unsigned varint, 0 for null.
fn compact_string(buf: &mut BytesMut, s: Option<&str>) -> Result<(), CloseConnection> {
    match s {
        None => put_uvarint(buf, 0),
        Some(s) => {
            let len = i16::try_from(s.len())
                .map_err(|_| CloseConnection(format!("string of {} bytes", s.len())))?;
            put_uvarint(buf, len as u32 + 1);
            buf.put_slice(s.as_bytes());
        }
    }
    Ok(())
}
