//! A response as it goes to the socket: a sequence of chunks, each either bytes in
//! memory or a region of a log segment file that the writer hands to `sendfile`, so
//! fetched records never pass through user space.

use bytes::Bytes;
use std::fs::File;
use std::sync::Arc;

/// Bytes `position..position + len` of an open file.
#[derive(Clone, Debug)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}

/// One piece of a response frame.
#[derive(Clone, Debug)]
pub enum FrameChunk {
    Bytes(Bytes),
    File(FileRegion),
}

impl FrameChunk {
    /// Bytes this chunk puts on the wire.
    pub fn len(&self) -> u64 {
        match self {
            FrameChunk::Bytes(b) => b.len() as u64,
            FrameChunk::File(r) => r.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole response frame (size prefix included) as chunks written in order.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    chunks: Vec<FrameChunk>,
    len: u64,
}

impl Frame {
    /// A frame of `chunks`; empty chunks are dropped.
    pub fn from_chunks(chunks: Vec<FrameChunk>) -> Self {
        let chunks: Vec<FrameChunk> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let len = chunks.iter().map(FrameChunk::len).sum();
        Frame { chunks, len }
    }

    pub fn chunks(&self) -> &[FrameChunk] {
        &self.chunks
    }

    /// Total bytes on the wire.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frame with `patch` applied to its first chunk's bytes (copied once); the
    /// same frame when it starts with a file region or `patch` reports no change.
    pub fn with_head_patched(mut self, patch: impl FnOnce(&mut [u8]) -> bool) -> Frame {
        if let Some(FrameChunk::Bytes(head)) = self.chunks.first() {
            let mut patched = head.to_vec();
            if patch(&mut patched) {
                self.chunks[0] = FrameChunk::Bytes(Bytes::from(patched));
            }
        }
        self
    }

    /// The frame as one buffer, file regions read in (tests, and diagnostics).
    pub fn materialize(&self) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::with_capacity(self.len as usize);
        for chunk in &self.chunks {
            match chunk {
                FrameChunk::Bytes(b) => out.extend_from_slice(b),
                FrameChunk::File(r) => {
                    let start = out.len();
                    out.resize(start + r.len as usize, 0);
                    r.file.read_exact_at(&mut out[start..], r.position)?;
                }
            }
        }
        Ok(out)
    }
}

impl From<Bytes> for Frame {
    fn from(bytes: Bytes) -> Self {
        Frame::from_chunks(vec![FrameChunk::Bytes(bytes)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_keep_order_and_regions_read_from_their_file() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let frame = Frame::from_chunks(vec![
            FrameChunk::Bytes(Bytes::from_static(b"ab")),
            FrameChunk::Bytes(Bytes::new()),
            FrameChunk::File(FileRegion {
                file: Arc::new(file),
                position: 3,
                len: 4,
            }),
            FrameChunk::Bytes(Bytes::from_static(b"z")),
        ]);
        assert_eq!(frame.chunks().len(), 3, "the empty chunk is dropped");
        assert_eq!(frame.len(), 7);
        assert_eq!(frame.materialize().unwrap(), b"ab3456z");
        let plain = Frame::from(Bytes::from_static(b"xyz"));
        assert_eq!(plain.materialize().unwrap(), b"xyz");
        let patched = plain.with_head_patched(|head| {
            head[1] = b'Y';
            true
        });
        assert_eq!(patched.materialize().unwrap(), b"xYz");
        assert_eq!(patched.len(), 3);
    }
}
