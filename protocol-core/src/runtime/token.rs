//! Signed identity: verify a JWT from the upgrade request and make its `sub` the connection's
//! identity, valid until its `exp` (feature `jwt`).
//!
//! The token is read from, in this order: the `token` query parameter (`/ws?token=JWT`), an
//! `Authorization: Bearer JWT` header, or the WebSocket subprotocol list
//! `Sec-WebSocket-Protocol: bearer, JWT` (what a browser can set: `new WebSocket(url, ["bearer",
//! jwt])`; the server then answers with the `bearer` subprotocol).
//!
//! Every refusal is HTTP 401 with a reason that says which check failed: no token, not a JWT,
//! `alg: none`, another algorithm than the key's, a signature that does not match the key, a
//! missing `sub` or `exp`, expired, not yet valid (`nbf`), wrong audience or issuer.
//!
//! ```
//! use std::time::Duration;
//! use protocol_core::TokenAuth;
//!
//! let auth = TokenAuth::hs256(b"a secret of the server")?;
//! let token = protocol_core::token::hs256_token(b"a secret of the server", "alice", Duration::from_secs(3600))?;
//! assert_eq!(auth.verify(&token).unwrap().name(), "alice");
//!
//! let forged = protocol_core::token::hs256_token(b"another secret, forged", "alice", Duration::from_secs(3600))?;
//! let refused = auth.verify(&forged).unwrap_err();
//! assert_eq!(refused.status, 401);
//! assert_eq!(refused.reason, "token refused: its signature does not match the server's key");
//! # Ok::<(), protocol_core::token::KeyError>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tokio_tungstenite::tungstenite::handshake::server::Request;

use crate::runtime::admit::Identity;
use crate::runtime::admit::Rejection;

/// The subprotocol a browser names before its token: `Sec-WebSocket-Protocol: bearer, JWT`.
pub const BEARER_PROTOCOL: &str = crate::runtime::admit::BEARER;

/// Verifies signed tokens (JWT): HS256 with a shared secret, RS256 / ES256 / EdDSA with a
/// public key. Switch it on with
/// [`ServerBuilder::token_auth`](crate::ServerBuilder::token_auth).
#[derive(Clone)]
pub struct TokenAuth {
    key: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
}

impl std::fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuth")
            .field("algorithm", &self.algorithm)
            .field("leeway_secs", &self.validation.leeway)
            .field("audience", &self.validation.aud)
            .field("issuer", &self.validation.iss)
            .finish_non_exhaustive()
    }
}

/// A key that cannot be used for verifying tokens.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the {algorithm:?} key: {reason}")]
pub struct KeyError {
    algorithm: Algorithm,
    reason: String,
}

impl TokenAuth {
    fn with_key(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = 30;
        TokenAuth {
            key,
            validation,
            algorithm,
        }
    }

