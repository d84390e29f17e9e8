//! The cryptography payment providers need: RSA-SHA256 (PKCS#1 v1.5) signatures, AES-256-GCM,
//! PEM, and reading an X.509 certificate's serial and public key. All through aws-lc-rs, the
//! one crypto library already in the build (TLS and JWT use it too).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey};
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("no PEM block labelled {0}")]
    NoPem(&'static str),
    #[error("the key is not a usable RSA key")]
    BadKey,
    #[error("the certificate cannot be read")]
    BadCertificate,
    #[error("decryption failed: wrong key, nonce, associated data or tampered ciphertext")]
    Decrypt,
}

/// The DER contents of every PEM block with this label (`PRIVATE KEY`, `CERTIFICATE`, ...).
pub fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body = &rest[start + begin.len()..];
        let Some(stop) = body.find(&end) else { break };
        let b64: String = body[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = STANDARD.decode(b64) {
            blocks.push(der);
        }
        rest = &body[stop + end.len()..];
    }
    blocks
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A private key that signs: the merchant's API key, or a sandbox's.
pub struct SigningKey(KeyPair);

impl SigningKey {
    /// PKCS#8 (`BEGIN PRIVATE KEY`, as WeChat Pay issues apiclient_key.pem) or PKCS#1.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        // Settings often arrive with literal "\n" escapes from a single-line secret.
        let pem = pem.replace("\\n", "\n");
        if let Some(der) = pem_blocks(&pem, "PRIVATE KEY").first() {
            return KeyPair::from_pkcs8(der)
                .map(Self)
                .map_err(|_| CryptoError::BadKey);
        }
        if let Some(der) = pem_blocks(&pem, "RSA PRIVATE KEY").first() {
            return KeyPair::from_der(der)
                .map(Self)
                .map_err(|_| CryptoError::BadKey);
        }
        Err(CryptoError::NoPem("PRIVATE KEY"))
    }

    pub fn generate() -> Self {
        Self(KeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation"))
    }

    /// Base64 RSA-SHA256 (PKCS#1 v1.5) signature of `message`.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("RSA signing with a valid key");
        STANDARD.encode(signature)
    }

    pub fn private_pem(&self) -> String {
        pem_encode(
            "PRIVATE KEY",
            self.0.as_der().expect("PKCS#8 encoding").as_ref(),
        )
    }

    pub fn public_pem(&self) -> String {
        pem_encode(
            "PUBLIC KEY",
            self.0
                .public_key()
                .as_der()
                .expect("SPKI encoding")
                .as_ref(),
        )
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            pkcs1: self.0.public_key().as_ref().to_vec(),
        }
    }
}

/// A public key that checks signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    /// RFC 8017 `RSAPublicKey` DER, the form the verifier takes.
    pkcs1: Vec<u8>,
}

impl VerifyingKey {
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PublicKey::from_der(der).map_err(|_| CryptoError::BadKey)?;
        Ok(Self {
            pkcs1: key.as_ref().to_vec(),
        })
    }

    /// `BEGIN PUBLIC KEY` (SPKI, as WeChat Pay's public key file) or `BEGIN RSA PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let pem = pem.replace("\\n", "\n");
        let der = pem_blocks(&pem, "PUBLIC KEY")
            .into_iter()
            .next()
            .or_else(|| pem_blocks(&pem, "RSA PUBLIC KEY").into_iter().next())
            .ok_or(CryptoError::NoPem("PUBLIC KEY"))?;
        Self::from_der(&der)
    }

    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(message, &signature)
            .is_ok()
    }
}

/// Uppercase hex serial and public key of a DER X.509 certificate (a WeChat Pay platform
/// certificate is named by that serial in `Wechatpay-Serial`).
pub fn certificate_serial_and_key(der: &[u8]) -> Result<(String, VerifyingKey), CryptoError> {
    let bad = || CryptoError::BadCertificate;
    let (certificate, _) = der::element(der, der::SEQUENCE).ok_or_else(bad)?;
    let (tbs, _) = der::element(certificate, der::SEQUENCE).ok_or_else(bad)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = der::skip(rest).ok_or_else(bad)?;
    }
    let (serial, after_serial) = der::element(rest, der::INTEGER).ok_or_else(bad)?;
    // signature algorithm, issuer, validity, subject
    let mut rest = after_serial;
    for _ in 0..4 {
        rest = der::skip(rest).ok_or_else(bad)?;
    }
    let spki = der::whole_element(rest).ok_or_else(bad)?;
    let serial = serial
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    Ok((
        if serial.is_empty() {
            "0".into()
        } else {
            serial
        },
        VerifyingKey::from_der(spki)?,
    ))
}

