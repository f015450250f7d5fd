//! `ssl.key.password`: the password of an encrypted PKCS#8 private key in a PEM
//! keystore (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, as `openssl pkcs8 -topk8 -v2`
//! or `openssl genpkey -aes256` write it), as Kafka reads PEM keystores. The key is
//! decrypted with the `pkcs8` crate (PBES2: PBKDF2 or scrypt, AES-CBC).

use pkcs8::der::Decode;
use pkcs8::EncryptedPrivateKeyInfo;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const BEGIN_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const END_ENCRYPTED: &str = "-----END ENCRYPTED PRIVATE KEY-----";
/// The header of OpenSSL's legacy (non-PKCS#8) key encryption, which Kafka does not
/// read either.
const LEGACY_ENCRYPTED_HEADER: &str = "Proc-Type: 4,ENCRYPTED";

/// A private key's password; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPassword(String);

impl std::fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPassword(hidden)")
    }
}

impl KeyPassword {
    pub fn new(password: String) -> Self {
        Self(password)
    }
}

/// What a PEM text says about its private key's encryption.
#[derive(Debug)]
pub enum KeyEncryption {
    /// An unencrypted key (or none at all): read as before.
    None,
    /// The DER of an `EncryptedPrivateKeyInfo`.
    Pkcs8(Vec<u8>),
}

/// Finds the encrypted PKCS#8 key in `pem`, if there is one.
pub fn key_encryption(pem: &[u8]) -> Result<KeyEncryption, String> {
    let text = String::from_utf8_lossy(pem);
    if text.contains(LEGACY_ENCRYPTED_HEADER) {
        return Err("the private key is encrypted in OpenSSL's legacy format; convert it to encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)".into());
    }
    let Some(start) = text.find(BEGIN_ENCRYPTED) else {
        return Ok(KeyEncryption::None);
    };
    let Some(length) = text[start..].find(END_ENCRYPTED) else {
        return Err("the ENCRYPTED PRIVATE KEY block has no end line".into());
    };
    let block = &text[start..start + length + END_ENCRYPTED.len()];
    let (_label, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| format!("the ENCRYPTED PRIVATE KEY block is not valid PEM: {e}"))?;
    Ok(KeyEncryption::Pkcs8(der))
}

/// Decrypts an `EncryptedPrivateKeyInfo` (DER) with `password`.
pub fn decrypt(der: &[u8], password: &KeyPassword) -> Result<PrivateKeyDer<'static>, String> {
    let info = EncryptedPrivateKeyInfo::from_der(der)
        .map_err(|e| format!("the encrypted private key is not PKCS#8: {e}"))?;
    let document = info.decrypt(password.0.as_bytes()).map_err(|e| {
        format!("ssl.key.password does not decrypt the private key (wrong password?): {e}")
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        document.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key encrypted by `openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret`.
    const ENCRYPTED: &str = include_str!("../testdata/encrypted_key.pem");

    #[test]
    fn decrypts_with_the_right_password_only() {
        let KeyEncryption::Pkcs8(der) = key_encryption(ENCRYPTED.as_bytes()).unwrap() else {
            panic!("not found as encrypted");
        };
        let key = decrypt(&der, &KeyPassword::new("secret".into())).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        let wrong = decrypt(&der, &KeyPassword::new("guess".into())).unwrap_err();
        assert!(wrong.contains("wrong password"), "{wrong}");
    }

    #[test]
    fn unencrypted_and_legacy_keys_are_told_apart() {
        let plain = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            key_encryption(plain.as_bytes()),
            Ok(KeyEncryption::None)
        ));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n";
        assert!(key_encryption(legacy.as_bytes())
            .unwrap_err()
            .contains("legacy"));
        assert!(format!("{:?}", KeyPassword::new("secret".into())).contains("hidden"));
    }
}
