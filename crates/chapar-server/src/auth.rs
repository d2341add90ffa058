//! Secrets and signatures: session tokens (random, stored only as SHA-256), one-time link and
//! invite codes (about 139 bits each), and the Ed25519 proof that a device holds its key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chapar_core::Error;
use chapar_core::store::SecretHash;
use ed25519_dalek::{Signature, VerifyingKey};
use rand::Rng as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new session token: 32 random bytes, URL-safe base64.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh challenge for one connection.
pub fn new_challenge() -> Vec<u8> {
    let mut bytes = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// Letters and digits that cannot be confused when read aloud or typed (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Symbols in a link or invite code: 28 of 31 give log2(31) × 28 ≈ 138.7 bits, so even with
/// the stored (unsalted, fast) SHA-256 of a code in hand, finding the code by trying them all
/// is out of reach. (8 symbols, about 40 bits, could be found from a stolen database in
/// minutes.)
const CODE_SYMBOLS: usize = 28;

/// A one-time code for linking a device or signing up by invite: seven groups of four,
/// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`, from an alphabet without look-alikes. Typed codes
/// ignore case, dashes and spaces ([`hash_code`]).
pub fn new_code() -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(CODE_SYMBOLS + CODE_SYMBOLS / 4);
    for i in 0..CODE_SYMBOLS {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char);
    }
    s
}

/// Hash of a code as typed: case and dashes/spaces do not matter.
pub fn hash_code(typed: &str) -> SecretHash {
    let norm: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hash_secret(&norm)
}

/// Check that `signature` is the key's signature of this connection's challenge.
pub fn verify_device(public_key: &[u8], signature: &[u8], challenge: &[u8]) -> Result<(), Error> {
    verify(
        public_key,
        signature,
        &chapar_proto::auth_message(challenge),
    )
}

/// Check that `signature` is a recovery key's signature of this connection's challenge (under
/// its own prefix: a device's proof is never a recovery key's, nor the other way round).
pub fn verify_recovery(public_key: &[u8], signature: &[u8], challenge: &[u8]) -> Result<(), Error> {
    verify(
        public_key,
        signature,
        &chapar_proto::recovery_message(challenge),
    )
}

fn verify(public_key: &[u8], signature: &[u8], message: &[u8]) -> Result<(), Error> {
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| Error::invalid("public_key must be 32 bytes (Ed25519)"))?;
    let sig: [u8; 64] = signature
        .try_into()
        .map_err(|_| Error::invalid("signature must be 64 bytes (Ed25519)"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| Error::invalid("public_key is not a valid Ed25519 key"))?;
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .map_err(|_| {
            Error::Unauthorized("signature does not match this connection's challenge".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn signatures_bind_key_and_challenge() {
        let key = SigningKey::generate(&mut rand::thread_rng());
        let challenge = new_challenge();
        let sig = key.sign(&chapar_proto::auth_message(&challenge)).to_bytes();
        let public = key.verifying_key().to_bytes();
        assert!(verify_device(&public, &sig, &challenge).is_ok());
        assert!(matches!(
            verify_device(&public, &sig, &new_challenge()),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            verify_device(&public[..31], &sig, &challenge),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn codes_carry_at_least_128_bits_and_stay_typeable() {
        for _ in 0..100 {
            let code = new_code();
            let groups: Vec<&str> = code.split('-').collect();
            assert!(
                groups.iter().all(|g| g.len() == 4),
                "groups of four: {code}"
            );
            let symbols: Vec<u8> = code.bytes().filter(|b| *b != b'-').collect();
            assert!(symbols.iter().all(|b| CODE_ALPHABET.contains(b)), "{code}");
            let bits = symbols.len() as f64 * (CODE_ALPHABET.len() as f64).log2();
            assert!(bits >= 128.0, "{code} carries only {bits:.1} bits");
        }
        // No repeats in many draws (a weak generator would show them).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(new_code()));
        }
    }

    #[test]
    fn codes_are_forgiving_when_typed() {
        let code = new_code();
        assert_eq!(
            hash_code(&code),
            hash_code(&code.to_lowercase().replace('-', " "))
        );
        assert_ne!(hash_code(&code), hash_code(&new_code()));
    }
}
