//! SASL client mechanisms: SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 5802, RFC 7677) and PLAIN (RFC 4616).
//!
//! Pure message logic, no I/O: the stream negotiation feeds in the server's messages and sends out
//! what these return. Hashes, HMAC, PBKDF2 and the nonce come from OpenSSL, which native-tls
//! already links.

use crate::error::{Error, Result};
use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// A mechanism this client can use, in order of preference (strongest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    ScramSha256,
    ScramSha1,
    Plain,
}

impl Mechanism {
    /// All mechanisms, most preferred first.
    pub const PREFERENCE: [Mechanism; 3] = [Mechanism::ScramSha256, Mechanism::ScramSha1, Mechanism::Plain];

    /// The IANA name, as in `<mechanism/>`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
        }
    }

    /// Parses an IANA name.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::PREFERENCE.into_iter().find(|m| m.name() == name)
    }

    fn digest(self) -> MessageDigest {
        match self {
            Mechanism::ScramSha1 => MessageDigest::sha1(),
            _ => MessageDigest::sha256(),
        }
    }
}

/// Picks the most preferred mechanism that the server offers and the caller allows.
/// PLAIN is only considered when `plain_allowed` (the stream is encrypted, or the caller opted
/// into plaintext).
pub fn choose(offered: &[String], allowed: &[Mechanism], plain_allowed: bool) -> Option<Mechanism> {
    Mechanism::PREFERENCE.into_iter().find(|m| {
        allowed.contains(m) && offered.iter().any(|o| o == m.name()) && (*m != Mechanism::Plain || plain_allowed)
    })
}

fn auth_err(condition: &str, text: impl Into<String>) -> Error {
    Error::Auth { condition: condition.to_string(), text: Some(text.into()) }
}

fn crypto_err(e: openssl::error::ErrorStack) -> Error {
    auth_err("temporary-auth-failure", format!("crypto failure: {e}"))
}

/// The initial response for PLAIN: `\0authcid\0password`.
pub fn plain_initial(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(username.len() + password.len() + 2);
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// `=` and `,` escaped as SCRAM requires in the username (RFC 5802 §5.1).
fn scram_name(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// A SCRAM exchange in progress.
pub struct Scram {
    mechanism: Mechanism,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    expected_server_signature: Option<Vec<u8>>,
}

impl Scram {
    /// Starts an exchange with a fresh random nonce.
    pub fn new(mechanism: Mechanism, username: &str, password: &str) -> Result<Scram> {
        let mut raw = [0u8; 24];
        openssl::rand::rand_bytes(&mut raw).map_err(crypto_err)?;
        Ok(Scram::with_nonce(mechanism, username, password, &openssl::base64::encode_block(&raw)))
    }

    /// Starts an exchange with a given nonce (tests use the RFC's vectors).
    pub fn with_nonce(mechanism: Mechanism, username: &str, password: &str, nonce: &str) -> Scram {
        Scram {
            mechanism,
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare: format!("n={},r={}", scram_name(username), nonce),
            expected_server_signature: None,
        }
    }

    /// The client-first-message (no channel binding: `n,,`).
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first-message with the client-final-message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| auth_err("malformed-request", "server-first-message is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in server_first.split(',') {
            if let Some(v) = part.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = part.strip_prefix("s=") {
                salt = Some(v);
            } else if let Some(v) = part.strip_prefix("i=") {
                iterations = Some(v);
            } else if part.starts_with("m=") {
                return Err(auth_err("malformed-request", "server requires an unsupported SCRAM extension"));
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(auth_err("malformed-request", format!("malformed server-first-message {server_first:?}")));
        };
        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(auth_err("malformed-request", "server nonce does not extend the client nonce"));
        }
        let salt = openssl::base64::decode_block(salt).map_err(|_| auth_err("malformed-request", "salt is not base64"))?;
        let iterations: usize = iterations.parse().map_err(|_| auth_err("malformed-request", "iteration count is not a number"))?;
        // Bound the work a hostile server can make us do; RFC 7677 recommends 4096.
        if !(1..=1_000_000).contains(&iterations) {
            return Err(auth_err("malformed-request", format!("unreasonable iteration count {iterations}")));
        }
        let md = self.mechanism.digest();
        let mut salted = vec![0u8; md.size()];
        openssl::pkcs5::pbkdf2_hmac(self.password.as_bytes(), &salt, iterations, md, &mut salted).map_err(crypto_err)?;
        let client_key = hmac(md, &salted, b"Client Key")?;
        let stored_key = openssl::hash::hash(md, &client_key).map_err(crypto_err)?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{},{}", self.client_first_bare, server_first, without_proof);
        let client_signature = hmac(md, &stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = hmac(md, &salted, b"Server Key")?;
        self.expected_server_signature = Some(hmac(md, &server_key, auth_message.as_bytes())?);
        Ok(format!("{without_proof},p={}", openssl::base64::encode_block(&proof)).into_bytes())
    }

    /// Checks the server-final-message (sent with `<success/>`): the server must prove it knows
    /// the password too, or this is not the server we think it is.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(server_final).map_err(|_| auth_err("malformed-request", "server-final-message is not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(auth_err("not-authorized", format!("server reported SCRAM error {e}")));
        }
        let v = text
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or_else(|| auth_err("malformed-request", "server-final-message has no signature"))?;
        let got = openssl::base64::decode_block(v).map_err(|_| auth_err("malformed-request", "server signature is not base64"))?;
        let Some(expected) = &self.expected_server_signature else {
            return Err(auth_err("malformed-request", "server-final-message before server-first-message"));
        };
        if got.len() != expected.len() || !memcmp::eq(&got, expected) {
            return Err(auth_err("server-signature-mismatch", "the server's SCRAM signature is wrong: it does not know the password"));
        }
        Ok(())
    }
}

