//! The webhook URL's query string. Source products paste keys (base64: `+`, `/`, `=`) into URLs
//! unencoded, so `api_key` is percent-decoded *without* the form rule that turns `+` into a
//! space; the other parameters become `trigger.query` with the usual form decoding.

use percent_encoding::percent_decode_str;

/// The name of the query parameter that carries a webhook's key.
pub const API_KEY_PARAM: &str = "api_key";

/// The `api_key` value of a raw query string: percent-decoded, `+` kept as a plus.
pub fn api_key(raw_query: &str) -> Option<String> {
    raw_query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == API_KEY_PARAM).then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

/// The query string without any `api_key` parameter, for recording and for `trigger.query`.
/// A parameter whose name is `api_key` in another case or percent-encoded (`API_KEY`,
/// `Api%5FKey`) is not a key the check accepts, but it is a key all the same: it goes too.
pub fn without_api_key(raw_query: &str) -> String {
    raw_query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(n, _)| n);
            !pair.is_empty()
                && !percent_decode_str(name)
                    .decode_utf8_lossy()
                    .eq_ignore_ascii_case(API_KEY_PARAM)
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_stays_plus_raw_and_encoded() {
        assert_eq!(api_key("api_key=a+b/c=").as_deref(), Some("a+b/c="));
        assert_eq!(
            api_key("x=1&api_key=a%2Bb%2Fc%3D").as_deref(),
            Some("a+b/c=")
        );
        assert_eq!(api_key("x=1"), None);
    }

    #[test]
    fn strips_key() {
        assert_eq!(without_api_key("a=1&api_key=zz&b=2"), "a=1&b=2");
        assert_eq!(without_api_key("api_key=zz"), "");
        assert_eq!(
            without_api_key("a=1&API_KEY=zz&Api_Key=yy&api%5Fkey=xx&API%5fKEY&b=2"),
            "a=1&b=2"
        );
    }
}
