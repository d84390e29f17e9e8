//! Reviews with photos (评价晒单): what a shopper may write about a line they received, how
//! WeChat's content checks decide whether others see it, and the rating a product shows.
//!
//! A review is PENDING until every check of it has a verdict: its text through `msgSecCheck`
//! (answered at once) and each photo through `mediaCheckAsync` (answered later by a push). One
//! `risky` verdict hides it for good and tells its author why; a `review` verdict leaves it to
//! the merchant; only a review whose every check passed is shown and counted in the rating.

use crate::field::FieldError;
use crate::ids::{OrderId, ProductId, SkuId, UserId};
use crate::media::MediaKey;
use crate::order::{Order, OrderStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// At most this many characters of text.
pub const MAX_TEXT_CHARS: usize = 500;
/// At most this many photos.
pub const MAX_REVIEW_PHOTOS: usize = 9;

/// One to five stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Rating(u8);

impl Rating {
    pub fn parse(raw: Option<&Value>) -> Result<Self, FieldError> {
        raw.and_then(Value::as_u64)
            .and_then(|r| u8::try_from(r).ok())
            .and_then(|r| Self::try_from(r).ok())
            .ok_or_else(|| FieldError::new("rating", "must be a whole number of stars, 1 to 5"))
    }

    pub fn stars(self) -> u8 {
        self.0
    }

    /// Four or five stars: what the "好评率" counts.
    pub fn good(self) -> bool {
        self.0 >= 4
    }
}

impl TryFrom<u8> for Rating {
    type Error = String;
    fn try_from(stars: u8) -> Result<Self, String> {
        if (1..=5).contains(&stars) {
            Ok(Self(stars))
        } else {
            Err(format!("{stars} is not 1 to 5 stars"))
        }
    }
}

impl From<Rating> for u8 {
    fn from(rating: Rating) -> u8 {
        rating.0
    }
}

/// The review's words: optional, trimmed, at most 500 characters, no control characters but
/// line breaks.
pub fn review_text(raw: Option<&Value>) -> Result<String, FieldError> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(text)) => text.trim(),
        Some(_) => return Err(FieldError::new("text", "must be a string")),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(FieldError::new(
            "text",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(
            "text",
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(text.to_string())
}

/// Why the line cannot be reviewed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReviewable {
    #[error("a {0} order cannot be reviewed yet: only delivered or completed orders can")]
    NotDelivered(&'static str),
    #[error("SKU {0} is not in this order")]
    UnknownLine(SkuId),
    #[error("SKU {0} was refunded: a refunded line cannot be reviewed")]
    Refunded(SkuId),
}

/// The line of `order` a review of `sku` is about, if the goods arrived and stayed.
pub fn reviewable_line<'a>(
    order: &'a Order,
    sku: &SkuId,
) -> Result<&'a crate::order::OrderLine, NotReviewable> {
    if !matches!(
        order.status,
        OrderStatus::Delivered | OrderStatus::Completed
    ) {
        return Err(NotReviewable::NotDelivered(order.status.as_str()));
    }
    let line = order
        .lines
        .iter()
        .find(|l| &l.sku_id == sku)
        .ok_or_else(|| NotReviewable::UnknownLine(sku.clone()))?;
    if order.refunded_skus.contains(sku) {
        return Err(NotReviewable::Refunded(sku.clone()));
    }
    Ok(line)
}

/// WeChat's suggestion for one piece of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suggest {
    Pass,
    /// Unsure: a person should look.
    Review,
    Risky,
}

impl Suggest {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pass" => Some(Self::Pass),
            "review" => Some(Self::Review),
            "risky" => Some(Self::Risky),
            _ => None,
        }
    }
}

/// A verdict on one piece of content: WeChat's suggestion and its label (100 normal, 10001
/// advertising, 20001 politics, 20002 pornography, 20003 abuse, 20006 crime, 20008 fraud,
/// 20012 vulgarity, 20013 copyright, 21000 other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub suggest: Suggest,
    pub label: i64,
}

impl Verdict {
    /// What the author is told their content was flagged as.
    pub fn reason(&self) -> &'static str {
        match self.label {
            10001 => "广告",
            20001 => "时政",
            20002 => "色情",
            20003 => "辱骂",
            20006 => "违法犯罪",
            20008 => "欺诈",
            20012 => "低俗",
            20013 => "版权",
            _ => "其他不适宜内容",
        }
    }
}