    /// HS256 with a secret shared with whoever issues the tokens (at least 16 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 16 {
            return Err(KeyError {
                algorithm: Algorithm::HS256,
                reason: format!(
                    "the secret is {} bytes; use at least 16 (better 32 random bytes)",
                    secret.len()
                ),
            });
        }
        DecodingKey::from_secret(secret)
            .map(|k| Self::with_key(k, Algorithm::HS256))
            .map_err(|e| KeyError {
                algorithm: Algorithm::HS256,
                reason: e.to_string(),
            })
    }

    /// RS256 with the issuer's RSA public key (PEM).
    pub fn rs256_pem(public_key: &[u8]) -> Result<Self, KeyError> {
        Self::from_pem(public_key, Algorithm::RS256, DecodingKey::from_rsa_pem)
    }

    /// ES256 with the issuer's P-256 public key (PEM).
    pub fn es256_pem(public_key: &[u8]) -> Result<Self, KeyError> {
        Self::from_pem(public_key, Algorithm::ES256, DecodingKey::from_ec_pem)
    }

    /// EdDSA with the issuer's Ed25519 public key (PEM).
    pub fn eddsa_pem(public_key: &[u8]) -> Result<Self, KeyError> {
        Self::from_pem(public_key, Algorithm::EdDSA, DecodingKey::from_ed_pem)
    }

    fn from_pem(
        pem: &[u8],
        algorithm: Algorithm,
        parse: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>,
    ) -> Result<Self, KeyError> {
        parse(pem)
            .map(|k| Self::with_key(k, algorithm))
            .map_err(|e| KeyError {
                algorithm,
                reason: e.to_string(),
            })
    }

    /// Clock skew allowed on `exp` and `nbf` when a token is checked. Default 30 s. The
    /// connection itself is closed at `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// Require this audience (`aud`).
    pub fn audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self.validation.validate_aud = true;
        self
    }

    /// Require this issuer (`iss`).
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self
    }

    /// Verify a token: its identity (`sub`) valid until `exp`, or 401 saying why not.
    pub fn verify(&self, token: &str) -> Result<Identity, Rejection> {
        let refuse = |why: String| Rejection::new(401, format!("token refused: {why}"));
        // `alg: none` and unknown algorithms do not parse as a header at all: say so plainly.
        match header_alg(token) {
            None => return Err(refuse("it is not a JWT (header.payload.signature)".into())),
            Some(alg) if alg.eq_ignore_ascii_case("none") => {
                return Err(refuse(format!(
                    "alg \"none\" (unsigned) is not accepted; expected {:?}",
                    self.algorithm
                )));
            }
            Some(alg) if alg != format!("{:?}", self.algorithm) => {
                return Err(refuse(format!(
                    "signed with {alg}, expected {:?}",
                    self.algorithm
                )));
            }
            Some(_) => {}
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                refuse(match e.kind() {
                    ErrorKind::InvalidSignature => {
                        "its signature does not match the server's key".to_owned()
                    }
                    ErrorKind::ExpiredSignature => "it has expired (exp)".to_owned(),
                    ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
                    ErrorKind::MissingRequiredClaim(c) if c == "sub" => {
                        "it has no sub claim (the identity)".to_owned()
                    }
                    ErrorKind::MissingRequiredClaim(c) => format!("it has no {c} claim"),
                    ErrorKind::InvalidAudience => "it is for another audience (aud)".to_owned(),
                    ErrorKind::InvalidIssuer => "it is from another issuer (iss)".to_owned(),
                    ErrorKind::InvalidAlgorithm => {
                        format!(
                            "signed with another algorithm, expected {:?}",
                            self.algorithm
                        )
                    }
                    _ => format!("it is malformed: {e}"),
                })
            })?;
        let sub = data
            .claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse("it has no sub claim (the identity)".into()))?;
        let exp = data
            .claims
            .exp
            .ok_or_else(|| refuse("it has no exp claim".into()))?;
        Ok(Identity::new(sub).expires_at(UNIX_EPOCH + Duration::from_secs(exp)))
    }

    /// Find the token in an upgrade request (query `token`, `Authorization: Bearer`, or the
    /// `bearer` subprotocol) and verify it.
    pub fn authenticate(&self, req: &Request) -> Result<Identity, Rejection> {
        let token = token_of(req).ok_or_else(|| {
            Rejection::new(
                401,
                "no token: connect with ?token=JWT, an Authorization: Bearer JWT header, or \
                 the subprotocols bearer, JWT",
            )
        })?;
        self.verify(&token)
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
}

/// The `alg` of a token's header, without trusting anything else in it.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let (header, rest) = token.split_once('.')?;
    rest.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(value.get("alg")?.as_str()?.to_owned())
}

/// The token an upgrade request carries, if any.
pub fn token_of(req: &Request) -> Option<String> {
    if let Some(t) = crate::query::param(req.uri().query().unwrap_or_default(), "token") {
        return Some(t.into_owned());
    }
    let headers = req.headers();
    if let Some(t) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(t.trim().to_owned());
    }
    let mut protocols = crate::runtime::admit::offered_protocols(headers);
    protocols.find(|p| *p == BEARER_PROTOCOL)?;
    protocols.next().map(str::to_owned)
}

/// Sign an HS256 token for `sub`, valid for `ttl` from now: for development, tests and
/// command-line tools (`chat-server token NAME`).
pub fn hs256_token(secret: &[u8], sub: &str, ttl: Duration) -> Result<String, KeyError> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        sub: &'a str,
        exp: u64,
        iat: u64,
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Out {
        sub,
        exp: now + ttl.as_secs(),
        iat: now,
    };
    sign_hs256(secret, &claims)
}

