//! Records being decided, applied to a copy of the image as they are added, so each
//! later decision sees the earlier ones (two brokers fenced together, an election after
//! an unfence).

use crate::{MetadataImage, MetadataRecord};

pub struct Draft {
    image: MetadataImage,
    records: Vec<MetadataRecord>,
}

impl Draft {
    pub fn new(image: &MetadataImage) -> Self {
        Draft {
            image: image.clone(),
            records: Vec::new(),
        }
    }

    /// The image with every record so far applied.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Adds records the controller derived from [`Self::image`]; the image refusing one
    /// is a bug in that derivation.
    pub fn push_all(&mut self, records: Vec<MetadataRecord>) {
        let offset = self.image.last_offset();
        for r in records {
            if let Err(e) = self.image.apply(&r, offset) {
                panic!("controller derived a record its own image refuses: {e}: {r:?}");
            }
            self.records.push(r);
        }
    }

    pub fn into_records(self) -> Vec<MetadataRecord> {
        self.records
    }
}
