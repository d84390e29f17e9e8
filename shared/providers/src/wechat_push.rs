//! WeChat's message push (消息推送) in safe mode: the URL check's signature, the message
//! signature, and AES-256-CBC with WeChat's 32-byte PKCS#7 blocks. Opening a message checks its
//! signature before a byte of it is decrypted, and refuses a message addressed to another AppID.
//! `seal` is the same cipher the other way, for the sandbox that plays WeChat.

use crate::config::{ConfigError, Settings};
use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// WeChat pads to multiples of 32 bytes, not AES's 16: pad bytes run 1..=32.
const PAD_BLOCK: usize = 32;
/// The random prefix WeChat puts before the length.
const RANDOM_PREFIX: usize = 16;
/// The console's EncodingAESKey is 43 characters, 258 bits for a 256-bit key: WeChat's own
/// samples decode it without checking the 2 spare bits, so neither do we.
const AES_KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a pushed message was refused. None of them says more than which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the signature does not match")]
    Signature,
    #[error("the ciphertext is not base64 of whole AES blocks")]
    Encoding,
    #[error("the padding or length inside the message is malformed")]
    Malformed,
    #[error("the message is addressed to another AppID")]
    OtherApp,
}

/// The Token and EncodingAESKey the shop entered in WeChat's console (开发管理 -> 消息推送),
/// and the AppID every message must name.
pub struct PushKeys {
    token: SecretString,
    aes_key: SecretBox<[u8; 32]>,
    app_id: String,
}

impl std::fmt::Debug for PushKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushKeys")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// `hex(sha1(concat(sort(parts))))`: both of WeChat's push signatures.
fn sorted_sha1(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    verify_slices_are_equal(a.as_bytes(), b.to_ascii_lowercase().as_bytes()).is_ok()
}