/// Where a photo's check stands: sent to WeChat under a trace id, then its verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// Every check of a review and what has come back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Moderation {
    /// The text's verdict; a review without text needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Verdict>,
    /// One per photo, in the review's order.
    pub photos: Vec<PhotoCheck>,
    /// The checks could not be made (WeChat refused or stayed unreachable): the merchant
    /// decides instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchecked: bool,
    /// The merchant's word on a review WeChat left to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantDecision>,
}

/// What the merchant decided about a review in their queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantDecision {
    pub approved: bool,
    /// Told to the author of a rejected review.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub at: i64,
}

/// Who sees a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    /// Checks still out: only its author sees it.
    Pending,
    /// Everyone sees it, and its stars count.
    Shown,
    /// A check found it risky: only its author sees it, with why.
    Hidden,
    /// WeChat was unsure (or could not check): the merchant decides.
    InReview,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Shown => "SHOWN",
            Self::Hidden => "HIDDEN",
            Self::InReview => "IN_REVIEW",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Shown, Self::Hidden, Self::InReview]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// What the checks so far decide, and what the author is told when it is hidden.
pub fn decide(has_text: bool, moderation: &Moderation) -> (ReviewState, Option<String>) {
    let text = has_text.then_some(moderation.text);
    let mut flagged = Vec::new();
    if let Some(Some(v)) = text
        && v.suggest == Suggest::Risky
    {
        flagged.push(format!("文字含{}内容", v.reason()));
    }
    for (i, photo) in moderation.photos.iter().enumerate() {
        if let Some(v) = photo.verdict
            && v.suggest == Suggest::Risky
        {
            flagged.push(format!("第{}张图片含{}内容", i + 1, v.reason()));
        }
    }
    if !flagged.is_empty() {
        return (
            ReviewState::Hidden,
            Some(format!(
                "评价未通过内容安全检查，不会展示：{}",
                flagged.join("；")
            )),
        );
    }
    let verdicts: Vec<Option<Verdict>> = text
        .into_iter()
        .chain(moderation.photos.iter().map(|p| p.verdict))
        .collect();
    if !moderation.unchecked && verdicts.iter().any(Option::is_none) {
        return (ReviewState::Pending, None);
    }
    // WeChat found nothing risky but left the rest to the merchant.
    match &moderation.merchant {
        Some(decision) if decision.approved => return (ReviewState::Shown, None),
        Some(decision) => {
            let why = if decision.reason.is_empty() {
                "评价未通过商家审核，不会展示".to_string()
            } else {
                format!("评价未通过商家审核，不会展示：{}", decision.reason)
            };
            return (ReviewState::Hidden, Some(why));
        }
        None => {}
    }
    if moderation.unchecked {
        return (ReviewState::InReview, None);
    }
    if verdicts
        .iter()
        .flatten()
        .any(|v| v.suggest == Suggest::Review)
    {
        return (ReviewState::InReview, None);
    }
    (ReviewState::Shown, None)
}

/// What the shopper wrote, as the API took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub sku_id: SkuId,
    pub rating: Rating,
    pub text: String,
    pub photos: Vec<MediaKey>,
    pub nickname: String,
    pub avatar_url: Option<String>,
}

/// One line's review, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub product_id: ProductId,
    pub order_id: OrderId,
    pub sku_id: SkuId,
    /// Who wrote it; gone once their account is deleted (the review stays, anonymous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserId>,
    /// The public face the author chose to show; blank once they revoke or leave.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nickname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub rating: Rating,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<MediaKey>,
    /// The line's specs (规格) when bought: "500g / 罐装".
    #[serde(default)]
    pub specs: BTreeMap<String, String>,
    pub created_at: i64,
    pub state: ReviewState,
    /// Why it is hidden, for its author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown_at: Option<i64>,
    pub moderation: Moderation,
    /// Every change is written conditional on the version it read.
    #[serde(default)]
    pub version: u32,
}

impl Review {
    /// A fresh review of `line`, every check still to make.
    pub fn new(
        order: &Order,
        line: &crate::order::OrderLine,
        author: &UserId,
        draft: Draft,
        now: i64,
    ) -> Self {
        Self {
            product_id: line.product_id.clone(),
            order_id: order.id.clone(),
            sku_id: line.sku_id.clone(),
            author: Some(author.clone()),
            nickname: draft.nickname,
            avatar_url: draft.avatar_url,
            rating: draft.rating,
            text: draft.text,
            moderation: Moderation {
                photos: vec![PhotoCheck::default(); draft.photos.len()],
                ..Moderation::default()
            },
            photos: draft.photos,
            specs: line.specs.clone(),
            created_at: now,
            state: ReviewState::Pending,
            hidden_reason: None,
            shown_at: None,
            version: 0,
        }
    }

