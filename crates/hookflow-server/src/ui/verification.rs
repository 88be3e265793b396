//! The webhook form's **Signature verification** section (SPEC §9): its fields to the API's
//! `verification` input, and back to values to fill the form again. The secret field is never
//! filled: left blank on an edit, the secret is kept.

use hookflow_core::verify::Input;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::Fields;
use crate::problem::Problem;

/// Schemes the form offers (the first, empty, is "none").
pub const SCHEMES: [&str; 7] = [
    "",
    "standard_webhooks",
    "github",
    "stripe",
    "slack",
    "shopify",
    "hmac",
];

fn choice<T: DeserializeOwned>(f: &Fields, name: &str, label: &str) -> Result<Option<T>, Problem> {
    match f.non_empty(name) {
        None => Ok(None),
        Some(v) => serde_json::from_value(json!(v))
            .map(Some)
            .map_err(|_| Problem::bad_request(format!("{label} {v:?} is not one of the choices"))),
    }
}

/// The `verification` input the form asks for: `None` when no scheme is chosen.
pub fn input(f: &Fields) -> Result<Option<Input>, Problem> {
    let Some(scheme) = choice(f, "verify_scheme", "Scheme")? else {
        return Ok(None);
    };
    let generic = f.get("verify_scheme") == Some("hmac");
    Ok(Some(Input {
        scheme: Some(scheme),
        secret: f
            .get("verify_secret")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        previous_secret_grace_seconds: f.number("verify_grace", "Keep the old secret for")?,
        tolerance_seconds: f.number("verify_tolerance", "Timestamp tolerance")?,
        mode: choice(f, "verify_mode", "Mode")?,
        require_api_key: Some(f.get("verify_require_api_key").is_some()),
        header: f.non_empty("verify_header").filter(|_| generic),
        algorithm: if generic {
            choice(f, "verify_algorithm", "Algorithm")?
        } else {
            None
        },
        encoding: if generic {
            choice(f, "verify_encoding", "Encoding")?
        } else {
            None
        },
        prefix: f.non_empty("verify_prefix").filter(|_| generic),
    }))
}

/// What the section's fields held, to fill the form again after an error.
pub fn values(f: &Fields) -> Json {
    json!({
        "scheme": f.get("verify_scheme").unwrap_or(""),
        "mode": f.get("verify_mode").unwrap_or("enforce"),
        "tolerance_seconds": f.get("verify_tolerance").unwrap_or(""),
        "require_api_key": f.get("verify_require_api_key").is_some(),
        "header": f.get("verify_header").unwrap_or(""),
        "algorithm": f.get("verify_algorithm").unwrap_or("sha256"),
        "encoding": f.get("verify_encoding").unwrap_or("hex"),
        "prefix": f.get("verify_prefix").unwrap_or(""),
    })
}
