//! Writes response frames to a client socket: bytes with ordinary writes (small
//! adjacent chunks coalesced into one), file regions with `sendfile` so records go
//! from the page cache to the socket without a user-space copy. On a TLS connection
//! records must be encrypted, so file regions are read into memory and written
//! through the TLS stream instead.

use crate::response_frame::{FileRegion, Frame, FrameChunk};
use bytes::BytesMut;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use tokio::io::{AsyncWriteExt, Interest, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Byte chunks up to this size are copied together and written at once; larger ones
/// are written straight from their buffer.
const COALESCE_CHUNK_BYTES_MAX: usize = 16 * 1024;
/// Buffered bytes of queued frames past which they are written without waiting for
/// more.
const QUEUED_BYTES_MAX: usize = 64 * 1024;
/// Most bytes one `sendfile` call is asked for (Linux caps a call near 2 GiB anyway).
const SENDFILE_CALL_BYTES_MAX: u64 = 1 << 30;
/// Bytes of a file region read into memory at once for a TLS connection.
const TLS_FILE_READ_BYTES_MAX: usize = 256 * 1024;

/// The socket under a writer.
enum Socket {
    Tcp(OwnedWriteHalf),
    Tls(Box<WriteHalf<TlsStream<TcpStream>>>),
}

/// The write side of a connection.
pub struct FrameWriter {
    socket: Socket,
    /// Small byte chunks waiting to go out together.
    pending: BytesMut,
}

impl FrameWriter {
    pub fn new(socket: OwnedWriteHalf) -> Self {
        FrameWriter {
            socket: Socket::Tcp(socket),
            pending: BytesMut::new(),
        }
    }

    /// A writer for a TLS connection.
    pub fn tls(socket: WriteHalf<TlsStream<TcpStream>>) -> Self {
        FrameWriter {
            socket: Socket::Tls(Box::new(socket)),
            pending: BytesMut::new(),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(s) => s.write_all(bytes).await,
            Socket::Tls(s) => s.write_all(bytes).await,
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
                    self.write_all(b).await?;
                }
                FrameChunk::File(region) => {
                    self.flush_pending().await?;
                    match &mut self.socket {
                        Socket::Tcp(s) => send_region(s.as_ref(), region).await?,
                        Socket::Tls(s) => copy_region(s, region).await?,
                    }
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
            let pending = std::mem::take(&mut self.pending);
            self.write_all(&pending).await?;
            self.pending = pending;
            self.pending.clear();
        }
        if let Socket::Tls(s) = &mut self.socket {
            // The TLS layer buffers a record until flushed.
            s.flush().await?;
        }
        Ok(())
    }

    pub async fn shutdown(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(s) => s.shutdown().await,
            Socket::Tls(s) => s.shutdown().await,
        }
    }
}

/// Copies `region` through a TLS stream, a bounded buffer at a time. A file that ends
/// early is an error, as for `sendfile`.
async fn copy_region(
    socket: &mut WriteHalf<TlsStream<TcpStream>>,
    region: &FileRegion,
) -> io::Result<()> {
    let mut position = region.position;
    let mut left = region.len;
    let mut buf = vec![0u8; (left.min(TLS_FILE_READ_BYTES_MAX as u64)) as usize];
    while left > 0 {
        let count = left.min(buf.len() as u64) as usize;
        // A read of the page cache, like the one sendfile would do in the kernel.
        let read = region.file.read_at(&mut buf[..count], position)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("log file ended {left} bytes before the fetched region"),
            ));
        }
        socket.write_all(&buf[..read]).await?;
        position += read as u64;
        left -= read as u64;
    }
    Ok(())
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
