//! The types openraft is instantiated with for the metadata quorum.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::raft::record_list::{decode_record_list, encode_record_list};
use crate::{MetadataError, MetadataRecord};

/// A controller's node id (`node.id`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The metadata quorum's Raft: entries carry metadata records, nodes are
    /// addressed by their controller listener (`BasicNode::addr`, "host:port").
    pub MetadataRaftConfig:
        D = MetadataCommand,
        R = MetadataApplied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<MetadataRaftConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The payload of a normal Raft entry: metadata records committed together, kept
/// encoded (each with [`MetadataRecord::to_bytes`]) so the log stores them as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataCommand {
    encoded: Vec<u8>,
}

impl MetadataCommand {
    /// Fails for a record too large to store (see `record_list`).
    pub fn from_records(records: &[MetadataRecord]) -> Result<Self, MetadataError> {
        Ok(MetadataCommand {
            encoded: encode_record_list(records)?,
        })
    }

    /// Wraps bytes read from the log or the wire; checked when decoded.
    pub fn from_encoded(encoded: Vec<u8>) -> Self {
        MetadataCommand { encoded }
    }

    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    pub fn records(&self) -> Result<Vec<MetadataRecord>, MetadataError> {
        decode_record_list(&self.encoded)
    }
}

/// What applying one entry did: the Raft index (the record offset in
/// `__cluster_metadata-0`) and, when the image refused the entry's records (all
/// of them are then left out), why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataApplied {
    pub offset: u64,
    pub rejected: Option<MetadataError>,
}