/// Just enough DER to walk a certificate.
mod der {
    pub const SEQUENCE: u8 = 0x30;
    pub const INTEGER: u8 = 0x02;

    /// (header length, content length) of the element at the start of `input`.
    fn header(input: &[u8]) -> Option<(usize, usize)> {
        let first = *input.get(1)?;
        if first < 0x80 {
            return Some((2, usize::from(first)));
        }
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let len = input
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        Some((2 + n, len))
    }

    /// The content of the element with `tag` at the start of `input`, and what follows it.
    pub fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if *input.first()? != tag {
            return None;
        }
        let (h, len) = header(input)?;
        Some((input.get(h..h + len)?, input.get(h + len..)?))
    }

    pub fn whole_element(input: &[u8]) -> Option<&[u8]> {
        let (h, len) = header(input)?;
        input.get(..h + len)
    }

    pub fn skip(input: &[u8]) -> Option<&[u8]> {
        let (h, len) = header(input)?;
        input.get(h + len..)
    }
}

/// AES-256-GCM open: `ciphertext` ends with the 16-byte tag.
pub fn aes_256_gcm_decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Decrypt)?);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(plain.to_vec())
}

/// AES-256-GCM seal, tag appended (what WeChat Pay does to a notification's resource).
pub fn aes_256_gcm_encrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Decrypt)?);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static KEY: LazyLock<SigningKey> = LazyLock::new(SigningKey::generate);

    #[test]
    fn a_signature_verifies_with_the_public_key_and_nothing_else() {
        let signature = KEY.sign_base64(b"POST\n/v3/pay\n1\nn\n{}\n");
        let public = VerifyingKey::from_pem(&KEY.public_pem()).unwrap();
        assert!(public.verify_base64(b"POST\n/v3/pay\n1\nn\n{}\n", &signature));
        assert!(!public.verify_base64(b"POST\n/v3/pay\n1\nn\n{ }\n", &signature));
        assert!(!public.verify_base64(b"x", "not base64!"));
        let other = SigningKey::generate().verifying_key();
        assert!(!other.verify_base64(b"POST\n/v3/pay\n1\nn\n{}\n", &signature));
    }

    #[test]
    fn keys_survive_pem_round_trips_and_escaped_newlines() {
        let reloaded = SigningKey::from_pem(&KEY.private_pem().replace('\n', "\\n")).unwrap();
        let signature = reloaded.sign_base64(b"m");
        assert!(KEY.verifying_key().verify_base64(b"m", &signature));
        assert_eq!(
            SigningKey::from_pem("nonsense").err(),
            Some(CryptoError::NoPem("PRIVATE KEY"))
        );
    }

    #[test]
    fn aes_gcm_round_trips_and_detects_tampering() {
        let key = [7u8; 32];
        let sealed =
            aes_256_gcm_encrypt(&key, b"0123456789ab", b"transaction", b"{\"a\":1}").unwrap();
        assert_eq!(
            aes_256_gcm_decrypt(&key, b"0123456789ab", b"transaction", &sealed).unwrap(),
            b"{\"a\":1}"
        );
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(
            aes_256_gcm_decrypt(&key, b"0123456789ab", b"transaction", &tampered),
            Err(CryptoError::Decrypt)
        );
        assert!(aes_256_gcm_decrypt(&key, b"0123456789ab", b"other", &sealed).is_err());
        assert!(aes_256_gcm_decrypt(&[8u8; 32], b"0123456789ab", b"transaction", &sealed).is_err());
    }

    #[test]
    fn several_pem_blocks_are_all_found() {
        let two = format!(
            "{}{}",
            pem_encode("CERTIFICATE", b"one"),
            pem_encode("CERTIFICATE", b"two")
        );
        assert_eq!(
            pem_blocks(&two, "CERTIFICATE"),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(certificate_serial_and_key(b"\x30\x03\x02\x01\x05").is_err());
        assert!(certificate_serial_and_key(b"").is_err());
    }
}
