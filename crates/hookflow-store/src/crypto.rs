//! Keys and secrets at rest: the installation's master key, XChaCha20-Poly1305 sealing (with a
//! key-id byte, so the master key can be rotated later), SHA-256 digests for verifying webhook
//! keys and admin tokens in constant time, and generation of new random keys.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// File in the data directory holding the generated master key (base64, mode 0600).
pub const KEY_FILE: &str = "master.key";
/// First byte of every sealed value: which master key sealed it.
const KEY_ID: u8 = 1;

/// The 32-byte key that seals webhook keys and secrets in the database.
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    /// From `HOOKFLOW_MASTER_KEY` (standard base64 of 32 bytes) if given, else from the key file
    /// in `data_dir`, creating it (0600) on first start.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> Result<MasterKey> {
        let text = match configured {
            Some(t) => t.trim().to_string(),
            None => {
                let path = data_dir.join(KEY_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(t) => t.trim().to_string(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let fresh = STANDARD.encode(random_bytes::<32>());
                        write_private(&path, &fresh).map_err(|e| {
                            StoreError::Internal(format!(
                                "cannot write master key file {}: {e}",
                                path.display()
                            ))
                        })?;
                        fresh
                    }
                    Err(e) => {
                        return Err(StoreError::Internal(format!(
                            "cannot read master key file {}: {e}",
                            path.display()
                        )));
                    }
                }
            }
        };
        let bytes = STANDARD.decode(&text).map_err(|_| {
            StoreError::Invalid("the master key must be 32 bytes in standard base64".into())
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Invalid("the master key must be 32 bytes in standard base64".into())
        })?;
        Ok(MasterKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// Encrypts `plain`, bound to `context` (e.g. the owning row's id) so a sealed value cannot
    /// be moved to another row.
    pub fn seal(&self, plain: &[u8], context: &str) -> Vec<u8> {
        let nonce_bytes = random_bytes::<24>();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory data");
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(KEY_ID);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`seal`](Self::seal) produced with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>> {
        if sealed.len() < 25 || sealed[0] != KEY_ID {
            return Err(StoreError::Internal(
                "sealed value has an unknown format".into(),
            ));
        }
        let nonce = XNonce::from_slice(&sealed[1..25]);
        self.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[25..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| {
                StoreError::Internal(
                    "cannot decrypt a sealed value: was the server started with another master \
                     key?"
                        .into(),
                )
            })
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// A new webhook key: 33 random bytes in standard base64 — 44 characters, no padding, and
/// `+`/`/` occur as they do in the keys of the product hookflow replaces.
pub fn new_webhook_key() -> String {
    STANDARD.encode(random_bytes::<33>())
}

/// A new admin token (URL-safe, 43 characters).
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// SHA-256 digest of a key or token, the form in which it is compared.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Constant-time equality of two byte strings of equal length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_and_context_binding() {
        let dir = tempfile::tempdir().unwrap();
        let k = MasterKey::load_or_create(dir.path(), None).unwrap();
        let s = k.seal(b"hello", "row-1");
        assert_eq!(k.open(&s, "row-1").unwrap(), b"hello");
        assert!(k.open(&s, "row-2").is_err());
        // The key file is reused, and private.
        let k2 = MasterKey::load_or_create(dir.path(), None).unwrap();
        assert_eq!(k2.open(&s, "row-1").unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::load_or_create(dir.path(), Some("c2hvcnQ=")).is_err());
        let good = STANDARD.encode([7u8; 32]);
        assert!(MasterKey::load_or_create(dir.path(), Some(&good)).is_ok());
    }

    #[test]
    fn webhook_keys_are_long_base64() {
        let k = new_webhook_key();
        assert_eq!(k.len(), 44);
        assert!(!k.contains('='));
    }
}
