//! Signature verification of webhook requests (SPEC §9, check 5b): a webhook's `verification`
//! settings, how an API input changes them, and the verdict on a request. The HMAC work is in
//! [`check`]; sealing the secret at rest is the store's.
//!
//! The secret never appears here in anything that is serialised, shown or logged: [`Settings`]
//! holds no secret, [`Secrets`] is only ever sealed, and [`Verifier`] keeps keyed MAC states.

mod check;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use base64::Engine;
use serde::{Deserialize, Serialize};

pub use check::{HeaderSource, Verifier};

/// Default `tolerance_seconds` of the timestamped schemes.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;
/// Largest `tolerance_seconds` and `previous_secret_grace_seconds` (30 days).
pub const MAX_SECONDS: u64 = 30 * 86_400;

/// `standard_webhooks` (headers `webhook-id`, `webhook-timestamp`, `webhook-signature`:
/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several space-separated), `github`
/// (`X-Hub-Signature-256: sha256=<hex>` of the body), `stripe` (`Stripe-Signature:
/// t=…,v1=<hex HMAC-SHA256 of "t.body">`), `slack` (`X-Slack-Signature: v0=<hex HMAC-SHA256 of
/// "v0:ts:body">` with `X-Slack-Request-Timestamp`), `shopify` (`X-Shopify-Hmac-Sha256: <base64
/// HMAC-SHA256 of the body>`), or the generic `hmac` (`header`, `algorithm`, `encoding`,
/// `prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    StandardWebhooks,
    Github,
    Stripe,
    Slack,
    Shopify,
    Hmac,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard_webhooks",
            Scheme::Github => "github",
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
            Scheme::Shopify => "shopify",
            Scheme::Hmac => "hmac",
        }
    }

    /// Whether the scheme signs a timestamp (and `tolerance_seconds` applies).
    pub fn timestamped(self) -> bool {
        matches!(
            self,
            Scheme::StandardWebhooks | Scheme::Stripe | Scheme::Slack
        )
    }

    pub const ALL: [Scheme; 6] = [
        Scheme::StandardWebhooks,
        Scheme::Github,
        Scheme::Stripe,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Hmac,
    ];
}

/// The generic `hmac` scheme's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// How the generic `hmac` scheme writes the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Hex,
    Base64,
}

/// `enforce`: a request that fails verification is refused with 401. `log_only`: it is accepted,
/// and its delivery and runs see the verdict (to switch verification on without dropping
/// traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    LogOnly,
}

/// A webhook's verification settings, without the secret: what the API shows and what the
/// webhook row keeps in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub scheme: Scheme,
    /// The generic scheme's header, algorithm, encoding and optional prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub tolerance_seconds: u64,
    pub mode: Mode,
    pub require_api_key: bool,
    /// Until when (unix ms) the secret replaced by the last change keeps verifying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<i64>,
}

/// The secrets of a verification, as sealed at rest (never shown).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Signature verification (SPEC §9, check 5b: after the body is read, before the rate limits;
/// the HMAC is computed over the exact bytes received and compared in constant time). On create
/// `scheme` and `secret` are required; on `PATCH` a field left out keeps its value (a change of
/// scheme starts from that scheme's defaults) and `secret` may be left out to keep the secret.
/// Invalid input answers 400.
#[derive(Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VerificationInput))]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub scheme: Option<Scheme>,
    /// The shared secret; write-only, sealed at rest, never shown. `standard_webhooks`: a
    /// `whsec_<base64>` secret is the decoded bytes; any other secret is its UTF-8 bytes.
    pub secret: Option<String>,
    /// With a new `secret`: the old one keeps verifying this many seconds.
    pub previous_secret_grace_seconds: Option<u64>,
    /// Timestamped schemes (`standard_webhooks`, `stripe`, `slack`): how far the signed
    /// timestamp may be from now, in either direction.
    pub tolerance_seconds: Option<u64>,
    pub mode: Option<Mode>,
    /// `false` (only with `mode: enforce`, else 400): signed requests need no `api_key`; a key
    /// sent anyway is not checked.
    pub require_api_key: Option<bool>,
    /// `hmac` only (required there): the request header carrying the signature. Several
    /// signatures may come as repeated headers or separated by commas.
    pub header: Option<String>,
    /// `hmac` only.
    pub algorithm: Option<Algorithm>,
    /// `hmac` only.
    pub encoding: Option<Encoding>,
    /// `hmac` only: text before the signature, e.g. `sha256=` (compared case-insensitively).
    pub prefix: Option<String>,
}

