//! Request body checks and parsing (SPEC §2 check 7 and §3 `trigger.body`).
//!
//! * [`validate`] is the cheap check run on ingest: it walks the body without building a value.
//! * [`parse`] builds the `trigger.body` value: JSON as is, form-urlencoded as an object of
//!   strings, XML by the xmltodict convention.
//! * [`form_to_value`] turns form-urlencoded text (also URL query strings) into an object.
//!
//! This file owns the formats, the error and the dispatch; each content family has its own
//! file: `json.rs` (depth pre-scan and the value-free check), `form.rs` (form-urlencoded and
//! the repeated-key convention XML shares), `xml.rs` (the xmltodict walker) and `limits.rs`
//! (the shape bounds every family obeys).
//!
//! Nothing here recurses on input depth (the XML walker keeps an explicit stack, and JSON
//! nesting is bounded before serde_json sees the text) and nothing panics on any input.

use serde_json::Value;

mod form;
mod json;
mod limits;
mod xml;

#[cfg(test)]
mod tests;

pub use form::form_to_value;
pub use limits::{BodyLimits, JSON_MAX_DEPTH};

/// The body formats a webhook can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (with or without `charset=utf-8`).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/xml`.
    Xml,
    /// `text/*` (an operator's `--extra-content-types`): the body is given to runs as a string.
    Text,
}

/// Why a body was refused. `Display` is a sentence fit for an HTTP 400 `detail`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The bytes are not UTF-8.
    #[error("the body is not valid UTF-8 (invalid byte sequence at byte offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// serde_json refused the body.
    #[error("the body is not valid JSON: {message}")]
    Json {
        /// serde_json's explanation, with line and column.
        message: String,
    },
    /// The XML is not well-formed (or uses a construct that is not accepted).
    #[error("the body is not valid XML: {message}")]
    Xml {
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// Nesting deeper than the limit.
    #[error("the body nests deeper than {limit} levels")]
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Too many XML elements and attributes.
    #[error("the body has more than {limit} XML elements and attributes")]
    TooManyNodes {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An XML entity reference other than the five predefined ones. Entities declared in a
    /// DOCTYPE are never expanded.
    #[error(
        "the body is not valid XML: it references the entity `&{name};`, which is not defined; \
         only the predefined entities (&lt; &gt; &amp; &apos; &quot;) and character references \
         are accepted, entities declared in a DOCTYPE are not expanded"
    )]
    UnknownEntity {
        /// The entity's name, without `&` and `;`.
        name: String,
    },
}

/// Checks that `body` parses as `format` without building the value (cheap path used on ingest).
///
/// Accepts exactly the bodies that [`parse`] accepts, with the same error.
pub fn validate(format: BodyFormat, body: &[u8], limits: &BodyLimits) -> Result<(), BodyError> {
    if body.is_empty() {
        return Ok(());
    }
    let text = utf8(body)?;
    match format {
        BodyFormat::Json => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(());
            }
            json::validate(text, limits)
        }
        BodyFormat::Form | BodyFormat::Text => Ok(()),
        BodyFormat::Xml => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(());
            }
            xml::walk(text, limits, false).map(|_| ())
        }
    }
}

/// Parses into the trigger value of SPEC §3. An empty body (zero bytes, or only whitespace for
/// JSON/XML) is `Ok(Value::Null)`.
pub fn parse(format: BodyFormat, body: &[u8], limits: &BodyLimits) -> Result<Value, BodyError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let text = utf8(body)?;
    match format {
        BodyFormat::Json => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(Value::Null);
            }
            json::parse(text, limits)
        }
        BodyFormat::Form => Ok(form_to_value(text)),
        BodyFormat::Text => Ok(Value::String(text.to_string())),
        BodyFormat::Xml => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(Value::Null);
            }
            Ok(xml::walk(text, limits, true)?.unwrap_or(Value::Null))
        }
    }
}

pub(super) fn utf8(body: &[u8]) -> Result<&str, BodyError> {
    std::str::from_utf8(body).map_err(|e| BodyError::NotUtf8 {
        offset: e.valid_up_to(),
    })
}

pub(super) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Only JSON/XML whitespace (space, tab, CR, LF).
pub(super) fn is_blank(text: &str) -> bool {
    text.bytes().all(is_xml_space)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}
