//! Frames of the controller listener: a 4-byte big-endian length, then that many
//! bytes of JSON (a `RaftRequest` or `RaftReply`).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::raft_transport::error::RaftTransportError;

/// Largest frame accepted or sent: an AppendEntries of many entries or one
/// snapshot chunk (openraft's default chunk is 3 MiB; JSON writes each byte as up
/// to 4 characters).
pub const RAFT_FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The next frame's body; `None` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, RaftTransportError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > RAFT_FRAME_BYTES_MAX {
        return Err(RaftTransportError::FrameTooLarge {
            bytes: len,
            limit: RAFT_FRAME_BYTES_MAX,
        });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(body))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> Result<(), RaftTransportError> {
    if body.len() > RAFT_FRAME_BYTES_MAX {
        return Err(RaftTransportError::FrameTooLarge {
            bytes: body.len(),
            limit: RAFT_FRAME_BYTES_MAX,
        });
    }
    writer.write_all(&(body.len() as u32).to_be_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_lengths_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").await.unwrap();
        let mut reader = &buf[..];
        assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), b"hello");
        assert!(read_frame(&mut reader).await.unwrap().is_none());

        let huge = ((RAFT_FRAME_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(RaftTransportError::FrameTooLarge { .. })
        ));
        // A frame cut short is an error, not a clean close.
        let mut torn = &buf[..6];
        assert!(read_frame(&mut torn).await.is_err());
    }
}
