//! Check 5b itself: the HMAC of each scheme over the exact bytes received, compared in constant
//! time with every signature the request carries. No heap allocation per request: the keyed
//! MAC states are built once per webhook version, and signatures are decoded into stack buffers.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit};
use subtle::ConstantTimeEq;

use super::{Algorithm, Encoding, Scheme, Secrets, Settings, Verdict, VerdictKind, key_bytes};

/// Standard base64, with or without padding (senders differ).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Room for the largest MAC (SHA-512) decoded from base64 (whose estimate is a little larger).
const SIG_MAX: usize = 96;

/// A request's headers, as check 5b reads them.
pub trait HeaderSource {
    /// Every value of the header `name` (ASCII case-insensitive), in arrival order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]>;
}

impl HeaderSource for [(&str, &str)] {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

/// A keyed MAC state, cloned for each request (the key is never hashed again).
#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2_mac::Sha256>),
    Sha512(Hmac<sha2_mac::Sha512>),
}

/// A MAC value: at most 64 bytes.
struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl Tag {
    fn matches(&self, sig: &[u8]) -> bool {
        sig.len() == self.len && bool::from(self.bytes[..self.len].ct_eq(sig))
    }
}

impl KeyedMac {
    fn new(alg: Algorithm, key: &[u8]) -> KeyedMac {
        // HMAC takes keys of any length: `new_from_slice` cannot fail.
        match alg {
            Algorithm::Sha1 => {
                KeyedMac::Sha1(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
            }
            Algorithm::Sha256 => {
                KeyedMac::Sha256(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
            }
            Algorithm::Sha512 => {
                KeyedMac::Sha512(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
            }
        }
    }

    fn tag(&self, parts: &[&[u8]]) -> Tag {
        fn run<M: hmac::Mac + Clone>(m: &M, parts: &[&[u8]]) -> Tag {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let out = m.finalize().into_bytes();
            let mut bytes = [0u8; 64];
            bytes[..out.len()].copy_from_slice(&out);
            Tag {
                bytes,
                len: out.len(),
            }
        }
        match self {
            KeyedMac::Sha1(m) => run(m, parts),
            KeyedMac::Sha256(m) => run(m, parts),
            KeyedMac::Sha512(m) => run(m, parts),
        }
    }
}

/// A webhook's verification, ready to check requests: its settings and keyed MACs for the
/// current secret and, until it expires, the previous one.
pub struct Verifier {
    scheme: Scheme,
    header: String,
    encoding: Encoding,
    prefix: Option<String>,
    tolerance_seconds: i64,
    enforced: bool,
    /// What the detail says was computed, e.g. `HMAC-SHA256 of the body`.
    describes: String,
    keys: Vec<(KeyedMac, Option<i64>)>,
}

impl Verifier {
    /// `None` when a secret is not usable for the scheme (a bad `whsec_` secret).
    pub fn new(s: &Settings, secrets: &Secrets) -> Option<Verifier> {
        let alg = s.algorithm.unwrap_or(Algorithm::Sha256);
        let mut keys = vec![(
            KeyedMac::new(alg, &key_bytes(s.scheme, &secrets.secret)?),
            None,
        )];
        if let (Some(prev), Some(until)) = (&secrets.previous, s.previous_secret_expires_at) {
            keys.push((KeyedMac::new(alg, &key_bytes(s.scheme, prev)?), Some(until)));
        }
        let header = match s.scheme {
            Scheme::StandardWebhooks => "webhook-signature",
            Scheme::Github => "X-Hub-Signature-256",
            Scheme::Stripe => "Stripe-Signature",
            Scheme::Slack => "X-Slack-Signature",
            Scheme::Shopify => "X-Shopify-Hmac-Sha256",
            Scheme::Hmac => s.header.as_deref()?,
        }
        .to_string();
        let alg_name = match alg {
            Algorithm::Sha1 => "HMAC-SHA1",
            Algorithm::Sha256 => "HMAC-SHA256",
            Algorithm::Sha512 => "HMAC-SHA512",
        };
        let describes = match s.scheme {
            Scheme::StandardWebhooks => {
                "base64 HMAC-SHA256 of \"webhook-id.webhook-timestamp.body\"".to_string()
            }
            Scheme::Github => "sha256=<hex HMAC-SHA256 of the body>".to_string(),
            Scheme::Stripe => "hex HMAC-SHA256 of \"t.body\"".to_string(),
            Scheme::Slack => "v0=<hex HMAC-SHA256 of \"v0:timestamp:body\">".to_string(),
            Scheme::Shopify => "base64 HMAC-SHA256 of the body".to_string(),
            Scheme::Hmac => format!(
                "{}<{} {alg_name} of the body>",
                s.prefix.as_deref().unwrap_or(""),
                match s.encoding.unwrap_or(Encoding::Hex) {
                    Encoding::Hex => "hex",
                    Encoding::Base64 => "base64",
                }
            ),
        };
        Some(Verifier {
            scheme: s.scheme,
            header,
            encoding: s.encoding.unwrap_or(Encoding::Hex),
            prefix: s.prefix.clone().filter(|p| !p.is_empty()),
            tolerance_seconds: s.tolerance_seconds as i64,
            enforced: s.mode == super::Mode::Enforce,
            describes,
            keys,
        })
    }

    /// The verdict on a request whose body is `body` (the exact bytes received), at `now_ms`.
    pub fn verify<H: HeaderSource + ?Sized>(&self, h: &H, body: &[u8], now_ms: i64) -> Verdict {
        let (verdict, detail) = match self.check(h, body, now_ms) {
            Ok(()) => (VerdictKind::Valid, Cow::Borrowed("signature valid")),
            Err((v, d)) => (v, Cow::Owned(d)),
        };
        Verdict {
            scheme: self.scheme,
            verdict,
            detail,
            enforced: self.enforced,
        }
    }

    /// A verdict for a webhook whose secret cannot be opened on this node.
    pub fn unusable(settings: &Settings) -> Verdict {
        Verdict {
            scheme: settings.scheme,
            verdict: VerdictKind::Invalid,
            detail: Cow::Borrowed(
                "the webhook's verification secret cannot be opened on this server",
            ),
            enforced: settings.mode == super::Mode::Enforce,
        }
    }

    fn check<H: HeaderSource + ?Sized>(
        &self,
        h: &H,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), (VerdictKind, String)> {
        let sig_header = self.header.as_str();
        if h.values(sig_header).next().is_none() {
            return Err(missing(sig_header, &self.describes));
        }
        match self.scheme {
            Scheme::StandardWebhooks => {
                let id = first(h, "webhook-id")
                    .ok_or_else(|| missing("webhook-id", "the message id"))?;
                let ts = first(h, "webhook-timestamp")
                    .ok_or_else(|| missing("webhook-timestamp", "unix seconds"))?;
                self.fresh("webhook-timestamp", ts, now_ms)?;
                let tags = self.tags(&[id, b".", ts, b".", body], now_ms);
                let sigs = h.values(sig_header).flat_map(|v| {
                    v.split(|b| b.is_ascii_whitespace())
                        .filter_map(|s| s.strip_prefix(b"v1,"))
                });
                self.compare(sigs, Encoding::Base64, &tags, || {
                    "has no v1,<base64> signature".to_string()
                })
            }
            Scheme::Stripe => {
                let fields = || {
                    h.values(sig_header)
                        .flat_map(|v| v.split(|b| *b == b','))
                        .map(trim)
                };
                let ts = fields()
                    .find_map(|f| f.strip_prefix(b"t="))
                    .ok_or_else(|| bad_format(sig_header, "has no t=<timestamp>"))?;
                self.fresh("Stripe-Signature t", ts, now_ms)?;
                let tags = self.tags(&[ts, b".", body], now_ms);
                let sigs = fields().filter_map(|f| f.strip_prefix(b"v1="));
                self.compare(sigs, Encoding::Hex, &tags, || {
                    "has no v1=<hex> signature".to_string()
                })
            }
            Scheme::Slack => {
                let ts = first(h, "X-Slack-Request-Timestamp")
                    .ok_or_else(|| missing("X-Slack-Request-Timestamp", "unix seconds"))?;
                self.fresh("X-Slack-Request-Timestamp", ts, now_ms)?;
                let tags = self.tags(&[b"v0:", ts, b":", body], now_ms);
                let sigs = self.listed(h).filter_map(|s| strip_prefix_ci(s, b"v0="));
                self.compare(sigs, Encoding::Hex, &tags, || {
                    "is not v0=<hex signature>".to_string()
                })
            }
            Scheme::Github => {
                let tags = self.tags(&[body], now_ms);
                let sigs = self
                    .listed(h)
                    .filter_map(|s| strip_prefix_ci(s, b"sha256="));
                self.compare(sigs, Encoding::Hex, &tags, || {
                    "is not sha256=<hex signature>".to_string()
                })
            }
            Scheme::Shopify => {
                let tags = self.tags(&[body], now_ms);
                self.compare(self.listed(h), Encoding::Base64, &tags, || {
                    "is not a base64 signature".to_string()
                })
            }
            Scheme::Hmac => {
                let tags = self.tags(&[body], now_ms);
                let prefix = self.prefix.as_deref().unwrap_or("").as_bytes();
                let sigs = self.listed(h).filter_map(|s| strip_prefix_ci(s, prefix));
                self.compare(sigs, self.encoding, &tags, || {
                    format!("is not of the form {}", self.describes)
                })
            }
        }
    }

    /// The signature header's values, split at commas (repeated headers and lists alike).
    fn listed<'a, H: HeaderSource + ?Sized>(&'a self, h: &'a H) -> impl Iterator<Item = &'a [u8]> {
        h.values(&self.header)
            .flat_map(|v| v.split(|b| *b == b','))
            .map(trim)
            .filter(|s| !s.is_empty())
    }

    /// The MAC of `parts` under each secret valid at `now_ms` (at most two).
    fn tags(&self, parts: &[&[u8]], now_ms: i64) -> [Option<Tag>; 2] {
        let mut out = [None, None];
        for (slot, (mac, until)) in out.iter_mut().zip(&self.keys) {
            if until.is_none_or(|t| now_ms < t) {
                *slot = Some(mac.tag(parts));
            }
        }
        out
    }

    /// Whether any of `sigs` (encoded as `enc`) equals one of `tags`; every one is compared.
    fn compare<'a>(
        &self,
        sigs: impl Iterator<Item = &'a [u8]>,
        enc: Encoding,
        tags: &[Option<Tag>; 2],
        malformed: impl FnOnce() -> String,
    ) -> Result<(), (VerdictKind, String)> {
        let mut seen = 0usize;
        let mut matched = false;
        let mut buf = [0u8; SIG_MAX];
        for s in sigs {
            let Some(n) = decode(enc, s, &mut buf) else {
                continue;
            };
            seen += 1;
            for t in tags.iter().flatten() {
                matched |= t.matches(&buf[..n]);
            }
        }
        if matched {
            Ok(())
        } else if seen == 0 {
            Err(bad_format(&self.header, &malformed()))
        } else {
            Err((
                VerdictKind::Invalid,
                format!(
                    "no signature in the {} header matches: expected the {} with the webhook's \
                     secret (the body is verified exactly as received)",
                    self.header, self.describes
                ),
            ))
        }
    }

    /// Checks a timestamp header: unix seconds within `tolerance_seconds` of now.
    fn fresh(&self, name: &str, ts: &[u8], now_ms: i64) -> Result<(), (VerdictKind, String)> {
        let secs = std::str::from_utf8(ts)
            .ok()
            .filter(|t| !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| {
                (
                    VerdictKind::Invalid,
                    format!("the {name} is not a timestamp in unix seconds"),
                )
            })?;
        let off = now_ms.div_euclid(1000) - secs;
        if off.abs() > self.tolerance_seconds {
            let (n, way) = if off > 0 {
                (off, "in the past")
            } else {
                (-off, "in the future")
            };
            return Err((
                VerdictKind::Invalid,
                format!(
                    "the {name} {secs} is {n} seconds {way}, outside the tolerance of {} \
                     seconds (tolerance_seconds)",
                    self.tolerance_seconds
                ),
            ));
        }
        Ok(())
    }
}

fn first<'a, H: HeaderSource + ?Sized>(h: &'a H, name: &'static str) -> Option<&'a [u8]> {
    h.values(name).next().map(trim)
}

fn missing(name: &str, what: &str) -> (VerdictKind, String) {
    (
        VerdictKind::Missing,
        format!("the request has no {name} header (expected: {what})"),
    )
}

fn bad_format(name: &str, what: &str) -> (VerdictKind, String) {
    (VerdictKind::Invalid, format!("the {name} header {what}"))
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Decodes a signature into `out`; its length, or `None` if it is not `enc`.
fn decode(enc: Encoding, s: &[u8], out: &mut [u8; SIG_MAX]) -> Option<usize> {
    match enc {
        Encoding::Base64 => B64.decode_slice(s, out).ok(),
        Encoding::Hex => {
            if !s.len().is_multiple_of(2) || s.len() / 2 > SIG_MAX {
                return None;
            }
            for (i, pair) in s.chunks_exact(2).enumerate() {
                out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
            }
            Some(s.len() / 2)
        }
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
