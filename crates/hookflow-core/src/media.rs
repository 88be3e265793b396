//! Media types as SPEC §2 compares them: the `Accept` check (check 3) and the strict
//! `Content-Type` check (check 4). Comparison is case-insensitive and ignores whitespace, but a
//! parameter present on one side and absent on the other is a mismatch (the replaced product was
//! strict, and sources rely on that behaviour being reproduced).

use crate::body::BodyFormat;

/// The request content types a webhook can be configured with (SPEC §2).
pub const WEBHOOK_CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/xml",
];

/// A media type reduced to the form that SPEC §2 compares: lower-cased type/subtype and
/// lower-cased `name=value` parameters in their order, with all whitespace and quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// Parses a media type leniently; `None` when there is no `type/subtype`.
    pub fn parse(text: &str) -> Option<MediaType> {
        let mut parts = text.split(';');
        let essence: String = parts
            .next()?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        let (ty, sub) = essence.split_once('/')?;
        if ty.is_empty() || sub.is_empty() || sub.contains('/') {
            return None;
        }
        let mut params = Vec::new();
        for p in parts {
            let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
            if p.is_empty() {
                continue;
            }
            let (name, value) = p.split_once('=').unwrap_or((p.as_str(), ""));
            let value = value.trim_matches('"');
            params.push((name.to_ascii_lowercase(), value.to_ascii_lowercase()));
        }
        Some(MediaType { essence, params })
    }

    /// The canonical text, e.g. `application/json; charset=utf-8`.
    pub fn canonical(&self) -> String {
        let mut s = self.essence.clone();
        for (n, v) in &self.params {
            s.push_str("; ");
            s.push_str(n);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// The body format this media type announces, if it is one hookflow parses.
    pub fn body_format(&self) -> Option<BodyFormat> {
        match self.essence.as_str() {
            "application/json" => Some(BodyFormat::Json),
            "application/x-www-form-urlencoded" => Some(BodyFormat::Form),
            "application/xml" => Some(BodyFormat::Xml),
            e if e.starts_with("application/") && e.ends_with("+json") => Some(BodyFormat::Json),
            e if e.ends_with("+xml") => Some(BodyFormat::Xml),
            // SPEC §9: `text/*` bodies are given to runs as a string (`text/xml` too).
            e if e.starts_with("text/") => Some(BodyFormat::Text),
            _ => None,
        }
    }
}

/// Normalises a content type a user configures on a webhook; `None` if it is neither one of
/// [`WEBHOOK_CONTENT_TYPES`] nor one of the operator's `extra` types (SPEC §9
/// `--extra-content-types`, given in their [`MediaType::canonical`] form).
pub fn webhook_content_type(text: &str, extra: &[String]) -> Option<String> {
    let wanted = MediaType::parse(text)?;
    WEBHOOK_CONTENT_TYPES
        .into_iter()
        .map(str::to_string)
        .chain(extra.iter().cloned())
        .find(|t| MediaType::parse(t).as_ref() == Some(&wanted))
}

/// The operator's `--extra-content-types` (comma-separated) in canonical form, without the four
/// types every webhook may use and without repeats; `Err` names a type that does not parse.
pub fn extra_content_types(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let m = MediaType::parse(t)
            .filter(|m| !m.essence.contains('*'))
            .ok_or_else(|| format!("{t:?} is not a media type (type/subtype)"))?;
        let c = m.canonical();
        if webhook_content_type(&c, &[]).is_none() && !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// SPEC §2 check 4: the request's `Content-Type` equals the configured one (case and whitespace
/// insensitive; parameters must be the same set, in any order).
pub fn content_type_matches(configured: &str, received: &str) -> bool {
    match (MediaType::parse(configured), MediaType::parse(received)) {
        (Some(a), Some(b)) => {
            if a.essence != b.essence || a.params.len() != b.params.len() {
                return false;
            }
            let mut pa = a.params.clone();
            let mut pb = b.params.clone();
            pa.sort();
            pb.sort();
            pa == pb
        }
        _ => false,
    }
}

/// SPEC §2 check 3: an `Accept` header admits `application/json` when one of its ranges is
/// `application/json`, `application/*` or `*/*` with a non-zero quality.
pub fn accept_admits_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let Some(m) = MediaType::parse(range) else {
            return false;
        };
        let admits = matches!(
            m.essence.as_str(),
            "application/json" | "application/*" | "*/*"
        );
        let q_zero = m
            .params
            .iter()
            .any(|(n, v)| n == "q" && v.parse::<f32>().map(|q| q <= 0.0).unwrap_or(false));
        admits && !q_zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_cases() {
        assert!(content_type_matches(
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8"
        ));
        assert!(content_type_matches("application/json", "Application/JSON"));
        assert!(!content_type_matches(
            "application/json",
            "application/json; charset=utf-8"
        ));
        assert!(!content_type_matches(
            "application/json; charset=utf-8",
            "application/json"
        ));
        assert!(!content_type_matches("application/xml", "text/xml"));
        assert!(!content_type_matches("application/json", ""));
        assert!(content_type_matches(
            "application/x-www-form-urlencoded",
            " application/x-www-form-urlencoded "
        ));
    }

    #[test]
    fn accept_cases() {
        for ok in [
            "application/json",
            "*/*",
            "application/*",
            "text/html, application/json;q=0.5",
            "APPLICATION/JSON",
        ] {
            assert!(accept_admits_json(ok), "{ok}");
        }
        for bad in ["text/html", "", "application/xml", "application/json;q=0"] {
            assert!(!accept_admits_json(bad), "{bad}");
        }
    }

    #[test]
    fn configured_types_normalise() {
        assert_eq!(
            webhook_content_type("application/json;charset=UTF-8", &[]).as_deref(),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(webhook_content_type("text/plain", &[]), None);
        let extra =
            extra_content_types(" text/plain ,Application/CloudEvents+JSON,text/plain").unwrap();
        assert_eq!(extra, ["text/plain", "application/cloudevents+json"]);
        assert_eq!(
            webhook_content_type("TEXT/PLAIN", &extra).as_deref(),
            Some("text/plain")
        );
        assert!(extra_content_types("text").is_err());
        assert!(extra_content_types("text/*").is_err());
        assert_eq!(
            extra_content_types("application/json").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn extra_types_have_formats() {
        let f = |t: &str| MediaType::parse(t).and_then(|m| m.body_format());
        assert_eq!(f("application/cloudevents+json"), Some(BodyFormat::Json));
        assert_eq!(f("text/plain; charset=utf-8"), Some(BodyFormat::Text));
        assert_eq!(f("application/x-ndjson"), None);
    }
}
