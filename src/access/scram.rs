//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL does it: the server keeps only a salted
//! verifier (StoredKey and ServerKey, never the password nor the salted password, either of which
//! would let a thief log in), and checks the client's proof against it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SecureRandom;
use ring::{digest, hmac, pbkdf2};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// PostgreSQL's default iteration count.
const ITERATIONS: u32 = 4096;

/// What the server stores for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Base64 salt.
    pub salt: String,
    /// Base64 `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: String,
    /// Base64 `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: String,
}

/// A failed exchange; the message is for the server's log, the client is told only that
/// authentication failed.
#[derive(Debug, thiserror::Error)]
#[error("SCRAM exchange: {0}")]
pub struct ScramError(pub String);

fn bad(message: &str) -> ScramError {
    ScramError(message.to_string())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system random source works");
    bytes
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

impl Verifier {
    /// A verifier for the password with a fresh random salt. The password is SASLprep-normalised
    /// first, as libpq does on its side (falling back to the raw bytes, as PostgreSQL does).
    pub fn new(password: &str) -> Verifier {
        Verifier::with_salt(password, &random_bytes::<16>(), ITERATIONS)
    }

    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let normalised = stringprep::saslprep(password).map(|p| p.into_owned()).unwrap_or_else(|_| password.to_string());
        let mut salted = [0u8; 32];
        let rounds = NonZeroU32::new(iterations).expect("iterations are positive");
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, normalised.as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, &client_key);
        Verifier {
            iterations,
            salt: STANDARD.encode(salt),
            stored_key: STANDARD.encode(stored_key.as_ref()),
            server_key: STANDARD.encode(hmac_sha256(&salted, b"Server Key")),
        }
    }

    /// A stand-in for an unknown user, so the exchange looks the same to the client and fails
    /// only at the proof (as PostgreSQL's mock authentication does): its salt is derived from the
    /// name and a secret of the server process, so it is stable for one name.
    pub fn mock(user: &str, secret: &[u8]) -> Verifier {
        let salt = hmac_sha256(secret, user.as_bytes());
        Verifier::with_salt(&STANDARD.encode(random_bytes::<16>()), &salt[..16], ITERATIONS)
    }
}

/// The server after its first message, waiting for the client's proof.
#[derive(Debug)]
pub struct Exchange {
    verifier: Verifier,
    client_first_bare: String,
    server_first: String,
    gs2_header: String,
    nonce: String,
}

impl Exchange {
    /// Reads the client-first message and answers with the server-first message. Channel binding
    /// is not offered, so a client asking for it (`p=`) is refused.
    pub fn start(verifier: Verifier, client_first: &[u8]) -> Result<(Exchange, String), ScramError> {
        let text = std::str::from_utf8(client_first).map_err(|_| bad("client-first is not UTF-8"))?;
        let mut parts = text.splitn(3, ',');
        let flag = parts.next().ok_or_else(|| bad("empty client-first"))?;
        let authzid = parts.next().ok_or_else(|| bad("client-first without a GS2 header"))?;
        let bare = parts.next().ok_or_else(|| bad("client-first without a body"))?;
        if flag.starts_with("p=") {
            return Err(bad("channel binding was requested but is not offered"));
        }
        if flag != "n" && flag != "y" {
            return Err(bad("bad GS2 flag"));
        }
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("client-first without a nonce"))?;
        let nonce = format!("{client_nonce}{}", STANDARD.encode(random_bytes::<18>()));
        let server_first = format!("r={nonce},s={},i={}", verifier.salt, verifier.iterations);
        let exchange = Exchange {
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            verifier,
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final message's proof; on success returns the server-final message
    /// (the server's signature, which proves to the client that the server knows the verifier).
    pub fn finish(&self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| bad("client-final is not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| bad("client-final without a proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for attribute in without_proof.split(',') {
            if let Some(v) = attribute.strip_prefix("c=") {
                binding = Some(v);
            } else if let Some(v) = attribute.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if binding != Some(STANDARD.encode(&self.gs2_header).as_str()) {
            return Err(bad("channel binding does not match the client-first message"));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(bad("nonce does not match"));
        }
        let proof = STANDARD.decode(proof).map_err(|_| bad("proof is not base64"))?;
        let stored_key = STANDARD.decode(&self.verifier.stored_key).map_err(|_| bad("stored key is not base64"))?;
        let server_key = STANDARD.decode(&self.verifier.server_key).map_err(|_| bad("server key is not base64"))?;
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(bad("proof has the wrong length"));
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let computed = digest::digest(&digest::SHA256, &client_key);
        // Compared in constant time: every byte is looked at whatever the first difference.
        let difference = computed.as_ref().iter().zip(&stored_key).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if computed.as_ref().len() != stored_key.len() || difference != 0 {
            return Err(bad("wrong password"));
        }
        Ok(format!("v={}", STANDARD.encode(hmac_sha256(&server_key, auth_message.as_bytes()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side of RFC 5802, enough to test the server against.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let attrs: Vec<&str> = server_first.split(',').collect();
        let nonce = attrs[0].strip_prefix("r=").unwrap();
        let salt = STANDARD.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
        let iterations: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
        let mut salted = [0u8; 32];
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, NonZeroU32::new(iterations).unwrap(), &salt, password.as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, &client_key);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode("n,,"));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        format!("{without_proof},p={}", STANDARD.encode(proof))
    }

    #[test]
    fn right_password_passes_and_wrong_one_fails() {
        let verifier = Verifier::new("s3cret pass");
        assert!(!serde_json::to_string(&verifier).unwrap().contains("s3cret"));
        for (password, ok) in [("s3cret pass", true), ("s3cret pasS", false)] {
            let (exchange, server_first) = Exchange::start(verifier.clone(), b"n,,n=,r=abcdef").unwrap();
            let result = exchange.finish(client_final(password, "n=,r=abcdef", &server_first).as_bytes());
            assert_eq!(result.is_ok(), ok, "{password}");
        }
    }

    #[test]
    fn replayed_or_bound_exchanges_are_refused() {
        let verifier = Verifier::new("pw");
        assert!(Exchange::start(verifier.clone(), b"p=tls-server-end-point,,n=,r=x").is_err());
        let (exchange, _) = Exchange::start(verifier.clone(), b"n,,n=,r=abc").unwrap();
        // A proof made for another exchange (another server nonce) does not pass.
        let (_, other_first) = Exchange::start(verifier, b"n,,n=,r=abc").unwrap();
        assert!(exchange.finish(client_final("pw", "n=,r=abc", &other_first).as_bytes()).is_err());
    }

    #[test]
    fn mock_verifier_is_stable_per_name_and_never_passes() {
        let secret = b"server secret";
        assert_eq!(Verifier::mock("nobody", secret).salt, Verifier::mock("nobody", secret).salt);
        assert_ne!(Verifier::mock("nobody", secret).salt, Verifier::mock("other", secret).salt);
    }
}