    /// The same words, stars and photos: a repeated submission, not a second review.
    pub fn same_content(&self, other: &Review) -> bool {
        self.rating == other.rating && self.text == other.text && self.photos == other.photos
    }

    /// Decides the state again from the checks, while it is pending or with the merchant;
    /// answers whether it has just been shown.
    pub fn settle(&mut self, now: i64) -> bool {
        if !matches!(self.state, ReviewState::Pending | ReviewState::InReview) {
            return false;
        }
        let (state, reason) = decide(!self.text.is_empty(), &self.moderation);
        self.state = state;
        self.hidden_reason = reason;
        if state == ReviewState::Shown {
            self.shown_at = Some(now);
            return true;
        }
        false
    }
}

/// A product's shown reviews in sum: kept as whole counts, so the average never drifts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatingSummary {
    pub count: u64,
    pub stars: u64,
    /// Reviews of four or five stars.
    pub good: u64,
}

impl RatingSummary {
    /// The average in tenths of a star, rounded half up (4.65 -> 47); none without reviews.
    pub fn average_tenths(&self) -> Option<u64> {
        (self.count > 0).then(|| (self.stars * 20 + self.count) / (self.count * 2))
    }

    /// The share of four and five stars in whole percent, rounded half up.
    pub fn good_percent(&self) -> Option<u64> {
        (self.count > 0).then(|| (self.good * 200 + self.count) / (self.count * 2))
    }

    /// As product detail shows it: `{count, average, goodPercent}` (`average` one decimal).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "count": self.count,
            "average": self.average_tenths().map(|t| t as f64 / 10.0),
            "goodPercent": self.good_percent(),
        })
    }
}

/// How a product's reviews are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOrder {
    Newest,
    /// Reviews with photos first, each group newest first.
    PhotosFirst,
}