impl PushKeys {
    /// `WECHAT_PUSH_TOKEN` (3 to 32 letters and digits, as the console allows),
    /// `WECHAT_PUSH_AES_KEY` (the 43-character EncodingAESKey) and `WECHAT_APPID`.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let token = settings.secret("WECHAT_PUSH_TOKEN")?;
        let ok = (3..=32).contains(&token.expose_secret().len())
            && token
                .expose_secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(ConfigError::new(
                "WECHAT_PUSH_TOKEN",
                "must be 3 to 32 letters or digits, as entered in WeChat's console",
            ));
        }
        let aes_key = settings.secret("WECHAT_PUSH_AES_KEY")?;
        Self::new(
            token,
            aes_key.expose_secret(),
            settings.required("WECHAT_APPID")?,
        )
    }

    /// From the console's values; the EncodingAESKey is 43 base64 characters (32 bytes).
    pub fn new(
        token: SecretString,
        encoding_aes_key: &str,
        app_id: String,
    ) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::new(
                "WECHAT_PUSH_AES_KEY",
                "must be the 43-character EncodingAESKey from WeChat's console",
            )
        };
        if encoding_aes_key.len() != 43 {
            return Err(bad());
        }
        let bytes = AES_KEY_BASE64
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| bad())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self {
            token,
            aes_key: SecretBox::new(Box::new(key)),
            app_id,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The URL check's `signature` over the Token, `timestamp` and `nonce`.
    pub fn url_signature(&self, timestamp: &str, nonce: &str) -> String {
        sorted_sha1(&mut [self.token.expose_secret(), timestamp, nonce])
    }

    /// The URL check (GET): whether `signature` is ours.
    pub fn url_signature_matches(&self, timestamp: &str, nonce: &str, signature: &str) -> bool {
        same(&self.url_signature(timestamp, nonce), signature)
    }

    /// `msg_signature` of a safe-mode message.
    pub fn message_signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        sorted_sha1(&mut [self.token.expose_secret(), timestamp, nonce, encrypted])
    }

    /// The message's JSON text, once `msg_signature` matches and it names our AppID.
    pub fn open(
        &self,
        timestamp: &str,
        nonce: &str,
        msg_signature: &str,
        encrypted: &str,
    ) -> Result<String, PushError> {
        if !same(
            &self.message_signature(timestamp, nonce, encrypted),
            msg_signature,
        ) {
            return Err(PushError::Signature);
        }
        let mut data = STANDARD
            .decode(encrypted)
            .map_err(|_| PushError::Encoding)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(PushError::Encoding);
        }
        let key = self.aes_key.expose_secret();
        let iv: [u8; 16] = key[..16].try_into().map_err(|_| PushError::Encoding)?;
        let cipher = UnboundCipherKey::new(&AES_256, key)
            .and_then(DecryptingKey::cbc)
            .map_err(|_| PushError::Encoding)?;
        let plain = cipher
            .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| PushError::Encoding)?;
        let plain = unpad(plain)?;
        if plain.len() < RANDOM_PREFIX + 4 {
            return Err(PushError::Malformed);
        }
        let body = &plain[RANDOM_PREFIX..];
        let length = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        let rest = &body[4..];
        if length > rest.len() {
            return Err(PushError::Malformed);
        }
        let (message, app_id) = rest.split_at(length);
        if app_id != self.app_id.as_bytes() {
            return Err(PushError::OtherApp);
        }
        String::from_utf8(message.to_vec()).map_err(|_| PushError::Malformed)
    }

    /// A message as WeChat sends it: (`Encrypt`, `msg_signature`), with the given 16-byte prefix.
    pub fn seal(
        &self,
        message: &str,
        timestamp: &str,
        nonce: &str,
        random: [u8; 16],
    ) -> (String, String) {
        let mut plain = Vec::with_capacity(message.len() + 64);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.app_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let key = self.aes_key.expose_secret();
        let iv: [u8; 16] = key[..16].try_into().unwrap_or_default();
        // A 32-byte AES key and whole blocks: neither step can fail.
        if let Ok(cipher) = UnboundCipherKey::new(&AES_256, key).and_then(EncryptingKey::cbc) {
            let _ = cipher
                .less_safe_encrypt(&mut plain, EncryptionContext::Iv128(FixedLength::from(iv)));
        }
        let encrypted = STANDARD.encode(&plain);
        let signature = self.message_signature(timestamp, nonce, &encrypted);
        (encrypted, signature)
    }
}

