use crate::snapshot::*;
use crate::test_records::*;
use crate::{MetadataImage, MetadataRecord, PartitionChange, TopicId};

/// An image with a bit of everything, including changed partitions.
fn busy_image(topics: usize) -> MetadataImage {
    let mut records = Vec::new();
    records.extend(one_of_each().into_iter().filter(|r| {
        // one_of_each's removals and changes refer to things not created here
        matches!(
            r,
            MetadataRecord::FeatureLevel { .. }
                | MetadataRecord::ProducerIds { .. }
                | MetadataRecord::Config { .. }
                | MetadataRecord::RegisterBroker(_)
        ) && !matches!(
            r,
            MetadataRecord::Config {
                resource: crate::ConfigResource::Topic(_),
                ..
            }
        )
    }));
    for i in 0..topics {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let id = TopicId(id);
        let name = format!("t{i}");
        records.push(topic(&name, id));
        records.push(topic_config(&name, "retention.ms", Some("7")));
        records.push(partition(id, 0, &[1]));
        records.push(partition(id, 1, &[1]));
        records.push(MetadataRecord::PartitionChange(PartitionChange {
            leader: -1,
            ..PartitionChange::new(id, 1)
        }));
    }
    MetadataImage::new().apply_batch(&records, 0).unwrap().0
}

#[test]
fn a_snapshot_recreates_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = busy_image(50);
    let id = SnapshotId {
        end_offset: image.last_offset() + 1,
        epoch: 3,
    };
    let path = write_snapshot(dir.path(), id, &image, 1).unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{:020}-0000000003.checkpoint", id.end_offset)
    );
    assert_eq!(read_snapshot(dir.path(), id).unwrap(), image);
    assert_eq!(list_snapshots(dir.path()).unwrap(), vec![id]);
}

#[test]
fn large_snapshots_span_batches() {
    let dir = tempfile::tempdir().unwrap();
    // More records than one batch may hold.
    let image = busy_image(1100);
    assert!(image.to_records().len() > SNAPSHOT_BATCH_RECORDS_MAX);
    let id = SnapshotId {
        end_offset: 10,
        epoch: 0,
    };
    write_snapshot(dir.path(), id, &image, 1).unwrap();
    let read = read_snapshot(dir.path(), id).unwrap();
    assert_eq!(
        read.topics().collect::<Vec<_>>(),
        image.topics().collect::<Vec<_>>()
    );
    assert_eq!(read.last_offset(), 9);
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = busy_image(5);
    let id = SnapshotId {
        end_offset: 100,
        epoch: 0,
    };
    let path = write_snapshot(dir.path(), id, &image, 1).unwrap();
    let good = std::fs::read(&path).unwrap();
    // Every single flipped byte past the offset fields (which lie outside the CRC
    // but are checked for continuity) and every truncation must be caught.
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        assert!(read_snapshot(dir.path(), id).is_err(), "flip at {i}");
    }
    for len in [1, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        assert!(read_snapshot(dir.path(), id).is_err(), "cut at {len}");
    }
}

#[test]
fn names_partials_and_listing() {
    assert_eq!(
        SnapshotId::parse("00000000000000001234-0000000005.checkpoint"),
        Some(SnapshotId {
            end_offset: 1234,
            epoch: 5
        })
    );
    for bad in [
        "1234-5.checkpoint",
        "00000000000000001234-0000000005.checkpoint.part",
        "0000000000000000123x-0000000005.checkpoint",
        "00000000000000000000.log",
    ] {
        assert_eq!(SnapshotId::parse(bad), None, "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let partial = dir
        .path()
        .join("00000000000000000001-0000000000.checkpoint.part");
    std::fs::write(&partial, b"torn").unwrap();
    remove_partial_snapshots(dir.path()).unwrap();
    assert!(!partial.exists());
    let image = busy_image(1);
    for end_offset in [30, 10, 20] {
        let id = SnapshotId {
            end_offset,
            epoch: 0,
        };
        write_snapshot(dir.path(), id, &image, 1).unwrap();
    }
    let ids: Vec<i64> = list_snapshots(dir.path())
        .unwrap()
        .iter()
        .map(|i| i.end_offset)
        .collect();
    assert_eq!(ids, vec![10, 20, 30]);
}
