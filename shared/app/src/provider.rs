//! The payment-provider port: what checkout, the deadlines and refunds need of whoever takes the
//! money, so the payment flow (idempotency, late payments, querying before cancelling, refunds)
//! is one piece of code for WeChat Pay and Alipay alike.

use crate::payment::{Merchant, Provider, ProviderPayment};
use domain::ids::OpenId;
use domain::ids::OrderId;
use domain::money::Fen;
use domain::order::Order;
use providers::alipay::AlipayClient;
use providers::wechatpay::{PaymentParams, Prepay, WeChatPay};
use serde::Serialize;
use std::sync::Arc;

/// What the mini-program's pay call takes: `wx.requestPayment` parameters, or `my.tradePay`'s
/// `tradeNO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum PaymentStart {
    Wechat(PaymentParams),
    Alipay {
        #[serde(rename = "tradeNO")]
        trade_no: String,
    },
}

/// A trade as the provider knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queried {
    /// The money arrived (settle it).
    Paid(ProviderPayment),
    /// The shopper is in the middle of paying: ask again shortly.
    Paying,
    /// Not paid (open, or closed).
    NotPaid,
    /// The provider never created it (the start failed).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Closed,
    /// Nothing to close: the provider never created it.
    NeverCreated,
    /// Too late: it was paid.
    AlreadyPaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAsked {
    /// The provider's notification finishes it (WeChat Pay).
    Pending,
    /// Done now (Alipay refunds synchronously): finish it here.
    Done,
}

#[derive(Debug, thiserror::Error)]
#[error("{provider} did not answer as expected: {problem}")]
pub struct ProviderError {
    pub provider: &'static str,
    pub problem: String,
}

fn failed(provider: Provider, problem: impl std::fmt::Display) -> ProviderError {
    ProviderError {
        provider: provider.as_str(),
        problem: problem.to_string(),
    }
}

/// Why a refund could not be asked for or recorded.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Recording(#[from] crate::payment::SettleError),
}

/// Who takes the money, for one order.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    fn provider(&self) -> Provider;
    /// Creates (or finds again: the same order gives the same answer) the provider's trade.
    async fn start(
        &self,
        order: &Order,
        payer: &str,
        now: i64,
    ) -> Result<PaymentStart, ProviderError>;
    async fn query(&self, order: &OrderId, now: i64) -> Result<Queried, ProviderError>;
    async fn close(&self, order: &OrderId, now: i64) -> Result<Closed, ProviderError>;
    /// Asks for `amount` of the order's `total` back under `out_refund_no` (asking again for the
    /// same one is safe).
    async fn refund(
        &self,
        order: &OrderId,
        out_refund_no: &str,
        amount: Fen,
        total: Fen,
        reason: &str,
        now: i64,
    ) -> Result<RefundAsked, ProviderError>;
}

#[async_trait::async_trait]
impl PaymentProvider for WeChatPay {
    fn provider(&self) -> Provider {
        Provider::Wechat
    }

    async fn start(
        &self,
        order: &Order,
        payer: &str,
        now: i64,
    ) -> Result<PaymentStart, ProviderError> {
        let openid = OpenId::parse(payer).map_err(|e| failed(Provider::Wechat, e))?;
        let description = order.payment_subject();
        let prepay = Prepay {
            out_trade_no: &order.id,
            description,
            total: order.total,
            payer_openid: openid.expose(),
            time_expire: order.pay_deadline,
        };
        let prepay_id = self
            .jsapi_prepay(&prepay)
            .await
            .map_err(|e| failed(Provider::Wechat, e))?;
        Ok(PaymentStart::Wechat(self.payment_params(&prepay_id, now)))
    }

    async fn query(&self, order: &OrderId, _now: i64) -> Result<Queried, ProviderError> {
        match WeChatPay::query(self, order).await {
            Ok(tx) if tx.trade_state == "SUCCESS" => {
                let merchant = Merchant {
                    mchid: self.mchid().to_string(),
                    appid: self.appid().to_string(),
                };
                Ok(Queried::Paid(ProviderPayment::wechat(&tx, &merchant)))
            }
            Ok(tx) if tx.trade_state == "USERPAYING" => Ok(Queried::Paying),
            Ok(_) => Ok(Queried::NotPaid),
            Err(err) if err.code() == Some("ORDER_NOT_EXIST") => Ok(Queried::Unknown),
            Err(err) => Err(failed(Provider::Wechat, err)),
        }
    }

    async fn close(&self, order: &OrderId, _now: i64) -> Result<Closed, ProviderError> {
        match WeChatPay::close(self, order).await {
            Ok(()) => Ok(Closed::Closed),
            Err(err) if err.code() == Some("ORDER_NOT_EXIST") => Ok(Closed::NeverCreated),
            Err(err) if err.code() == Some("ORDERPAID") => Ok(Closed::AlreadyPaid),
            Err(err) => Err(failed(Provider::Wechat, err)),
        }
    }

    async fn refund(
        &self,
        order: &OrderId,
        out_refund_no: &str,
        amount: Fen,
        total: Fen,
        reason: &str,
        _now: i64,
    ) -> Result<RefundAsked, ProviderError> {
        WeChatPay::refund(self, order, out_refund_no, amount, total, reason)
            .await
            .map(|_| RefundAsked::Pending)
            .map_err(|e| failed(Provider::Wechat, e))
    }
}