/// PKCS#7 with WeChat's 32-byte block: the last byte says how many (1..=32) bytes to drop, and
/// each of them must say the same.
fn unpad(plain: &[u8]) -> Result<&[u8], PushError> {
    let pad = usize::from(*plain.last().ok_or(PushError::Malformed)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(PushError::Malformed);
    }
    let (kept, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|b| usize::from(*b) != pad) {
        return Err(PushError::Malformed);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Its last character carries 2 spare bits that are not zero, as real console keys can.
    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn keys(app_id: &str) -> PushKeys {
        PushKeys::new(SecretString::from("shoptoken1"), AES_KEY, app_id.into()).unwrap()
    }

    #[test]
    fn the_url_check_signs_the_sorted_token_timestamp_and_nonce() {
        // sha1 over the three sorted and joined, as WeChat's docs compute it.
        let mut parts = ["shoptoken1", "1714000000", "n0nce"];
        parts.sort_unstable();
        let expected = hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()));

        assert!(keys("wx1").url_signature_matches("1714000000", "n0nce", &expected));
        assert!(keys("wx1").url_signature_matches("1714000000", "n0nce", &expected.to_uppercase()));
        assert!(!keys("wx1").url_signature_matches("1714000001", "n0nce", &expected));
    }

    #[test]
    fn a_sealed_message_opens_whatever_its_padding_length() {
        let keys = keys("wx1234567890abcdef");
        // Message lengths chosen so the padding runs through every value 1..=32.
        for extra in 0..PAD_BLOCK {
            let message = format!("{{\"Event\":\"x\",\"pad\":\"{}\"}}", "a".repeat(extra));
            let (encrypted, signature) = keys.seal(&message, "1714000000", "n0nce", [7; 16]);
            let opened = keys.open("1714000000", "n0nce", &signature, &encrypted);
            assert_eq!(opened.as_deref(), Ok(message.as_str()), "extra {extra}");
        }
    }

    #[test]
    fn a_message_encrypted_elsewhere_with_27_bytes_of_padding_opens() {
        // Encrypted by Python's `cryptography` (AES-256-CBC, no padding of its own) over
        // bytes 0..16, the big-endian length, the message, the AppID and 27 bytes of 27: the
        // 32-byte padding a strict 16-byte unpad would refuse.
        let encrypted = "IG+0eOkLdhYW9kHtuT3HYwZ+gwkoigXd6eN5j2BVNtWs9+6tOIwVxXQNgNbrwIWaYepUGZRnURPC4k8XIiyQ0miVbDyD3tz1rbVCJr5UYkIj0RjTQTN9Vw5m7v5rghwkaaPRediAwfXXvqS66piz9eU75+sdkAemxU+gCma06xPcFGSCe1eAIeh2kBN/t3IM257vsYrtSBKYsixg6hDQuN9Vf9aoATopf9DMF8ClFcM+Uc5LAsFchxpvyrN3gxhF";
        let signature = "b67eeabd49f0973bccee371964bae99ecbe442b6";
        let opened = keys("wx5a0d0c0ffee0d00d")
            .open("1714000000", "kat-nonce", signature, encrypted)
            .unwrap();
        assert_eq!(
            opened,
            r#"{"ToUserName":"gh_1","FromUserName":"o_kat","CreateTime":1714000000,"MsgType":"event","Event":"trade_manage_remind_access_api"}"#
        );
    }

    #[test]
    fn a_forged_signature_tampered_ciphertext_or_other_app_is_refused() {
        let ours = keys("wx_ours");
        let (encrypted, signature) = ours.seal("{}", "1714000000", "n0nce", [1; 16]);

        assert_eq!(
            ours.open("1714000000", "n0nce", &"0".repeat(40), &encrypted),
            Err(PushError::Signature)
        );
        assert_eq!(
            ours.open("1714000099", "n0nce", &signature, &encrypted),
            Err(PushError::Signature)
        );
        let theirs = keys("wx_theirs");
        let (encrypted, signature) = theirs.seal("{}", "1714000000", "n0nce", [1; 16]);
        assert_eq!(
            ours.open("1714000000", "n0nce", &signature, &encrypted),
            Err(PushError::OtherApp)
        );
        // Signed correctly but not whole blocks: refused before decryption.
        let short = STANDARD.encode([0u8; 20]);
        let signed = ours.message_signature("1", "n", &short);
        assert_eq!(
            ours.open("1", "n", &signed, &short),
            Err(PushError::Encoding)
        );
    }

    #[test]
    fn padding_of_more_than_a_block_or_mixed_bytes_is_malformed() {
        assert_eq!(unpad(&[1, 2, 3, 1]), Ok(&[1u8, 2, 3][..]));
        assert_eq!(unpad(&[33; 40]).err(), Some(PushError::Malformed));
        assert_eq!(unpad(&[3, 3, 2, 3]).err(), Some(PushError::Malformed));
        assert_eq!(unpad(&[0; 16]).err(), Some(PushError::Malformed));
        let mut long = vec![33u8; 64];
        long[0] = 1;
        assert_eq!(unpad(&long).err(), Some(PushError::Malformed));
        assert_eq!(unpad(&[32; 32]), Ok(&[][..]));
    }

    #[test]
    fn an_encoding_aes_key_must_be_43_characters_of_base64() {
        let bad = |k: &str| PushKeys::new(SecretString::from("t0k"), k, "wx".into()).unwrap_err();
        assert!(bad("short").to_string().contains("WECHAT_PUSH_AES_KEY"));
        assert!(
            bad(&"!".repeat(43))
                .to_string()
                .contains("WECHAT_PUSH_AES_KEY")
        );
    }
}
