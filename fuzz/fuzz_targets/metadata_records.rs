//! Metadata records as read from the `__cluster_metadata` log: the input is record
//! values separated by newlines, each decoded with `MetadataRecord::from_log_value`
//! (binary records and the JSON-era legacy path) and, when it decodes, checked and
//! applied to an image in order. Nothing may panic, and a record that decodes encodes
//! back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_metadata::{MetadataImage, MetadataRecord};

fuzz_target!(|data: &[u8]| {
    let mut image = MetadataImage::new();
    for (offset, bytes) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(records) = MetadataRecord::from_log_value(bytes) else {
            continue;
        };
        for record in records {
            let again = MetadataRecord::from_bytes(&record.to_bytes()).expect("re-decodes");
            assert_eq!(again, record);
            if image.check(&record).is_ok() {
                let _ = image.apply(&record, offset as i64);
            }
        }
    }
    let _ = image.topics().count();
});
