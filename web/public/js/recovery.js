// Recovery keys, the same as the Rust SDK's (crates/chapar-sdk/src/recovery.rs): an Ed25519
// key whose 32-byte seed is written down as a code of 56 symbols in groups of four (Crockford's
// base32 of the seed and the first 3 bytes of its SHA-256). Typed back on a new device, it signs
// in there (`recover`). The public half is registered with the account (`set_recovery_key`).
// No imports: node's tests load this file as it is.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SYMBOLS = 56;
const CHECK_BYTES = 3;
// A PKCS #8 wrapper for a raw Ed25519 seed (RFC 8410): WebCrypto imports private keys so.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const RECOVERY_PREFIX = 'chapar/v1/recovery:';

/** Why a typed code was not accepted: `kind` is 'length', 'symbol' or 'checksum'. */
export class RecoveryCodeError extends Error {
  constructor(kind, detail) {
    super(kind === 'length' ? `a recovery code has ${SYMBOLS} letters and digits; this one has ${detail}`
      : kind === 'symbol' ? `${JSON.stringify(detail)} is not a letter or digit of a recovery code`
        : 'this recovery code has a typo (its checksum does not match)');
    this.kind = kind;
  }
}

async function checksum(seed) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', seed));
  return digest.subarray(0, CHECK_BYTES);
}

function fromBase64Url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

export class RecoveryKey {
  constructor(seed, privateKey, publicKey) {
    this.seed = seed; // Uint8Array(32): the secret the code encodes
    this.privateKey = privateKey; // CryptoKey
    this.publicKey = publicKey; // Uint8Array(32)
  }

  static async fromSeed(seed) {
    const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
    pkcs8.set(PKCS8_PREFIX);
    pkcs8.set(seed, PKCS8_PREFIX.length);
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', privateKey);
    return new RecoveryKey(Uint8Array.from(seed), privateKey, fromBase64Url(jwk.x));
  }

  static generate() {
    return RecoveryKey.fromSeed(crypto.getRandomValues(new Uint8Array(32)));
  }

  /** Reads a typed code: case, spaces and dashes do not matter; O, I and L read as 0, 1, 1. */
  static async fromCode(code) {
    const values = [];
    for (const ch of String(code)) {
      if (/\s/.test(ch) || ch === '-') continue;
      const c = { O: '0', I: '1', L: '1' }[ch.toUpperCase()] || ch.toUpperCase();
      const v = ALPHABET.indexOf(c);
      if (v < 0 || c.length !== 1) throw new RecoveryCodeError('symbol', ch);
      values.push(v);
    }
    if (values.length !== SYMBOLS) throw new RecoveryCodeError('length', values.length);
    const bytes = [];
    let acc = 0;
    let bits = 0;
    for (const v of values) {
      acc = ((acc << 5) | v) & 0xffff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((acc >> bits) & 0xff);
      }
    }
    const seed = Uint8Array.from(bytes.slice(0, 32));
    const check = await checksum(seed);
    if (!check.every((b, i) => b === bytes[32 + i])) throw new RecoveryCodeError('checksum');
    return RecoveryKey.fromSeed(seed);
  }

  /** The code to write down: `XXXX-XXXX-…`, 14 groups of four. */
  async toCode() {
    const bytes = [...this.seed, ...(await checksum(this.seed))];
    let out = '';
    let acc = 0;
    let bits = 0;
    let n = 0;
    for (const b of bytes) {
      acc = ((acc << 8) | b) & 0xffff;
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        if (n > 0 && n % 4 === 0) out += '-';
        out += ALPHABET[(acc >> bits) & 31];
        n += 1;
      }
    }
    return out;
  }

  /** Signs `"chapar/v1/recovery:" || challenge` (the server's proof that the key is held). */
  async prove(challenge) {
    const prefix = new TextEncoder().encode(RECOVERY_PREFIX);
    const msg = new Uint8Array(prefix.length + challenge.length);
    msg.set(prefix);
    msg.set(challenge, prefix.length);
    return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, this.privateKey, msg));
  }
}