/// Sign any claims as an HS256 token (tests of refusals: expired, no `sub`, foreign `aud`).
pub fn sign_hs256(secret: &[u8], claims: &impl serde::Serialize) -> Result<String, KeyError> {
    let key_error = |e: jsonwebtoken::errors::Error| KeyError {
        algorithm: Algorithm::HS256,
        reason: e.to_string(),
    };
    let key = EncodingKey::from_secret(secret).map_err(key_error)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).map_err(key_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn the_token_is_found_where_clients_put_it() {
        assert_eq!(
            token_of(&request("/ws?a=1&token=abc.def.ghi", &[])).as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            token_of(&request("/ws", &[("authorization", "Bearer abc.def.ghi")])).as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            token_of(&request(
                "/ws",
                &[("sec-websocket-protocol", "bearer, abc.def.ghi")]
            ))
            .as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(token_of(&request("/ws?user=alice", &[])), None);
    }

    #[test]
    fn each_refusal_says_which_check_failed() {
        let secret = b"sixteen byte key";
        let auth = TokenAuth::hs256(secret).unwrap();
        let reason = |t: &str| auth.verify(t).unwrap_err().reason;
        assert_eq!(
            reason("nope"),
            "token refused: it is not a JWT (header.payload.signature)"
        );
        // {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":9999999999} . (no signature)
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert_eq!(
            reason(none),
            "token refused: alg \"none\" (unsigned) is not accepted; expected HS256"
        );
        let expired = {
            let claims = serde_json::json!({"sub": "alice", "exp": 1_000_000_000u64});
            jsonwebtoken::encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(reason(&expired), "token refused: it has expired (exp)");
        let no_sub = {
            let claims = serde_json::json!({"exp": 9_999_999_999u64});
            jsonwebtoken::encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            reason(&no_sub),
            "token refused: it has no sub claim (the identity)"
        );
        let no_exp = {
            let claims = serde_json::json!({"sub": "alice"});
            jsonwebtoken::encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(reason(&no_exp), "token refused: it has no exp claim");
        let early = {
            let claims = serde_json::json!({"sub": "alice", "exp": 9_999_999_999u64, "nbf": 9_999_999_000u64});
            jsonwebtoken::encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(reason(&early), "token refused: it is not valid yet (nbf)");
        let hs384 = {
            let claims = serde_json::json!({"sub": "alice", "exp": 9_999_999_999u64});
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS384),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            reason(&hs384),
            "token refused: signed with HS384, expected HS256"
        );
        let aud = TokenAuth::hs256(secret).unwrap().audience("chat");
        let other_aud = {
            let claims =
                serde_json::json!({"sub": "alice", "exp": 9_999_999_999u64, "aud": "billing"});
            jsonwebtoken::encode(
                &Header::default(),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            aud.verify(&other_aud).unwrap_err().reason,
            "token refused: it is for another audience (aud)"
        );
        let good = hs256_token(secret, "alice", Duration::from_secs(60)).unwrap();
        let id = auth.verify(&good).unwrap();
        assert_eq!(id.name(), "alice");
        assert!(id.expires().unwrap() > SystemTime::now());
    }

    /// A key pair made at test time with the `openssl` command (no key files in the repo).
    fn key_pair(dir: &std::path::Path, algorithm: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let private = dir.join(format!("{}.key", algorithm.join("-").replace(':', "_")));
        let public = private.with_extension("pub");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut args = vec!["genpkey"];
        args.extend_from_slice(algorithm);
        args.extend_from_slice(&["-out", private.to_str().unwrap()]);
        run(&args);
        run(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        (
            std::fs::read(&private).unwrap(),
            std::fs::read(&public).unwrap(),
        )
    }

    #[test]
    fn public_key_algorithms_verify_and_refuse_confusion() {
        let dir = std::env::temp_dir().join(format!("protocol-core-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let claims = serde_json::json!({"sub": "alice", "exp": 9_999_999_999u64});
        type Case = (
            &'static [&'static str],
            Algorithm,
            fn(&[u8]) -> Result<TokenAuth, KeyError>,
            fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>,
        );
        let cases: [Case; 3] = [
            (
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                Algorithm::RS256,
                TokenAuth::rs256_pem,
                EncodingKey::from_rsa_pem,
            ),
            (
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                Algorithm::ES256,
                TokenAuth::es256_pem,
                EncodingKey::from_ec_pem,
            ),
            (
                &["-algorithm", "ED25519"],
                Algorithm::EdDSA,
                TokenAuth::eddsa_pem,
                EncodingKey::from_ed_pem,
            ),
        ];
        for (keygen, alg, auth_of, signer) in cases {
            let (private, public) = key_pair(&dir, keygen);
            let auth = auth_of(&public).unwrap();
            let sign = |key: &[u8]| {
                jsonwebtoken::encode(&Header::new(alg), &claims, &signer(key).unwrap()).unwrap()
            };
            assert_eq!(
                auth.verify(&sign(&private)).unwrap().name(),
                "alice",
                "{alg:?}"
            );
            // Another key pair of the same kind: the signature does not match.
            let (other, _) = key_pair(&dir, keygen);
            assert_eq!(
                auth.verify(&sign(&other)).unwrap_err().reason,
                "token refused: its signature does not match the server's key",
                "{alg:?}"
            );
            // Algorithm confusion: an HS256 token "signed" with the public key as secret.
            let confused = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(&public).unwrap(),
            )
            .unwrap();
            assert_eq!(
                auth.verify(&confused).unwrap_err().reason,
                format!("token refused: signed with HS256, expected {alg:?}")
            );
        }
        assert!(TokenAuth::rs256_pem(b"not a key").is_err());
        assert!(TokenAuth::hs256(b"short").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
