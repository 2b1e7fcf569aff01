//! Identifier and random-string generation.
//!
//! Clerk ids are a type prefix plus 27 base62 characters
//! (`user_2abcd…`). Secrets (nonces, rotating tokens, ticket ids) use the OS
//! CSPRNG through `rand::rngs::OsRng`.

use rand::{Rng, RngCore, rngs::OsRng};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new Clerk-style id: `prefix_` followed by 27 base62 characters.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(27))
}

/// `len` random base62 characters from the OS CSPRNG.
pub fn random_base62(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
