//! Recovery keys as people handle them: 32 random bytes shown once as a code to write down
//! (56 symbols in groups of four, the 256-bit key and a 24-bit checksum), typed back on a new
//! device to sign in there (`Auth::Recover`).

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

/// Crockford's base32: no I, L, O or U, so what is written down reads back the same.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SYMBOLS: usize = 56;
const CHECK_BYTES: usize = 3;

/// Why a typed recovery code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryCodeError {
    #[error("a recovery code has {SYMBOLS} letters and digits; this one has {0}")]
    Length(usize),
    #[error("{0:?} is not a letter or digit of a recovery code")]
    Symbol(char),
    #[error("this recovery code has a typo (its checksum does not match)")]
    Checksum,
}

/// A recovery key: its private half stays with the person, its public half is registered with
/// the account (`Client::set_recovery_key`).
#[derive(Clone)]
pub struct RecoveryKey(SigningKey);

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryKey")
            .field("public_key", &self.0.verifying_key())
            .finish()
    }
}

fn checksum(seed: &[u8; 32]) -> [u8; CHECK_BYTES] {
    let digest = Sha256::digest(seed);
    [digest[0], digest[1], digest[2]]
}

impl RecoveryKey {
    pub fn generate() -> RecoveryKey {
        RecoveryKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The code to write down: `XXXX-XXXX-…`, 14 groups of four.
    pub fn to_code(&self) -> String {
        let seed = self.0.to_bytes();
        let mut bytes = seed.to_vec();
        bytes.extend_from_slice(&checksum(&seed));
        // 35 bytes = 280 bits = 56 symbols of 5 bits.
        let mut out = String::with_capacity(SYMBOLS + SYMBOLS / 4);
        let (mut acc, mut bits) = (0u32, 0u32);
        let mut n = 0;
        for b in bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                if n > 0 && n % 4 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
                n += 1;
            }
        }
        out
    }

    /// Read a typed code back: case, spaces and dashes do not matter, and O, I and L are read
    /// as 0, 1 and 1.
    pub fn from_code(code: &str) -> Result<RecoveryKey, RecoveryCodeError> {
        let mut values = Vec::with_capacity(SYMBOLS);
        for c in code.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let v = ALPHABET
                .iter()
                .position(|&a| a as char == c)
                .ok_or(RecoveryCodeError::Symbol(c))?;
            values.push(v as u32);
        }
        if values.len() != SYMBOLS {
            return Err(RecoveryCodeError::Length(values.len()));
        }
        let mut bytes = Vec::with_capacity(32 + CHECK_BYTES);
        let (mut acc, mut bits) = (0u32, 0u32);
        for v in values {
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push(((acc >> bits) & 0xff) as u8);
            }
        }
        let seed: [u8; 32] = bytes[..32]
            .try_into()
            .map_err(|_| RecoveryCodeError::Checksum)?;
        if bytes[32..] != checksum(&seed) {
            return Err(RecoveryCodeError::Checksum);
        }
        Ok(RecoveryKey(SigningKey::from_bytes(&seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_and_typos_are_caught() {
        let key = RecoveryKey::generate();
        let code = key.to_code();
        assert_eq!(code.len(), SYMBOLS + SYMBOLS / 4 - 1);
        let back = RecoveryKey::from_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(back.0.to_bytes(), key.0.to_bytes());
        // One symbol changed: the checksum says so.
        let mut typo: Vec<char> = code.chars().collect();
        typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
        let typo: String = typo.into_iter().collect();
        assert_eq!(
            RecoveryKey::from_code(&typo).unwrap_err(),
            RecoveryCodeError::Checksum
        );
        assert_eq!(
            RecoveryKey::from_code("ABCD").unwrap_err(),
            RecoveryCodeError::Length(4)
        );
        assert_eq!(
            RecoveryKey::from_code(&code.replacen(|c: char| c.is_ascii_alphanumeric(), "U", 1))
                .unwrap_err(),
            RecoveryCodeError::Symbol('U')
        );
        // Look-alikes are forgiven.
        let loose = code.replace('0', "o").replace('1', "l");
        assert!(RecoveryKey::from_code(&loose).is_ok());
        assert!(
            !format!("{key:?}").contains(&code),
            "Debug must not show the secret"
        );
    }
}
