//! PKCE (RFC 7636) and `state`: 32 bytes from the OS CSPRNG each, base64url
//! without padding (43 characters). S256 only; `plain` is never used.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::secret::PkceVerifier;

fn random_43() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A new verifier (43 unreserved characters, 256 bits).
pub fn new_verifier() -> PkceVerifier {
    PkceVerifier::new(random_43())
}

/// The S256 challenge: base64url(SHA-256(verifier)), no padding.
pub fn challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// A new `state` (256 bits).
pub fn new_state() -> String {
    random_43()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_are_43_unreserved_chars_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let v = new_verifier();
            let s = v.expose();
            assert_eq!(s.len(), 43);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert!(seen.insert(s.to_owned()), "duplicate verifier");
        }
    }
}