/// Why an input cannot be applied (answered 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(msg: impl Into<String>) -> InputError {
    InputError(msg.into())
}

/// The verification that results from applying `input` to what a webhook has (`current`) at
/// `now_ms`: settings and secrets to seal.
pub fn apply(
    current: Option<(&Settings, &Secrets)>,
    input: Input,
    now_ms: i64,
) -> Result<(Settings, Secrets), InputError> {
    let scheme = match (input.scheme, current) {
        (Some(s), _) => s,
        (None, Some((c, _))) => c.scheme,
        (None, None) => {
            return Err(bad(format!(
                "verification.scheme is required: one of {}",
                scheme_names()
            )));
        }
    };
    // Settings of the same scheme carry over; another scheme starts from its defaults.
    let base = current.filter(|(c, _)| c.scheme == scheme).map(|(c, _)| c);
    let generic = scheme == Scheme::Hmac;
    if !generic
        && (input.header.is_some()
            || input.algorithm.is_some()
            || input.encoding.is_some()
            || input.prefix.is_some())
    {
        return Err(bad(format!(
            "verification.header, algorithm, encoding and prefix belong to the generic scheme \
             hmac; the {} scheme fixes them",
            scheme.as_str()
        )));
    }
    let header = input.header.or_else(|| base.and_then(|b| b.header.clone()));
    let header = match (generic, header) {
        (true, Some(h)) => Some(valid_header(&h)?),
        (true, None) => {
            return Err(bad(
                "verification.header is required with the hmac scheme: the request header that \
                 carries the signature (e.g. X-Signature)",
            ));
        }
        (false, _) => None,
    };
    let prefix = input.prefix.or_else(|| base.and_then(|b| b.prefix.clone()));
    if let Some(p) = &prefix
        && (p.len() > 64 || p.chars().any(|c| c.is_control() || c == ','))
    {
        return Err(bad(
            "verification.prefix must be at most 64 characters, without commas or control \
             characters",
        ));
    }
    let tolerance = input
        .tolerance_seconds
        .or(base.map(|b| b.tolerance_seconds))
        .unwrap_or(DEFAULT_TOLERANCE_SECONDS);
    if tolerance == 0 || tolerance > MAX_SECONDS {
        return Err(bad(format!(
            "verification.tolerance_seconds must be 1 to {MAX_SECONDS}, got {tolerance}"
        )));
    }
    let mode = input
        .mode
        .or(current.map(|(c, _)| c.mode))
        .unwrap_or_default();
    let require_api_key = input
        .require_api_key
        .or(current.map(|(c, _)| c.require_api_key))
        .unwrap_or(true);
    if !require_api_key && mode != Mode::Enforce {
        return Err(bad(
            "verification.require_api_key may be false only with mode enforce: in log_only mode \
             a request that fails verification is accepted, so the key must still be checked",
        ));
    }
    let (secrets, previous_until) = match (input.secret, current) {
        (Some(new), cur) => {
            let new = valid_secret(scheme, new)?;
            match (input.previous_secret_grace_seconds, cur) {
                (Some(g), _) if g > MAX_SECONDS => {
                    return Err(bad(format!(
                        "verification.previous_secret_grace_seconds must be at most \
                         {MAX_SECONDS}, got {g}"
                    )));
                }
                (Some(g), Some((_, old))) if g > 0 && old.secret != new => (
                    Secrets {
                        secret: new,
                        previous: Some(old.secret.clone()),
                    },
                    Some(now_ms + g as i64 * 1000),
                ),
                _ => (
                    Secrets {
                        secret: new,
                        previous: None,
                    },
                    None,
                ),
            }
        }
        (None, Some((c, s))) => {
            if input.previous_secret_grace_seconds.is_some() {
                return Err(bad(
                    "verification.previous_secret_grace_seconds is set with a new secret: \
                     it says how long the old one keeps verifying",
                ));
            }
            // An old secret still in its grace keeps it.
            let until = c.previous_secret_expires_at.filter(|t| *t > now_ms);
            (
                Secrets {
                    secret: s.secret.clone(),
                    previous: until.and(s.previous.clone()),
                },
                until,
            )
        }
        (None, None) => {
            return Err(bad(
                "verification.secret is required: the secret the sender signs with",
            ));
        }
    };
    // A secret for one scheme may not be one for another (a whsec_ secret's form).
    valid_secret(scheme, secrets.secret.clone())?;
    Ok((
        Settings {
            scheme,
            header,
            algorithm: generic.then(|| {
                input
                    .algorithm
                    .or(base.and_then(|b| b.algorithm))
                    .unwrap_or(Algorithm::Sha256)
            }),
            encoding: generic.then(|| {
                input
                    .encoding
                    .or(base.and_then(|b| b.encoding))
                    .unwrap_or(Encoding::Hex)
            }),
            prefix: prefix.filter(|p| generic && !p.is_empty()),
            tolerance_seconds: tolerance,
            mode,
            require_api_key,
            previous_secret_expires_at: previous_until,
        },
        secrets,
    ))
}

