//! Alipay as the local shop sees it: a key pair made on the spot (its public half is the stack's
//! `ALIPAY_PUBLIC_KEY`) and asynchronous notifications signed with the private half, exactly as
//! Alipay signs them (RSA2 over the sorted parameters, `sign` and `sign_type` left out).

use shared::crypto::SigningKey;

pub const SANDBOX_ALIPAY_APP_ID: &str = "2021000000000001";

pub struct AlipaySandbox {
    pub app_id: String,
    key: SigningKey,
}

impl Default for AlipaySandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl AlipaySandbox {
    pub fn new() -> Self {
        Self {
            app_id: SANDBOX_ALIPAY_APP_ID.into(),
            key: SigningKey::generate(),
        }
    }

    /// What the shop must be configured with to trust this sandbox.
    pub fn settings(&self) -> [(String, String); 2] {
        [
            ("ALIPAY_APP_ID".into(), self.app_id.clone()),
            ("ALIPAY_PUBLIC_KEY".into(), self.key.public_pem()),
        ]
    }

    /// The form body of a `trade_status_sync` notification for our order `out_trade_no` of
    /// `total_amount` (yuan text, as Alipay writes it), signed; `tweak` changes fields before
    /// signing (a wrong app, another status).
    pub fn notification(
        &self,
        out_trade_no: &str,
        total_amount: &str,
        tweak: impl FnOnce(&mut Vec<(String, String)>),
    ) -> String {
        let mut form: Vec<(String, String)> = vec![
            ("notify_time".into(), "2026-11-25 10:00:00".into()),
            ("notify_type".into(), "trade_status_sync".into()),
            (
                "notify_id".into(),
                format!("ac{}", shared::ids::random_token(30)),
            ),
            ("charset".into(), "utf-8".into()),
            ("version".into(), "1.0".into()),
            ("app_id".into(), self.app_id.clone()),
            ("out_trade_no".into(), out_trade_no.into()),
            (
                "trade_no".into(),
                format!("20261125220014{}", shared::ids::random_token(14)),
            ),
            ("trade_status".into(), "TRADE_SUCCESS".into()),
            ("total_amount".into(), total_amount.into()),
            ("receipt_amount".into(), total_amount.into()),
            ("gmt_payment".into(), "2026-11-25 10:00:00".into()),
            ("subject".into(), "茶铺订单".into()),
        ];
        tweak(&mut form);
        self.sign_form(form)
    }

    /// Signs `form` as Alipay does and encodes it as the POST body.
    pub fn sign_form(&self, mut form: Vec<(String, String)>) -> String {
        let content = shared::alipay::signing_content(
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["sign", "sign_type"],
        );
        form.push(("sign_type".into(), "RSA2".into()));
        form.push(("sign".into(), self.key.sign_base64(content.as_bytes())));
        form.iter()
            .map(|(k, v)| format!("{k}={}", crate::server::form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}
