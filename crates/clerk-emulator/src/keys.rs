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
    cred_enc: EncodingKey,
    cred_dec: DecodingKey,
}

impl Keys {
    pub fn new(kid: &str, material: &KeyMaterial) -> Result<Self, KeyError> {
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&material.rsa_private_pem)
            .map_err(|_| KeyError::InvalidRsa)?;
        let encoding = EncodingKey::from_rsa_pem(material.rsa_private_pem.as_bytes())
            .map_err(|_| KeyError::InvalidRsa)?;
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let jwk = json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256", "n": n, "e": e});
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
            cred_enc: EncodingKey::from_secret(&secret),
            cred_dec: DecodingKey::from_secret(&secret),
        })
    }

    /// The JWKS document (`/.well-known/jwks.json`, BAPI `/v1/jwks`).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Signs session or template claims with RS256 and `kid` = instance id.
    pub fn sign(&self, claims: &Value) -> Option<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).ok()
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