impl ReviewOrder {
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldError> {
        match raw {
            None | Some("newest") => Ok(Self::Newest),
            Some("photos") => Ok(Self::PhotosFirst),
            Some(_) => Err(FieldError::new("sort", "must be \"newest\" or \"photos\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::PhotosFirst => "photos",
        }
    }
}

/// The sort key of a shown review under "photos first": a review with photos outranks every
/// review without, then the later outranks the earlier.
pub fn photos_first_rank(photos: &[MediaKey], shown_at: i64) -> i64 {
    const WITH_PHOTOS: i64 = 1 << 40;
    if photos.is_empty() {
        shown_at
    } else {
        WITH_PHOTOS + shown_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pass() -> Option<Verdict> {
        Some(Verdict {
            suggest: Suggest::Pass,
            label: 100,
        })
    }

    fn photo(verdict: Option<Verdict>) -> PhotoCheck {
        PhotoCheck {
            trace_id: Some("t".into()),
            verdict,
        }
    }

    #[test]
    fn a_rating_is_one_to_five_whole_stars() {
        assert_eq!(Rating::parse(Some(&json!(5))).unwrap().stars(), 5);
        for bad in [json!(0), json!(6), json!(4.5), json!("5"), json!(-1)] {
            assert_eq!(Rating::parse(Some(&bad)).unwrap_err().field, "rating");
        }
        assert!(Rating::parse(None).is_err());
    }

    #[test]
    fn text_is_optional_trimmed_and_at_most_500_characters() {
        assert_eq!(review_text(None).unwrap(), "");
        assert_eq!(review_text(Some(&json!("  好喝 \n"))).unwrap(), "好喝");
        assert!(review_text(Some(&json!("茶".repeat(500)))).is_ok());
        assert!(review_text(Some(&json!("茶".repeat(501)))).is_err());
        assert!(review_text(Some(&json!("a\u{0}b"))).is_err());
        assert!(review_text(Some(&json!(5))).is_err());
    }

    #[test]
    fn a_review_is_pending_until_every_check_answers_then_shown() {
        let mut m = Moderation {
            text: None,
            photos: vec![photo(None), photo(pass())],
            ..Moderation::default()
        };
        assert_eq!(decide(true, &m).0, ReviewState::Pending);
        m.text = pass();
        assert_eq!(decide(true, &m).0, ReviewState::Pending);
        m.photos[0].verdict = pass();
        assert_eq!(decide(true, &m), (ReviewState::Shown, None));
        // No text: nothing to wait for there.
        let photos_only = Moderation {
            text: None,
            photos: vec![photo(pass())],
            ..Moderation::default()
        };
        assert_eq!(decide(false, &photos_only).0, ReviewState::Shown);
    }

    #[test]
    fn one_risky_verdict_hides_the_review_and_says_which_part_and_why() {
        let m = Moderation {
            text: pass(),
            photos: vec![
                photo(pass()),
                photo(Some(Verdict {
                    suggest: Suggest::Risky,
                    label: 20002,
                })),
                photo(None),
            ],
            ..Moderation::default()
        };
        let (state, reason) = decide(true, &m);
        assert_eq!(state, ReviewState::Hidden);
        assert_eq!(
            reason.unwrap(),
            "评价未通过内容安全检查，不会展示：第2张图片含色情内容"
        );
    }

    #[test]
    fn an_unsure_verdict_or_no_check_at_all_leaves_it_to_the_merchant() {
        let unsure = Moderation {
            text: Some(Verdict {
                suggest: Suggest::Review,
                label: 21000,
            }),
            photos: vec![],
            ..Moderation::default()
        };
        assert_eq!(decide(true, &unsure).0, ReviewState::InReview);
        let unchecked = Moderation {
            unchecked: true,
            ..Moderation::default()
        };
        assert_eq!(decide(true, &unchecked).0, ReviewState::InReview);
    }

    #[test]
    fn the_merchant_decides_what_wechat_left_to_them_but_never_over_a_risky_verdict() {
        let decision = |approved: bool| MerchantDecision {
            approved,
            reason: if approved {
                String::new()
            } else {
                "与商品无关".into()
            },
            at: 1,
        };
        let unsure = Moderation {
            text: Some(Verdict {
                suggest: Suggest::Review,
                label: 21000,
            }),
            merchant: Some(decision(true)),
            ..Moderation::default()
        };
        assert_eq!(decide(true, &unsure).0, ReviewState::Shown);
        let rejected = Moderation {
            merchant: Some(decision(false)),
            ..unsure.clone()
        };
        assert_eq!(
            decide(true, &rejected),
            (
                ReviewState::Hidden,
                Some("评价未通过商家审核，不会展示：与商品无关".into())
            )
        );
        let risky = Moderation {
            text: Some(Verdict {
                suggest: Suggest::Risky,
                label: 20003,
            }),
            merchant: Some(decision(true)),
            ..Moderation::default()
        };
        assert_eq!(decide(true, &risky).0, ReviewState::Hidden);
    }

    #[test]
    fn the_average_and_good_share_are_exact_and_rounded_half_up() {
        let none = RatingSummary::default();
        assert_eq!(none.average_tenths(), None);
        assert_eq!(
            none.to_json(),
            json!({"count": 0, "average": null, "goodPercent": null})
        );
        // 5, 5, 4, 3 -> 17 / 4 = 4.25 -> 4.3; good 3 of 4 = 75 %.
        let four = RatingSummary {
            count: 4,
            stars: 17,
            good: 3,
        };
        assert_eq!(four.average_tenths(), Some(43));
        assert_eq!(four.good_percent(), Some(75));
        assert_eq!(four.to_json()["average"], json!(4.3));
        // 2 of 3 good = 66.67 % -> 67.
        let three = RatingSummary {
            count: 3,
            stars: 12,
            good: 2,
        };
        assert_eq!(three.good_percent(), Some(67));
        assert_eq!(three.average_tenths(), Some(40));
    }

    #[test]
    fn photos_first_puts_any_review_with_photos_above_every_one_without() {
        let key = MediaKey::parse("uploads/review/u1/abcdefghjkmnpqrs.jpg").unwrap();
        let old_with = photos_first_rank(std::slice::from_ref(&key), 1_000);
        let new_without = photos_first_rank(&[], 2_000_000_000);
        assert!(old_with > new_without);
        assert!(photos_first_rank(std::slice::from_ref(&key), 2) > photos_first_rank(&[key], 1));
    }

    #[test]
    fn listing_order_is_newest_or_photos() {
        assert_eq!(ReviewOrder::parse(None).unwrap(), ReviewOrder::Newest);
        assert_eq!(
            ReviewOrder::parse(Some("photos")).unwrap(),
            ReviewOrder::PhotosFirst
        );
        assert_eq!(ReviewOrder::parse(Some("best")).unwrap_err().field, "sort");
    }
}
