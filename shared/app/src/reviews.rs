//! Reviews through WeChat's content checks, as WeChat requires of content shoppers publish:
//! the text through `msgSecCheck` and each photo through `mediaCheckAsync`, whose verdict is
//! pushed to `wechat-push` later. [`ContentChecks`] sends them (the `deadlines` consumer, on a
//! `review.check` message); [`record_photo_verdict`] takes a pushed verdict. Both change a
//! review through [`amend`], which decides its state again and writes conditional on the
//! version read, so two verdicts arriving together both count and a review is shown (and
//! counted in its product's rating) once.

use crate::wechat::{AccessTokenError, access_token};
use domain::review::{MerchantDecision, Review, ReviewState, Verdict};
use providers::wechat::{WeChatApi, WeChatError};
use store::StoreError;
use store::media::MediaBucket;
use store::reviews::{ReviewKey, ReviewStore};
use store::users::UserStore;

/// How long WeChat may take to fetch a photo: its verdict comes within 30 minutes.
const PHOTO_FETCH_SECONDS: u64 = 60 * 60;
/// Concurrent writers to one review (its photos' verdicts) get this many tries each.
const AMEND_TRIES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("review {0:?} kept changing under us")]
    Contention(ReviewKey),
    #[error(transparent)]
    Media(#[from] store::media::MediaError),
    #[error("no such review")]
    NotFound,
    #[error("the review is {} and not the merchant's to decide", .0.as_str())]
    NotAwaiting(ReviewState),
}

/// Applies `change` to the review and decides its state again, as often as concurrent writes
/// make it; the review as written, or None when there is no such review.
pub async fn amend(
    reviews: &ReviewStore,
    key: &ReviewKey,
    now: i64,
    change: impl Fn(&mut Review),
) -> Result<Option<Review>, ReviewError> {
    for _ in 0..AMEND_TRIES {
        let Some(mut review) = reviews.get(key).await? else {
            return Ok(None);
        };
        let before = review.clone();
        change(&mut review);
        let shown = review.settle(now);
        if review == before {
            return Ok(Some(review));
        }
        if reviews.save(&review, shown).await? {
            review.version += 1;
            if shown {
                tracing::info!(product_id = %key.product_id, order_id = %key.order_id, "review shown");
            }
            return Ok(Some(review));
        }
    }
    Err(ReviewError::Contention(key.clone()))
}

/// WeChat pushed its verdict on a photo: kept with the trace, and given to the review when
/// the trace is attached (else the checker finds it there when it attaches the trace).
pub async fn record_photo_verdict(
    reviews: &ReviewStore,
    trace_id: &str,
    verdict: &Verdict,
    now: i64,
) -> Result<Option<Review>, ReviewError> {
    let Some((key, photo)) = reviews.record_verdict(trace_id, verdict, now).await? else {
        return Ok(None);
    };
    amend(reviews, &key, now, |review| {
        if let Some(check) = review.moderation.photos.get_mut(photo) {
            check.verdict = Some(*verdict);
        }
    })
    .await
}

/// The merchant's word on a review WeChat left to them (IN_REVIEW): approved, it is shown and
/// counted; rejected, it is hidden and its author told `reason`. The same word again changes
/// nothing; a review in any other state is not theirs to decide.
pub async fn decide_by_merchant(
    reviews: &ReviewStore,
    key: &ReviewKey,
    approved: bool,
    reason: &str,
    now: i64,
) -> Result<Review, ReviewError> {
    let review = reviews.get(key).await?.ok_or(ReviewError::NotFound)?;
    let repeated = review
        .moderation
        .merchant
        .as_ref()
        .is_some_and(|d| d.approved == approved);
    if repeated {
        return Ok(review);
    }
    if review.state != ReviewState::InReview {
        return Err(ReviewError::NotAwaiting(review.state));
    }
    let decision = MerchantDecision {
        approved,
        reason: reason.to_string(),
        at: now,
    };
    amend(reviews, key, now, |r| {
        if r.state == ReviewState::InReview {
            r.moderation.merchant = Some(decision.clone());
        }
    })
    .await?
    .ok_or(ReviewError::NotFound)
}

/// What one round of checks came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Everything is with WeChat: the review as it stands (photo verdicts may still come).
    Sent(Box<Review>),
    /// No such review, or it was decided already.
    Nothing,
    /// WeChat was busy or unreachable: try again later.
    Later(String),
}