#[async_trait::async_trait]
impl PaymentProvider for AlipayClient {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    async fn start(
        &self,
        order: &Order,
        payer: &str,
        now: i64,
    ) -> Result<PaymentStart, ProviderError> {
        let subject = order.payment_subject();
        let trade_no = self
            .create_trade(
                order.id.as_str(),
                order.total,
                subject,
                payer,
                order.pay_deadline,
                now,
            )
            .await
            .map_err(|e| failed(Provider::Alipay, e))?;
        Ok(PaymentStart::Alipay { trade_no })
    }

    async fn query(&self, order: &OrderId, now: i64) -> Result<Queried, ProviderError> {
        match AlipayClient::query(self, order.as_str(), now).await {
            Ok(trade)
                if matches!(
                    trade.trade_status.as_str(),
                    "TRADE_SUCCESS" | "TRADE_FINISHED"
                ) =>
            {
                Ok(Queried::Paid(ProviderPayment {
                    provider: Provider::Alipay,
                    out_trade_no: trade.out_trade_no,
                    transaction_id: trade.trade_no,
                    paid: true,
                    ours: trade.app_id == self.app_id(),
                    amount: Some(trade.total),
                    success_time: None,
                }))
            }
            Ok(_) => Ok(Queried::NotPaid),
            Err(err) if err.sub_code() == Some("ACQ.TRADE_NOT_EXIST") => Ok(Queried::Unknown),
            Err(err) => Err(failed(Provider::Alipay, err)),
        }
    }

    async fn close(&self, order: &OrderId, now: i64) -> Result<Closed, ProviderError> {
        match AlipayClient::close(self, order.as_str(), now).await {
            Ok(()) => Ok(Closed::Closed),
            Err(err) if err.sub_code() == Some("ACQ.TRADE_NOT_EXIST") => Ok(Closed::NeverCreated),
            // Paid (or already closed): the query that follows tells which.
            Err(err) if err.sub_code() == Some("ACQ.TRADE_STATUS_ERROR") => {
                match PaymentProvider::query(self, order, now).await? {
                    Queried::Paid(_) => Ok(Closed::AlreadyPaid),
                    _ => Ok(Closed::Closed),
                }
            }
            Err(err) => Err(failed(Provider::Alipay, err)),
        }
    }

    async fn refund(
        &self,
        order: &OrderId,
        out_refund_no: &str,
        amount: Fen,
        _total: Fen,
        reason: &str,
        now: i64,
    ) -> Result<RefundAsked, ProviderError> {
        AlipayClient::refund(self, order.as_str(), out_refund_no, amount, reason, now)
            .await
            .map(|()| RefundAsked::Done)
            .map_err(|e| failed(Provider::Alipay, e))
    }
}

/// The providers a shop takes money through: WeChat Pay always, Alipay when configured.
#[derive(Clone)]
pub struct Providers {
    wechat: Arc<dyn PaymentProvider>,
    alipay: Option<Arc<dyn PaymentProvider>>,
}

impl Providers {
    pub fn new(wechat: Arc<dyn PaymentProvider>, alipay: Option<Arc<dyn PaymentProvider>>) -> Self {
        Self { wechat, alipay }
    }

    /// From the settings: WeChat Pay's, and Alipay's when `ALIPAY_APP_ID` is set.
    pub fn from_settings(
        settings: &settings::Settings,
        http: reqwest::Client,
    ) -> Result<Self, settings::ConfigError> {
        Ok(Self {
            wechat: Arc::new(WeChatPay::new(settings, http.clone())?),
            alipay: AlipayClient::from_settings(settings, http)?
                .map(|a| Arc::new(a) as Arc<dyn PaymentProvider>),
        })
    }

    /// Asks the order's provider for a begun refund; one refunded on the spot (Alipay) is
    /// finished here exactly as its notification would finish it.
    pub async fn refund(
        &self,
        desk: &crate::payment::PaymentDesk,
        order: &Order,
        refund: &domain::refund::Refund,
        now: i64,
    ) -> Result<RefundAsked, RefundError> {
        let asked = self
            .of(order.provider)?
            .refund(
                &order.id,
                &refund.out_refund_no,
                refund.amount,
                order.total,
                &refund.reason,
                now,
            )
            .await?;
        if asked == RefundAsked::Done {
            desk.refund_finished(
                &order.id,
                &refund.out_refund_no,
                domain::refund::RefundStatus::Success,
                refund.amount,
                now,
            )
            .await?;
        }
        Ok(asked)
    }

    pub fn takes(&self, provider: Provider) -> bool {
        provider == Provider::Wechat || self.alipay.is_some()
    }

    pub fn of(&self, provider: Provider) -> Result<&dyn PaymentProvider, ProviderError> {
        match provider {
            Provider::Wechat => Ok(self.wechat.as_ref()),
            Provider::Alipay => self
                .alipay
                .as_deref()
                .ok_or_else(|| failed(Provider::Alipay, "this shop does not take Alipay")),
        }
    }
}
