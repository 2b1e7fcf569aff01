//! Signing keys: the instance's RSA key for session tokens (RS256, published
//! in the JWKS) and an HMAC secret for the opaque client credential.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Key material an instance keeps across restarts.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyMaterial {
    /// PKCS#1 PEM of the RSA private key.
    pub rsa_private_pem: String,
    /// base64url of the 32-byte HMAC secret for client credentials.
    pub credential_secret: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}

/// Why key material could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA key generation failed.
    #[error("cannot generate an RSA key: {0}")]
    Generate(String),
    /// The persisted signing key does not parse.
    #[error("stored signing key is not a valid RSA private key")]
    InvalidRsa,
    /// The persisted credential secret does not decode.
    #[error("stored credential secret is not valid base64url")]
    InvalidSecret,
}

impl KeyMaterial {
    /// Fresh keys from the OS CSPRNG (RSA 2048).
    pub fn generate() -> Result<Self, KeyError> {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Ok(Self {
            rsa_private_pem: pem.to_string(),
            credential_secret: URL_SAFE_NO_PAD.encode(secret),
        })
    }
}

/// Ready-to-use keys derived from [`KeyMaterial`].
pub struct Keys {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
    /// Signing keys added by [`Keys::rotate`] (a test's JWKS rotation;
    /// in memory only), newest last: the newest signs, all are published.
    rotated: std::sync::Mutex<Vec<(String, EncodingKey, Value)>>,
    cred_enc: EncodingKey,
    cred_dec: DecodingKey,
}

/// The JWK of an RSA key's public half.
fn public_jwk(kid: &str, private: &rsa::RsaPrivateKey) -> Value {
    let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
    json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256", "n": n, "e": e})
}

impl Keys {
    pub fn new(kid: &str, material: &KeyMaterial) -> Result<Self, KeyError> {
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&material.rsa_private_pem)
            .map_err(|_| KeyError::InvalidRsa)?;
        let encoding = EncodingKey::from_rsa_pem(material.rsa_private_pem.as_bytes())
            .map_err(|_| KeyError::InvalidRsa)?;
        let jwk = public_jwk(kid, &private);
        let secret = URL_SAFE_NO_PAD
            .decode(&material.credential_secret)
            .map_err(|_| KeyError::InvalidSecret)?;
        if secret.len() < 32 {
            return Err(KeyError::InvalidSecret);
        }
        Ok(Self {
            kid: kid.to_owned(),
            encoding,
            jwk,
            rotated: std::sync::Mutex::new(Vec::new()),
            cred_enc: EncodingKey::from_secret(&secret),
            cred_dec: DecodingKey::from_secret(&secret),
        })
    }

    fn rotated(&self) -> std::sync::MutexGuard<'_, Vec<(String, EncodingKey, Value)>> {
        self.rotated.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The JWKS document (`/.well-known/jwks.json`, BAPI `/v1/jwks`): every
    /// signing key, the newest last.
    pub fn jwks(&self) -> Value {
        let mut keys = vec![self.jwk.clone()];
        keys.extend(self.rotated().iter().map(|(_, _, jwk)| jwk.clone()));
        json!({ "keys": keys })
    }

    /// Signs session or template claims with RS256 and the newest key's
    /// `kid` (the instance id, until a rotation).
    pub fn sign(&self, claims: &Value) -> Option<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        let rotated = self.rotated();
        let (kid, key) = rotated
            .last()
            .map_or((&self.kid, &self.encoding), |(kid, key, _)| (kid, key));
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).ok()
    }

    /// A new signing key (RSA 2048, `kid` = the instance id and a number):
    /// tokens are signed with it from now on, and the JWKS publishes it
    /// beside the earlier ones, as a key rotation at Clerk does. In memory
    /// only (a test control).
    #[cfg(any(test, feature = "test-controls"))]
    pub fn rotate(&self) -> Result<String, KeyError> {
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = private
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let encoding =
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyError::InvalidRsa)?;
        let mut rotated = self.rotated();
        let kid = format!("{}_{}", self.kid, rotated.len() + 2);
        let jwk = public_jwk(&kid, &private);
        rotated.push((kid.clone(), encoding, jwk));
        Ok(kid)
    }

    /// An opaque client credential: HS256 over the client id and its current
    /// rotating token. Clients must treat it as opaque (as with real Clerk).
    pub fn client_credential(&self, client_id: &str, rotating_token: &str, iat: i64) -> String {
        let claims = json!({"id": client_id, "rotating_token": rotating_token, "iat": iat});
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.cred_enc)
            .unwrap_or_default()
    }

    /// Reads a client credential back: `(client_id, rotating_token)`.
    pub fn parse_client_credential(&self, credential: &str) -> Option<(String, String)> {
        if credential.len() > 4096 {
            return None;
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_aud = false;
        #[derive(Deserialize)]
        struct C {
            id: String,
            rotating_token: String,
        }
        let data = jsonwebtoken::decode::<C>(credential, &self.cred_dec, &v).ok()?;
        Some((data.claims.id, data.claims.rotating_token))
    }

    /// A sign-in token (ticket): HS256, opaque to clients.
    pub fn sign_in_token(&self, token_id: &str, instance_id: &str, exp: i64) -> String {
        let claims =
            json!({"sid": token_id, "iid": instance_id, "st": "sign_in_token", "exp": exp});
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.cred_enc)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_signs_with_the_new_key_and_publishes_both() {
        let keys = Keys::new("ins_test", &KeyMaterial::generate().expect("keys")).expect("keys");
        let kid_of = |jwt: &str| jsonwebtoken::decode_header(jwt).expect("a header").kid;
        let claims = json!({"sub": "user_1"});
        assert_eq!(
            kid_of(&keys.sign(&claims).expect("signed")).as_deref(),
            Some("ins_test")
        );
        let kid = keys.rotate().expect("rotated");
        assert_eq!(kid, "ins_test_2");
        let jwt = keys.sign(&claims).expect("signed");
        assert_eq!(kid_of(&jwt).as_deref(), Some("ins_test_2"));
        let jwks = keys.jwks();
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert_eq!(published, ["ins_test", "ins_test_2"]);
        // The new key verifies it, the old one does not.
        let new_jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(keys.jwks()["keys"][1].clone()).expect("a JWK");
        let old_jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(keys.jwks()["keys"][0].clone()).expect("a JWK");
        let mut v = Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        let check = |jwk: &jsonwebtoken::jwk::Jwk| {
            jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).expect("a key"), &v)
                .is_ok()
        };
        assert!(check(&new_jwk));
        assert!(!check(&old_jwk));
    }
}