pub struct ContentChecks {
    reviews: ReviewStore,
    wechat: WeChatApi,
    users: UserStore,
    media: MediaBucket,
}

impl ContentChecks {
    /// WeChat's client from `settings` (`WECHAT_APPID`, `WECHAT_SECRET`, `WECHAT_API_BASE`).
    pub fn new(
        settings: &settings::Settings,
        http: reqwest::Client,
        reviews: ReviewStore,
        users: UserStore,
        media: MediaBucket,
    ) -> Result<Self, settings::ConfigError> {
        Ok(Self {
            reviews,
            wechat: WeChatApi::new(settings, http)?,
            users,
            media,
        })
    }

    /// Sends what of the review WeChat has not judged yet: the text (its verdict kept at
    /// once) and each photo without a trace. A photo sent twice after a crash is judged twice
    /// and its later verdict lands on the same check: nothing doubles.
    pub async fn check(&self, key: &ReviewKey, now: i64) -> Result<Checked, ReviewError> {
        let Some(review) = self.reviews.get(key).await? else {
            return Ok(Checked::Nothing);
        };
        if review.state != domain::review::ReviewState::Pending {
            return Ok(Checked::Nothing);
        }
        // Without an author (a deleted account) WeChat has no openid to check against.
        let openid = match &review.author {
            Some(author) => self.users.openid_of(author).await?,
            None => None,
        };
        let Some(openid) = openid else {
            return self
                .unchecked(key, now, "the author has no WeChat openid")
                .await;
        };
        let token = match access_token(&self.wechat, &self.users, now).await {
            Ok(token) => token,
            Err(AccessTokenError::Store(e)) => return Err(e.into()),
            Err(AccessTokenError::WeChat(e)) => return Ok(Checked::Later(e.to_string())),
        };
        if !review.text.is_empty() && review.moderation.text.is_none() {
            match self.wechat.check_text(&token, &openid, &review.text).await {
                Ok(verdict) => {
                    amend(&self.reviews, key, now, |r| {
                        r.moderation.text = Some(verdict)
                    })
                    .await?;
                }
                Err(err) => return self.failed(key, now, err).await,
            }
        }
        for (photo, check) in review.moderation.photos.iter().enumerate() {
            if check.trace_id.is_some() || check.verdict.is_some() {
                continue;
            }
            let Some(photo_key) = review.photos.get(photo) else {
                continue;
            };
            let url = self
                .media
                .presigned_get(photo_key, now, PHOTO_FETCH_SECONDS)
                .await?;
            let trace_id = match self.wechat.check_image_later(&token, &openid, &url).await {
                Ok(trace_id) => trace_id,
                Err(err) => return self.failed(key, now, err).await,
            };
            let pushed = self
                .reviews
                .attach_trace(&trace_id, key, photo, now)
                .await?;
            amend(&self.reviews, key, now, |r| {
                if let Some(check) = r.moderation.photos.get_mut(photo) {
                    check.trace_id = Some(trace_id.clone());
                    check.verdict = check.verdict.or(pushed);
                }
            })
            .await?;
        }
        Ok(match self.reviews.get(key).await? {
            Some(review) => Checked::Sent(Box::new(review)),
            None => Checked::Nothing,
        })
    }

    /// A call WeChat refused for good leaves the review to the merchant; busy or unreachable
    /// is tried again.
    async fn failed(
        &self,
        key: &ReviewKey,
        now: i64,
        err: WeChatError,
    ) -> Result<Checked, ReviewError> {
        match err {
            WeChatError::Unavailable(_)
            | WeChatError::RateLimited
            | WeChatError::InvalidAccessToken(_) => Ok(Checked::Later(err.to_string())),
            other => self.unchecked(key, now, &other.to_string()).await,
        }
    }

    /// Gives up on WeChat for this review: it waits for the merchant.
    pub async fn unchecked(
        &self,
        key: &ReviewKey,
        now: i64,
        why: &str,
    ) -> Result<Checked, ReviewError> {
        tracing::warn!(product_id = %key.product_id, order_id = %key.order_id, why, "review left to the merchant: WeChat's checks could not be made");
        amend(&self.reviews, key, now, |r| r.moderation.unchecked = true).await?;
        Ok(Checked::Nothing)
    }
}
