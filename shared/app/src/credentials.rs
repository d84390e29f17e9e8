//! Staff credentials: passwords hashed with Argon2id, and time-based one-time codes (TOTP,
//! RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, the kind every authenticator app reads
//! from an `otpauth://` QR code).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::hmac;
use rand::RngCore;

/// Argon2id with 19 MiB, 2 passes, 1 lane (OWASP's first choice): about 50-100 ms on a
/// 1024 MB Lambda (measured in README, Benchmarks); the admin function has the memory for it.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// A TOTP step: 30 seconds.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Codes one step early or late are taken too: phone clocks drift.
const TOTP_SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends for HMAC-SHA1.
pub const TOTP_SECRET_BYTES: usize = 20;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$m=...$salt$hash`) to keep; never the password.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` is the one `stored` was hashed from (with the parameters it names).
pub fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Spends the time a real check would, for a username that does not exist, so the answer's
/// timing does not tell which names do.
pub fn burn_a_check(password: &str) {
    let _ = hash_password(password);
}

/// A fresh TOTP secret.
pub fn new_totp_secret() -> [u8; TOTP_SECRET_BYTES] {
    let mut secret = [0_u8; TOTP_SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// A password to hand out once (a new staff member's first): 20 characters from the token
/// alphabet, about 100 bits.
pub fn one_time_password() -> String {
    format!("{}-A1", domain::ids::random_token(20))
}

/// The code of `step` (RFC 4226's HOTP on the step counter, dynamic truncation to 6 digits).
pub fn totp_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = u64::try_from(step).unwrap_or(0).to_be_bytes();
    let tag = hmac::sign(&key, &counter);
    let digest = tag.as_ref();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 1_000_000
}

/// The step `code` belongs to, when it is a right code at `now` (one step of drift either
/// way); the caller refuses a step already used, so each code works once.
pub fn totp_step_of(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let current = now.div_euclid(TOTP_STEP_SECONDS);
    (current - TOTP_SKEW_STEPS..=current + TOTP_SKEW_STEPS).find(|step| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            &totp_at(secret, *step).to_be_bytes(),
            &given.to_be_bytes(),
        )
        .is_ok()
    })
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buffer = [0_u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([
            0, 0, 0, buffer[0], buffer[1], buffer[2], buffer[3], buffer[4],
        ]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - i * 5)) & 0x1f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// The `otpauth://totp/...` URI an authenticator app scans: issuer, account, the secret.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        escape(issuer),
        escape(account),
        base32(secret),
        escape(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238s_test_vectors_in_six_digits() {
        // The RFC lists 8 digits; the last 6 are what a 6-digit app shows.
        for (time, eight) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(totp_at(RFC_SECRET, time / 30), eight % 1_000_000, "{time}");
        }
    }

    #[test]
    fn a_code_is_right_within_one_step_of_drift_and_only_six_digits() {
        let now = 1_234_567_890;
        let code = format!("{:06}", totp_at(RFC_SECRET, now / 30));
        assert_eq!(totp_step_of(RFC_SECRET, &code, now), Some(now / 30));
        assert_eq!(totp_step_of(RFC_SECRET, &code, now + 30), Some(now / 30));
        assert_eq!(totp_step_of(RFC_SECRET, &code, now + 90), None);
        assert_eq!(totp_step_of(RFC_SECRET, "12345", now), None);
        assert_eq!(totp_step_of(RFC_SECRET, "abcdef", now), None);
    }

    #[test]
    fn base32_is_rfc_4648s() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_secret() {
        assert_eq!(
            otpauth_uri("茶铺", "mei", RFC_SECRET),
            "otpauth://totp/%E8%8C%B6%E9%93%BA:mei?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=%E8%8C%B6%E9%93%BA&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn a_password_matches_only_its_own_hash_which_names_argon2id() {
        let stored = hash_password("correct-horse-7").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(password_matches("correct-horse-7", &stored));
        assert!(!password_matches("correct-horse-8", &stored));
        assert!(!password_matches("correct-horse-7", "not a hash"));
        assert_ne!(hash_password("correct-horse-7").unwrap(), stored);
    }
}