fn hmac(md: MessageDigest, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let pkey = PKey::hmac(key).map_err(crypto_err)?;
    let mut signer = Signer::new(md, &pkey).map_err(crypto_err)?;
    signer.update(data).map_err(crypto_err)?;
    signer.sign_to_vec().map_err(crypto_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_sha1_matches_rfc5802_example() {
        let mut s = Scram::with_nonce(Mechanism::ScramSha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(s.client_first(), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let fin = s.client_final(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
        assert_eq!(fin, b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        s.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap();
    }

    #[test]
    fn scram_sha256_matches_rfc7677_example() {
        let mut s = Scram::with_nonce(Mechanism::ScramSha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        let fin = s.client_final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").unwrap();
        assert_eq!(
            fin,
            &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
        );
        s.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
    }

    #[test]
    fn wrong_server_signature_is_refused() {
        let mut s = Scram::with_nonce(Mechanism::ScramSha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        s.client_final(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
        let e = s.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err();
        assert!(matches!(e, Error::Auth { ref condition, .. } if condition == "server-signature-mismatch"));
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        for bad in [
            &b"r=other,s=QSXCR+Q6sek8bf92,i=4096"[..],
            b"r=abc",
            b"r=abcX,s=!!!,i=4096",
            b"r=abcX,s=QSXCR+Q6sek8bf92,i=999999999",
            b"r=abcX,s=QSXCR+Q6sek8bf92,i=0",
            b"m=ext,r=abcX,s=QSXCR+Q6sek8bf92,i=1",
            b"\xff",
        ] {
            let mut s = Scram::with_nonce(Mechanism::ScramSha256, "u", "p", "abc");
            assert!(matches!(s.client_final(bad), Err(Error::Auth { .. })), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn choice_follows_preference_not_server_order() {
        let offered: Vec<String> = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"].iter().map(|s| s.to_string()).collect();
        assert_eq!(choose(&offered, &Mechanism::PREFERENCE, true), Some(Mechanism::ScramSha256));
        assert_eq!(choose(&offered[..2], &Mechanism::PREFERENCE, true), Some(Mechanism::ScramSha1));
        assert_eq!(choose(&offered[..1], &Mechanism::PREFERENCE, false), None, "PLAIN refused in the clear");
        assert_eq!(choose(&offered, &[Mechanism::Plain], true), Some(Mechanism::Plain));
    }

    #[test]
    fn usernames_are_escaped() {
        let s = Scram::with_nonce(Mechanism::ScramSha1, "a=b,c", "p", "n");
        assert_eq!(s.client_first(), b"n,,n=a=3Db=2Cc,r=n");
    }
}
