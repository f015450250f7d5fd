//! `meta.properties` (data directory) and `partition.metadata` (partition directory).

use std::path::Path;

use crate::checkpoint_file::write_atomically;
use crate::error::LogError;

/// File name of the data directory's identity file.
pub const META_PROPERTIES_FILE: &str = "meta.properties";
/// File name of a partition's topic id file.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// Both files are a few lines; anything larger is corrupt.
pub const PROPERTIES_FILE_BYTES_MAX: u64 = 64 * 1024;
/// `version` written to meta.properties (KRaft mode).
pub const META_PROPERTIES_VERSION: i32 = 1;

fn read_small(path: &Path) -> Result<Option<String>, LogError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, e)),
    };
    if len > PROPERTIES_FILE_BYTES_MAX {
        return Err(LogError::corrupt(
            path,
            format!("{len} bytes exceeds {PROPERTIES_FILE_BYTES_MAX}"),
        ));
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(LogError::at(path))
}

/// Contents of `meta.properties`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
    pub version: i32,
}

impl MetaProperties {
    /// Reads `dir/meta.properties`; `Ok(None)` if absent.
    pub fn read(dir: &Path) -> Result<Option<Self>, LogError> {
        let path = dir.join(META_PROPERTIES_FILE);
        let Some(text) = read_small(&path)? else {
            return Ok(None);
        };
        let mut cluster_id = None;
        let mut node_id = None;
        let mut directory_id = String::new();
        let mut version = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(LogError::corrupt(
                    &path,
                    format!("line without '=': {line:?}"),
                ));
            };
            match k.trim() {
                "cluster.id" => cluster_id = Some(v.trim().to_string()),
                "node.id" | "broker.id" => node_id = v.trim().parse().ok(),
                "directory.id" => directory_id = v.trim().to_string(),
                "version" => version = v.trim().parse().ok(),
                _ => {}
            }
        }
        match (cluster_id, node_id, version) {
            (Some(cluster_id), Some(node_id), Some(version)) => Ok(Some(MetaProperties {
                cluster_id,
                node_id,
                directory_id,
                version,
            })),
            _ => Err(LogError::corrupt(
                &path,
                "missing cluster.id, node.id or version",
            )),
        }
    }

    /// The identity of a freshly formatted directory: a random directory id, as
    /// `kafka-storage.sh format` writes.
    pub fn new_directory(cluster_id: &str, node_id: i32) -> Self {
        MetaProperties {
            cluster_id: cluster_id.to_string(),
            node_id,
            directory_id: random_kafka_uuid(),
            version: META_PROPERTIES_VERSION,
        }
    }

    /// Reads `dir/meta.properties` and checks it belongs to `node_id` and, when
    /// `cluster_id` is given, to that cluster. `Ok(None)`: the directory is not
    /// formatted yet.
    pub fn read_checked(
        dir: &Path,
        node_id: i32,
        cluster_id: Option<&str>,
    ) -> Result<Option<Self>, LogError> {
        let Some(meta) = Self::read(dir)? else {
            return Ok(None);
        };
        if meta.node_id != node_id {
            return Err(LogError::NodeIdMismatch {
                path: dir.to_path_buf(),
                found: meta.node_id,
                expected: node_id,
            });
        }
        if let Some(expected) = cluster_id {
            if meta.cluster_id != expected {
                return Err(LogError::ClusterIdMismatch {
                    path: dir.to_path_buf(),
                    found: meta.cluster_id,
                    expected: expected.to_string(),
                });
            }
        }
        Ok(Some(meta))
    }

    /// Writes `dir/meta.properties` atomically in Kafka's layout.
    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        let text = format!(
            "#\n#Written by Moldau\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion={}\n",
            self.cluster_id, self.directory_id, self.node_id, self.version
        );
        write_atomically(&dir.join(META_PROPERTIES_FILE), text.as_bytes())
    }
}

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's `Uuid.toString()`: URL-safe base64 without padding (22 characters).
pub fn uuid_to_kafka_string(id: &[u8; 16]) -> String {
    let mut out = String::with_capacity(22);
    for chunk in id.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(BASE64_URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A random id as Kafka's `Uuid.randomUuid().toString()` prints it. Like Kafka, never
/// one starting with '-' (it would read as a command-line flag) nor the reserved
/// all-zero id.
pub fn random_kafka_uuid() -> String {
    loop {
        let text = uuid_to_kafka_string(uuid::Uuid::new_v4().as_bytes());
        if !text.starts_with('-') && text != uuid_to_kafka_string(&[0; 16]) {
            return text;
        }
    }
}

/// Parses Kafka's 22-character URL-safe base64 uuid.
pub fn uuid_from_kafka_string(text: &str) -> Option<[u8; 16]> {
    let text = text.trim().trim_end_matches('=');
    if text.len() != 22 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for c in text.bytes() {
        let v = BASE64_URL.iter().position(|&x| x == c)? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out.try_into().ok()
}

/// Writes `partition.metadata`: `version: 0` and `topic_id: <uuid>`.
pub fn write_partition_metadata(dir: &Path, topic_id: &[u8; 16]) -> Result<(), LogError> {
    let text = format!("version: 0\ntopic_id: {}\n", uuid_to_kafka_string(topic_id));
    write_atomically(&dir.join(PARTITION_METADATA_FILE), text.as_bytes())
}

/// Reads the topic id from `partition.metadata`; `Ok(None)` if the file is absent.
pub fn read_partition_metadata(dir: &Path) -> Result<Option<[u8; 16]>, LogError> {
    let path = dir.join(PARTITION_METADATA_FILE);
    let Some(text) = read_small(&path)? else {
        return Ok(None);
    };
    let mut version = None;
    let mut topic_id = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "version" => version = v.trim().parse::<i32>().ok(),
                "topic_id" => topic_id = uuid_from_kafka_string(v),
                _ => {}
            }
        }
    }
    match (version, topic_id) {
        (Some(0), Some(id)) => Ok(Some(id)),
        _ => Err(LogError::corrupt(
            &path,
            "expected 'version: 0' and a topic_id",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_matches_kafka() {
        // Kafka's Uuid.toString of all-zero is "AAAAAAAAAAAAAAAAAAAAAA".
        assert_eq!(uuid_to_kafka_string(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let id: [u8; 16] = core::array::from_fn(|i| (i * 37 + 250) as u8);
        let text = uuid_to_kafka_string(&id);
        assert_eq!(text.len(), 22);
        assert_eq!(uuid_from_kafka_string(&text), Some(id));
        assert_eq!(uuid_from_kafka_string("short"), None);
    }

    #[test]
    fn random_ids_are_kafka_uuids() {
        for _ in 0..200 {
            let id = random_kafka_uuid();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'));
            assert!(uuid_from_kafka_string(&id).is_some());
        }
    }

    #[test]
    fn identity_check_names_the_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            MetaProperties::read_checked(dir.path(), 1, None).unwrap(),
            None
        );
        let meta = MetaProperties::new_directory("AAAAAAAAAAAAAAAAAAAAAQ", 1);
        meta.write(dir.path()).unwrap();
        assert_eq!(
            MetaProperties::read_checked(dir.path(), 1, Some("AAAAAAAAAAAAAAAAAAAAAQ")).unwrap(),
            Some(meta.clone())
        );
        assert_eq!(
            MetaProperties::read_checked(dir.path(), 1, None).unwrap(),
            Some(meta)
        );
        let err = MetaProperties::read_checked(dir.path(), 2, None).unwrap_err();
        assert!(matches!(
            err,
            LogError::NodeIdMismatch {
                found: 1,
                expected: 2,
                ..
            }
        ));
        let err = MetaProperties::read_checked(dir.path(), 1, Some("other")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AAAAAAAAAAAAAAAAAAAAAQ")
                && text.contains("other")
                && text.contains(&dir.path().display().to_string()),
            "{text}"
        );
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let id = [7u8; 16];
        write_partition_metadata(dir.path(), &id).unwrap();
        assert_eq!(read_partition_metadata(dir.path()).unwrap(), Some(id));
        let meta = MetaProperties {
            cluster_id: "abc".into(),
            node_id: 3,
            directory_id: uuid_to_kafka_string(&[1; 16]),
            version: 1,
        };
        meta.write(dir.path()).unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(meta));
    }
}
