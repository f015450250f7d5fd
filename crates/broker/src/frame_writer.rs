//! Writes response frames to a client socket: bytes with ordinary writes (small
//! adjacent chunks coalesced into one), file regions with `sendfile` so records go
//! from the page cache to the socket without a user-space copy.

use crate::response_frame::{FileRegion, Frame, FrameChunk};
use bytes::BytesMut;
use std::io;
use std::os::fd::AsRawFd;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// Byte chunks up to this size are copied together and written at once; larger ones
/// are written straight from their buffer.
const COALESCE_CHUNK_BYTES_MAX: usize = 16 * 1024;
/// Buffered bytes of queued frames past which they are written without waiting for
/// more.
const QUEUED_BYTES_MAX: usize = 64 * 1024;
/// Most bytes one `sendfile` call is asked for (Linux caps a call near 2 GiB anyway).
const SENDFILE_CALL_BYTES_MAX: u64 = 1 << 30;

/// The write side of a connection.
pub struct FrameWriter {
    socket: OwnedWriteHalf,
    /// Small byte chunks waiting to go out together.
    pending: BytesMut,
}

impl FrameWriter {
    pub fn new(socket: OwnedWriteHalf) -> Self {
        FrameWriter {
            socket,
            pending: BytesMut::new(),
        }
    }

    /// Writes the frame, except that its small trailing bytes may stay buffered so
    /// that responses finishing together go out in one write; call
    /// [`FrameWriter::flush`] before waiting for anything. An error leaves the frame
    /// partly written: the connection must be closed (its size prefix may already be
    /// out).
    pub async fn queue_frame(&mut self, frame: &Frame) -> io::Result<()> {
        for chunk in frame.chunks() {
            match chunk {
                FrameChunk::Bytes(b) if b.len() <= COALESCE_CHUNK_BYTES_MAX => {
                    self.pending.extend_from_slice(b);
                }
                FrameChunk::Bytes(b) => {
                    self.flush_pending().await?;
                    self.socket.write_all(b).await?;
                }
                FrameChunk::File(region) => {
                    self.flush_pending().await?;
                    send_region(self.socket.as_ref(), region).await?;
                }
            }
        }
        if self.pending.len() > QUEUED_BYTES_MAX {
            self.flush_pending().await?;
        }
        Ok(())
    }

    /// Writes whatever queued frames left buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.flush_pending().await
    }

    async fn flush_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.socket.write_all(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }

    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.socket.shutdown().await
    }
}

/// Sends `region` with `sendfile`, waiting for the socket to drain when it is full.
/// A file that ends before the region does (truncated under us) is an error: the
/// frame's size prefix promised those bytes.
async fn send_region(socket: &TcpStream, region: &FileRegion) -> io::Result<()> {
    let mut offset = libc::off_t::try_from(region.position)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position too large"))?;
    let mut left = region.len;
    let file_fd = region.file.as_raw_fd();
    let socket_fd = socket.as_raw_fd();
    while left > 0 {
        socket.writable().await?;
        let count = left.min(SENDFILE_CALL_BYTES_MAX) as usize;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (the socket is borrowed,
            // the file held by the region's Arc); `offset` is a valid off_t the kernel
            // advances by the bytes sent.
            let n = unsafe { libc::sendfile(socket_fd, file_fd, &mut offset, count) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as u64)
            }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("log file ended {left} bytes before the fetched region"),
                ))
            }
            Ok(n) => left -= n.min(left),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response_frame::FrameChunk;
    use bytes::Bytes;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn socket_pair() -> (FrameWriter, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_read, write) = accepted.unwrap().0.into_split();
        (FrameWriter::new(write), client.unwrap())
    }

    fn file_with(bytes: &[u8]) -> Arc<std::fs::File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Arc::new(f)
    }

    #[tokio::test]
    async fn bytes_and_large_regions_arrive_in_order() {
        let (mut writer, mut client) = socket_pair().await;
        // Larger than any socket buffer, so sendfile must wait for the reader.
        let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&data);
        let big_bytes = Bytes::from(vec![7u8; 100_000]);
        let frame = Frame::from_chunks(vec![
            FrameChunk::Bytes(Bytes::from_static(b"head")),
            FrameChunk::File(FileRegion {
                file: Arc::clone(&file),
                position: 5,
                len: data.len() as u64 - 10,
            }),
            FrameChunk::Bytes(Bytes::from_static(b"mid")),
            FrameChunk::Bytes(big_bytes.clone()),
            FrameChunk::File(FileRegion {
                file,
                position: 0,
                len: 3,
            }),
        ]);
        let expected = frame.materialize().unwrap();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert!(got == expected, "received bytes differ");
        });
        writer.queue_frame(&frame).await.unwrap();
        writer.flush().await.unwrap();
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn region_past_the_end_of_its_file_is_an_error() {
        let (mut writer, _client) = socket_pair().await;
        let frame = Frame::from_chunks(vec![FrameChunk::File(FileRegion {
            file: file_with(b"short"),
            position: 2,
            len: 10,
        })]);
        let err = writer.queue_frame(&frame).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
