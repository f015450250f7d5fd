//! Metadata records as read from the `__cluster_metadata` log: the input is records
//! separated by newlines, each decoded with `MetadataRecord::from_bytes` and, when it
//! decodes, checked and applied to an image in order. Nothing may panic, and a record
//! that decodes encodes back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_metadata::{MetadataImage, MetadataRecord};

fuzz_target!(|data: &[u8]| {
    let mut image = MetadataImage::new();
    for (offset, bytes) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(record) = MetadataRecord::from_bytes(bytes) else {
            continue;
        };
        let again = MetadataRecord::from_bytes(&record.to_bytes()).expect("re-decodes");
        assert_eq!(again, record);
        if image.check(&record).is_ok() {
            let _ = image.apply(&record, offset as i64);
        }
    }
    let _ = image.topics().count();
});
