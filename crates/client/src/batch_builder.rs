//! The producer builds its batches with the protocol crate's builder, the one batch
//! writer of the workspace; this names it for the client and lets it take the
//! client's [`Header`]s as they are.

pub use moldau_protocol::batch_builder::{BatchBuilder, BuildError, RecordHeader};
pub use moldau_protocol::batch_header::ProducerStamp;

use crate::record::Header;

impl RecordHeader for Header {
    fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use moldau_protocol::batch::{BatchView, Codec};
    use moldau_protocol::kafka::records::RecordBatchDecoder;

    #[test]
    fn client_headers_go_into_the_batch_in_order() {
        let headers = vec![
            Header {
                key: "trace".into(),
                value: Some(Bytes::from_static(b"abc")),
            },
            Header {
                key: "empty".into(),
                value: None,
            },
        ];
        let mut b = BatchBuilder::new(Codec::Snappy, 128);
        b.push(5, Some(b"k"), Some(b"v"), &headers).unwrap();
        let bytes = b.build(ProducerStamp::default()).unwrap();
        BatchView::parse(&bytes).unwrap().validate().unwrap();
        let set = RecordBatchDecoder::decode(&mut bytes.freeze()).unwrap();
        let read: Vec<_> = set.records[0]
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let want: Vec<_> = headers.into_iter().map(|h| (h.key, h.value)).collect();
        assert_eq!(read, want);
    }
}
