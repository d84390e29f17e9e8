//! The channel a shopper arrived by, read from what the mini-program sends with a request.

use crate::api::{ApiRequest, RequestExt};
use telemetry::metrics::scene_channel;

/// How a shopper arrived, from what the mini-program passes along: `X-Share-Code` (the `s`
/// parameter it was opened with) makes it `share`; otherwise `X-WX-Scene` (the launch scene,
/// `wx.getLaunchOptionsSync().scene`) is grouped into a few channels a shop owner acts on.
pub fn channel_of(req: &ApiRequest) -> &'static str {
    let share = req
        .header_str("x-share-code")
        .map(str::trim)
        .is_some_and(|c| domain::ids::ShareCode::parse(c).is_ok());
    if share {
        return "share";
    }
    match req
        .header_str("x-wx-scene")
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        Some(scene) => scene_channel(scene),
        None => "direct",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_come_from_the_share_code_or_the_scene() {
        let mut req = ApiRequest::default();
        assert_eq!(channel_of(&req), "direct");
        req.headers_mut()
            .insert("x-wx-scene", "1011".parse().unwrap());
        assert_eq!(channel_of(&req), "qrcode");
        req.headers_mut()
            .insert("x-share-code", "abcdef123456".parse().unwrap());
        assert_eq!(channel_of(&req), "share");
        assert_eq!(scene_channel(1089), "discover");
        assert_eq!(scene_channel(9999), "other");
    }
}