fn scheme_names() -> String {
    Scheme::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn valid_header(h: &str) -> Result<String, InputError> {
    let h = h.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if h.is_empty() || h.len() > 100 || !h.chars().all(token) {
        return Err(bad(format!(
            "verification.header {h:?} is not an HTTP header name"
        )));
    }
    Ok(h.to_string())
}

fn valid_secret(scheme: Scheme, secret: String) -> Result<String, InputError> {
    if secret.is_empty() || secret.len() > 1024 {
        return Err(bad("verification.secret must be 1 to 1024 characters"));
    }
    if scheme == Scheme::StandardWebhooks && secret.starts_with("whsec_") {
        let _ = key_bytes(scheme, &secret).ok_or_else(|| {
            bad("verification.secret starts with whsec_ but what follows is not standard base64")
        })?;
    }
    Ok(secret)
}

/// The HMAC key of a secret: `standard_webhooks` takes a `whsec_<base64>` secret as the decoded
/// bytes; any other secret is its UTF-8 bytes.
pub fn key_bytes(scheme: Scheme, secret: &str) -> Option<Vec<u8>> {
    match secret.strip_prefix("whsec_") {
        Some(b64) if scheme == Scheme::StandardWebhooks => {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .filter(|k| !k.is_empty())
        }
        _ => Some(secret.as_bytes().to_vec()),
    }
}

/// What the ingest path keeps of a webhook's verification: the settings, the secrets still
/// sealed (as read from the row), and — once the first request needed it — the verifier built
/// from them. The verifier is built once per webhook version on each node, not per request.
pub struct Spec {
    pub settings: Settings,
    pub sealed: Vec<u8>,
    verifier: OnceLock<Option<Arc<Verifier>>>,
}

impl Spec {
    pub fn new(settings: Settings, sealed: Vec<u8>) -> Spec {
        Spec {
            settings,
            sealed,
            verifier: OnceLock::new(),
        }
    }

    /// The verifier, unsealing the secrets with `open` the first time. `None` when they cannot
    /// be opened (another master key): every request then fails verification.
    pub fn verifier(&self, open: impl FnOnce(&[u8]) -> Option<Secrets>) -> Option<&Arc<Verifier>> {
        self.verifier
            .get_or_init(|| {
                let secrets = open(&self.sealed)?;
                Verifier::new(&self.settings, &secrets).map(Arc::new)
            })
            .as_ref()
    }
}

impl PartialEq for Spec {
    fn eq(&self, other: &Spec) -> bool {
        self.settings == other.settings && self.sealed == other.sealed
    }
}

impl Eq for Spec {}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// `missing`: the signature (or timestamp) header is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Valid,
    Invalid,
    /// The signature (or its timestamp) header is not there.
    Missing,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Valid => "valid",
            VerdictKind::Invalid => "invalid",
            VerdictKind::Missing => "missing",
        }
    }
}

/// Check 5b's verdict on one request as its delivery records it (`verification`) and the runs it
/// started see it (`trigger.verification`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Verdict))]
pub struct RecordedVerdict<'a> {
    pub scheme: Scheme,
    pub verdict: VerdictKind,
    /// What was wrong (missing header, bad format, timestamp outside tolerance, no signature
    /// matches), or `signature valid`.
    pub detail: &'a str,
}

/// Check 5b's verdict on one request: recorded on its delivery as `verification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub scheme: Scheme,
    pub verdict: VerdictKind,
    /// What was wrong (or `signature valid`, without an allocation); never holds a secret.
    pub detail: std::borrow::Cow<'static, str>,
    /// The webhook refuses a request that fails (mode `enforce`).
    pub enforced: bool,
}

impl Verdict {
    /// Whether the request is refused for it.
    pub fn refuses(&self) -> bool {
        self.enforced && self.verdict != VerdictKind::Valid
    }

    /// The delivery's `verification` (and the run's `trigger.verification`).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(RecordedVerdict {
            scheme: self.scheme,
            verdict: self.verdict,
            detail: &self.detail,
        })
        .unwrap_or_default()
    }

    /// The delivery's `verification` as recorded (JSON text).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}
