//! Recognising a server that is not a Kafka broker from the first bytes it answers
//! with, so a wrong port gets a reason ("answered with HTTP") rather than "frame of
//! 1213486160 bytes" (which is "HTTP" read as a Kafka frame size).

/// Bytes needed to tell the protocols below apart.
pub const FOREIGN_PROTOCOL_PREFIX_BYTES: usize = 4;

/// The protocol a server's first answer bytes belong to, when it is not Kafka's.
pub fn foreign_protocol(answer: &[u8]) -> Option<&'static str> {
    if answer.len() < FOREIGN_PROTOCOL_PREFIX_BYTES {
        return None;
    }
    if answer.starts_with(b"HTTP") {
        return Some("HTTP");
    }
    // A TLS record: content type alert (21) or handshake (22), then version 3.x.
    // As a Kafka frame size this is hundreds of megabytes, never a valid answer.
    if matches!(answer[0], 21 | 22) && answer[1] == 3 && answer[2] <= 4 {
        return Some("TLS");
    }
    if answer.starts_with(b"SSH-") {
        return Some("SSH");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_tls_and_ssh_answers_are_recognised() {
        assert_eq!(
            foreign_protocol(b"HTTP/1.1 400 Bad Request\r\n"),
            Some("HTTP")
        );
        assert_eq!(foreign_protocol(&[21, 3, 3, 0, 2, 2, 50]), Some("TLS"));
        assert_eq!(foreign_protocol(&[22, 3, 1, 0, 90]), Some("TLS"));
        assert_eq!(foreign_protocol(b"SSH-2.0-OpenSSH_9.6\r\n"), Some("SSH"));
    }

    #[test]
    fn kafka_frames_and_short_answers_are_not_foreign() {
        // A 12-byte Kafka response: size, correlation id, body.
        assert_eq!(
            foreign_protocol(&[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0]),
            None
        );
        assert_eq!(foreign_protocol(b"HTT"), None);
        assert_eq!(foreign_protocol(&[]), None);
    }
}
