//! Base64 (RFC 4648) as Kafka's tools print it: the standard alphabet with padding for
//! byte fields in dumped records, the URL-safe one without padding for topic ids.

/// Which of RFC 4648's two encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64 {
    /// `+` and `/`, padded with `=` to a multiple of four characters.
    Standard,
    /// `-` and `_`, without padding.
    UrlSafeUnpadded,
}

impl Base64 {
    /// `bytes` encoded.
    pub fn encode(self, bytes: &[u8]) -> String {
        let alphabet: &[u8; 64] = match self {
            Base64::Standard => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            Base64::UrlSafeUnpadded => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
        };
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            // n input bytes carry n + 1 characters of data.
            for i in 0..=chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
            if self == Base64::Standard {
                for _ in chunk.len()..3 {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(Base64::Standard.encode(plain.as_bytes()), encoded);
        }
        assert_eq!(Base64::Standard.encode(&[1, 2]), "AQI=");
        assert_eq!(Base64::Standard.encode(&[0xfb, 0xff]), "+/8=");
        assert_eq!(Base64::UrlSafeUnpadded.encode(&[0xfb, 0xff]), "-_8");
    }
}
