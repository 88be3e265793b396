//! Request body checks and parsing (SPEC §2 check 7 and §3 `trigger.body`).
//!
//! * [`validate`] is the cheap check run on ingest: it walks the body without building a value.
//! * [`parse`] builds the `trigger.body` value: JSON as is, form-urlencoded as an object of
//!   strings, XML by the xmltodict convention.
//! * [`form_to_value`] turns form-urlencoded text (also URL query strings) into an object.
//!
//! Nothing here recurses on input depth (the XML walker keeps an explicit stack, and JSON
//! nesting is bounded before serde_json sees the text) and nothing panics on any input.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::errors::IllFormedError;
use quick_xml::escape::{EscapeError, unescape_with};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

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

/// Bounds on the shape of a body, so that a hostile 1 MiB body cannot cost unbounded time,
/// stack or memory.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Deepest allowed nesting: JSON arrays/objects, XML elements (the root element is level 1).
    /// JSON is additionally capped at [`JSON_MAX_DEPTH`] by serde_json.
    pub max_depth: usize,
    /// Most XML elements plus attributes in one body.
    pub max_nodes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_depth: 128,
            max_nodes: 200_000,
        }
    }
}

/// serde_json's built-in recursion limit (kept on) allows at most this many nested
/// arrays/objects, whatever [`BodyLimits::max_depth`] says.
pub const JSON_MAX_DEPTH: usize = 127;

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
            let limit = json_limit(limits);
            check_json_depth(text, limit)?;
            serde_json::from_str::<JsonCheck>(text)
                .map(|_| ())
                .map_err(|e| json_error(e, limit))
        }
        BodyFormat::Form | BodyFormat::Text => Ok(()),
        BodyFormat::Xml => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(());
            }
            xml_walk(text, limits, false).map(|_| ())
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
            let limit = json_limit(limits);
            check_json_depth(text, limit)?;
            serde_json::from_str::<Value>(text).map_err(|e| json_error(e, limit))
        }
        BodyFormat::Form => Ok(form_to_value(text)),
        BodyFormat::Text => Ok(Value::String(text.to_string())),
        BodyFormat::Xml => {
            let text = strip_bom(text);
            if is_blank(text) {
                return Ok(Value::Null);
            }
            Ok(xml_walk(text, limits, true)?.unwrap_or(Value::Null))
        }
    }
}

/// Form-urlencoded text (also used for URL query strings) to an object of strings; a repeated
/// key becomes an array of strings (in order). `+` means space, percent-decoding as usual
/// (a percent-encoded sequence that is not UTF-8 decodes to U+FFFD).
pub fn form_to_value(text: &str) -> Value {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        push_value(&mut map, key, Value::String(value.into_owned()));
    }
    Value::Object(map)
}

/// Inserts `value` under `key`; a key seen before becomes an array of its values, in order
/// (the form and xmltodict convention).
fn push_value(map: &mut Map<String, Value>, key: Cow<'_, str>, value: Value) {
    match map.get_mut(key.as_ref()) {
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(key.into_owned(), value);
        }
    }
}

fn utf8(body: &[u8]) -> Result<&str, BodyError> {
    std::str::from_utf8(body).map_err(|e| BodyError::NotUtf8 {
        offset: e.valid_up_to(),
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Only JSON/XML whitespace (space, tab, CR, LF).
fn is_blank(text: &str) -> bool {
    text.bytes().all(is_xml_space)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

// ---------------------------------------------------------------------------------------------
// JSON

fn json_limit(limits: &BodyLimits) -> usize {
    limits.max_depth.min(JSON_MAX_DEPTH)
}

/// Refuses JSON text whose arrays/objects nest deeper than `limit`, by a linear scan that
/// skips strings. Malformed text is left for serde_json to explain.
fn check_json_depth(text: &str, limit: usize) -> Result<(), BodyError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(BodyError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Deserializes any JSON value and keeps nothing. Unlike `serde::de::IgnoredAny` (whose
/// skipping path in serde_json does not check number ranges), it makes serde_json parse every
/// value as for `serde_json::Value`, so `validate` refuses exactly what `parse` refuses.
struct JsonCheck;

impl<'de> serde::Deserialize<'de> for JsonCheck {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonCheckVisitor)
    }
}

struct JsonCheckVisitor;

impl<'de> serde::de::Visitor<'de> for JsonCheckVisitor {
    type Value = JsonCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_u64<E>(self, _: u64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_str<E>(self, _: &str) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_unit<E>(self) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonCheck, A::Error> {
        while seq.next_element::<JsonCheck>()?.is_some() {}
        Ok(JsonCheck)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonCheck, A::Error> {
        while map.next_entry::<JsonCheck, JsonCheck>()?.is_some() {}
        Ok(JsonCheck)
    }
}

fn json_error(error: serde_json::Error, limit: usize) -> BodyError {
    let message = error.to_string();
    if message.starts_with("recursion limit exceeded") {
        BodyError::TooDeep { limit }
    } else {
        BodyError::Json { message }
    }
}

// ---------------------------------------------------------------------------------------------
// XML

/// One open element.
struct Frame {
    name: String,
    /// Attributes (`@name`) and children; `None` while the element has neither.
    map: Option<Map<String, Value>>,
    /// All character data of the element, concatenated (trimmed when the element closes).
    text: String,
}

impl Frame {
    /// The element's xmltodict value.
    fn into_value(self) -> Value {
        let text = self.text.trim();
        match self.map {
            None if text.is_empty() => Value::Null,
            None => Value::String(text.to_owned()),
            Some(mut map) => {
                if !text.is_empty() {
                    push_value(
                        &mut map,
                        Cow::Borrowed("#text"),
                        Value::String(text.to_owned()),
                    );
                }
                Value::Object(map)
            }
        }
    }
}

/// Walks the XML document `text` (UTF-8, BOM removed, not blank); when `build`, returns the
/// xmltodict value of the document.
fn xml_walk(text: &str, limits: &BodyLimits, build: bool) -> Result<Option<Value>, BodyError> {
    let mut reader = Reader::from_str(text);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.allow_dangling_amp = false;
        config.allow_unmatched_ends = false;
        config.trim_text(false);
    }

    let mut walker = XmlWalker {
        text,
        limits,
        build,
        stack: Vec::new(),
        root: None,
        root_done: false,
        nodes: 0,
    };
    // Something other than whitespace came before (an XML declaration must come first).
    let mut seen_markup = false;
    let mut seen_doctype = false;

    loop {
        // Where the event starts, for error messages.
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(quick_xml::Error::IllFormed(IllFormedError::UnclosedReference)) => {
                return Err(walker.error_at(reader.error_position(), LONE_AMPERSAND));
            }
            Err(e) => {
                let message = e.to_string();
                return Err(walker.error_at(reader.error_position(), &message));
            }
        };
        match event {
            Event::Decl(_) => {
                if seen_markup {
                    return Err(walker.error_at(
                        pos,
                        "the XML declaration `<?xml ...?>` must be at the start of the body",
                    ));
                }
                seen_markup = true;
            }
            Event::DocType(_) => {
                // The DOCTYPE is ignored: entities it declares are never expanded.
                if seen_doctype || walker.root_done || !walker.stack.is_empty() {
                    return Err(walker.error_at(
                        pos,
                        "a DOCTYPE declaration is only allowed once, before the root element",
                    ));
                }
                seen_doctype = true;
                seen_markup = true;
            }
            Event::PI(_) | Event::Comment(_) => seen_markup = true,
            Event::Start(start) => {
                seen_markup = true;
                let frame = walker.open(&start, pos)?;
                walker.stack.push(frame);
            }
            Event::Empty(start) => {
                seen_markup = true;
                let frame = walker.open(&start, pos)?;
                walker.close(frame);
            }
            Event::End(_) => match walker.stack.pop() {
                Some(frame) => walker.close(frame),
                None => {
                    return Err(walker.error_at(pos, "a closing tag does not match any open tag"));
                }
            },
            Event::Text(chunk) => {
                let content = chunk
                    .xml10_content()
                    .map_err(|e| walker.error_at(pos, &e.to_string()))?;
                if !is_blank(&content) {
                    seen_markup = true;
                }
                walker.text(&content, pos)?;
            }
            Event::CData(chunk) => {
                seen_markup = true;
                let content = chunk
                    .xml10_content()
                    .map_err(|e| walker.error_at(pos, &e.to_string()))?;
                if walker.stack.is_empty() {
                    return Err(walker.error_at(pos, "a CDATA section is outside the root element"));
                }
                walker.text(&content, pos)?;
            }
            Event::GeneralRef(reference) => {
                seen_markup = true;
                let resolved = if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => {
                            return Err(walker.error_at(pos, "invalid character reference"));
                        }
                        Err(e) => return Err(walker.error_at(pos, &e.to_string())),
                    }
                } else {
                    let name = reference
                        .decode()
                        .map_err(|e| walker.error_at(pos, &e.to_string()))?;
                    match predefined_entity(&name).and_then(|s| s.chars().next()) {
                        Some(ch) => ch,
                        None => {
                            return Err(BodyError::UnknownEntity {
                                name: name.into_owned(),
                            });
                        }
                    }
                };
                let mut buf = [0u8; 4];
                walker.text(resolved.encode_utf8(&mut buf), pos)?;
            }
            Event::Eof => break,
        }
    }

    if let Some(frame) = walker.stack.last() {
        let message = format!(
            "the element <{}> is not closed before the end of the body",
            frame.name
        );
        return Err(walker.error_at(text.len() as u64, &message));
    }
    if !walker.root_done {
        return Err(walker.error_at(text.len() as u64, "the body has no root element"));
    }
    Ok(walker.root)
}

struct XmlWalker<'t, 'l> {
    text: &'t str,
    limits: &'l BodyLimits,
    build: bool,
    stack: Vec<Frame>,
    root: Option<Value>,
    root_done: bool,
    nodes: usize,
}

impl XmlWalker<'_, '_> {
    /// An [`BodyError::Xml`] naming the line and column of byte offset `pos`.
    fn error_at(&self, pos: u64, what: &str) -> BodyError {
        let (line, column) = line_column(self.text, pos);
        BodyError::Xml {
            message: format!("{what} (line {line} column {column})"),
        }
    }

    fn count_node(&mut self) -> Result<(), BodyError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(BodyError::TooManyNodes {
                limit: self.limits.max_nodes,
            });
        }
        Ok(())
    }

    /// Checks a start tag and returns its frame (with its attributes).
    fn open(&mut self, start: &BytesStart<'_>, pos: u64) -> Result<Frame, BodyError> {
        let name = std::str::from_utf8(start.name().as_ref())
            .map_err(|e| self.error_at(pos, &e.to_string()))?
            .to_owned();
        if !is_xml_name(&name) {
            let message = format!("`{name}` is not a valid element name");
            return Err(self.error_at(pos, &message));
        }
        if self.root_done {
            let message = format!(
                "there is more than one root element (a second one, <{name}>, comes after the first)"
            );
            return Err(self.error_at(pos, &message));
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(BodyError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        self.count_node()?;

        let mut map: Option<Map<String, Value>> = None;
        // quick-xml's own duplicate check compares each attribute with every earlier one
        // (90,000 attributes cost 17 s of CPU): it is off, and a hash set does it in linear time.
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for attribute in start.attributes().with_checks(false) {
            let attribute = attribute.map_err(|e| {
                let message = format!("in the attributes of <{name}>: {e}");
                self.error_at(pos, &message)
            })?;
            self.count_node()?;
            let key = std::str::from_utf8(attribute.key.into_inner())
                .map_err(|e| self.error_at(pos, &e.to_string()))?;
            if !is_xml_name(key) {
                let message = format!("`{key}` is not a valid attribute name (in <{name}>)");
                return Err(self.error_at(pos, &message));
            }
            if !seen.insert(key.as_bytes()) {
                let message = format!("attribute `{key}` appears twice in <{name}>");
                return Err(self.error_at(pos, &message));
            }
            let raw = std::str::from_utf8(&attribute.value)
                .map_err(|e| self.error_at(pos, &e.to_string()))?;
            if raw.contains('<') {
                let message =
                    format!("the value of attribute `{key}` of <{name}> contains a raw `<`");
                return Err(self.error_at(pos, &message));
            }
            let normalized = normalize_attribute_whitespace(raw);
            let value = match unescape_with(&normalized, predefined_entity) {
                Ok(value) => value,
                Err(EscapeError::UnrecognizedEntity(_, entity)) => {
                    return Err(BodyError::UnknownEntity { name: entity });
                }
                Err(EscapeError::UnterminatedEntity(_)) => {
                    let message =
                        format!("in the value of attribute `{key}` of <{name}>: {LONE_AMPERSAND}");
                    return Err(self.error_at(pos, &message));
                }
                Err(e) => {
                    let message = format!("in the value of attribute `{key}` of <{name}>: {e}");
                    return Err(self.error_at(pos, &message));
                }
            };
            if self.build {
                push_value(
                    map.get_or_insert_with(Map::new),
                    Cow::Owned(format!("@{key}")),
                    Value::String(value.into_owned()),
                );
            }
        }
        Ok(Frame {
            name,
            map,
            text: String::new(),
        })
    }

    /// Ends an element: its value goes into its parent, or becomes the document's.
    fn close(&mut self, frame: Frame) {
        let parent_is_root = self.stack.is_empty();
        if parent_is_root {
            self.root_done = true;
        }
        if !self.build {
            return;
        }
        let name = frame.name.clone();
        let value = frame.into_value();
        match self.stack.last_mut() {
            Some(parent) => push_value(
                parent.map.get_or_insert_with(Map::new),
                Cow::Owned(name),
                value,
            ),
            None => {
                let mut map = Map::new();
                map.insert(name, value);
                self.root = Some(Value::Object(map));
            }
        }
    }

    /// Character data (text, CDATA, resolved references).
    fn text(&mut self, content: &str, pos: u64) -> Result<(), BodyError> {
        match self.stack.last_mut() {
            Some(frame) => {
                if self.build {
                    frame.text.push_str(content);
                }
                Ok(())
            }
            None if is_blank(content) => Ok(()),
            None => Err(self.error_at(pos, "there is text outside the root element")),
        }
    }
}

const LONE_AMPERSAND: &str =
    "a `&` is not followed by a reference name and `;` (write `&amp;` for a literal ampersand)";

/// The five entities every XML document has. Nothing else is ever expanded.
fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "lt" => Some("<"),
        "gt" => Some(">"),
        "amp" => Some("&"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}

/// Attribute-value normalization of XML 1.0 §3.3.3 for CDATA attributes: each literal tab,
/// newline or carriage return (CR LF counting as one) becomes a space. Character references
/// are resolved afterwards, so `&#10;` stays a newline.
fn normalize_attribute_whitespace(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
            }
            '\t' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `Name` of XML 1.0 (5th edition) §2.3; `:` is allowed, so prefixed names are names.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if is_name_start_char(first) => chars.all(is_name_char),
        _ => false,
    }
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
fn line_column(text: &str, pos: u64) -> (usize, usize) {
    let end = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    let before = text.as_bytes().get(..end).unwrap_or_default();
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = 1 + before
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> BodyLimits {
        BodyLimits::default()
    }

    fn json(body: &str) -> Result<Value, BodyError> {
        parse(BodyFormat::Json, body.as_bytes(), &limits())
    }

    fn xml(body: &str) -> Result<Value, BodyError> {
        parse(BodyFormat::Xml, body.as_bytes(), &limits())
    }

    fn form(body: &str) -> Result<Value, BodyError> {
        parse(BodyFormat::Form, body.as_bytes(), &limits())
    }

    /// `validate` accepts exactly what `parse` accepts, with the same error.
    fn agree(format: BodyFormat, body: &[u8]) {
        let parsed = parse(format, body, &limits()).map(|_| ());
        let validated = validate(format, body, &limits());
        assert_eq!(
            parsed,
            validated,
            "{format:?} {:?}",
            String::from_utf8_lossy(body)
        );
    }

    fn xml_err(body: &str) -> String {
        match xml(body) {
            Ok(v) => panic!("expected an error for {body:?}, got {v}"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("the body is not valid XML"),
                    "{body:?}: {message}"
                );
                assert_eq!(
                    validate(BodyFormat::Xml, body.as_bytes(), &limits()),
                    Err(e)
                );
                message
            }
        }
    }

    // ---- JSON

    #[test]
    fn json_ok() {
        assert_eq!(
            json(r#"{"a": [1, "x", null, true], "b": {"c": 1.5}}"#).unwrap(),
            json!({"a": [1, "x", null, true], "b": {"c": 1.5}})
        );
        assert_eq!(json("42").unwrap(), json!(42));
        assert_eq!(json("\u{feff}[1]").unwrap(), json!([1]));
        assert_eq!(validate(BodyFormat::Json, br#"{"a":1}"#, &limits()), Ok(()));
    }

    #[test]
    fn json_empty_is_null() {
        assert_eq!(json("").unwrap(), Value::Null);
        assert_eq!(json(" \r\n\t ").unwrap(), Value::Null);
        assert_eq!(validate(BodyFormat::Json, b"", &limits()), Ok(()));
        assert_eq!(validate(BodyFormat::Json, b"  \n", &limits()), Ok(()));
    }

    #[test]
    fn json_malformed() {
        let err = json(r#"{"a": }"#).unwrap_err();
        assert!(matches!(err, BodyError::Json { .. }));
        assert_eq!(
            err.to_string(),
            "the body is not valid JSON: expected value at line 1 column 7"
        );
        assert!(json("{} {}").is_err());
        assert!(json("[1,]").is_err());
        assert!(json("nul").is_err());
        agree(BodyFormat::Json, br#"{"a": }"#);
        agree(BodyFormat::Json, b"[1, 2");
    }

    #[test]
    fn json_not_utf8() {
        let err = parse(BodyFormat::Json, b"\"\xff\"", &limits()).unwrap_err();
        assert_eq!(err, BodyError::NotUtf8 { offset: 1 });
        assert_eq!(
            err.to_string(),
            "the body is not valid UTF-8 (invalid byte sequence at byte offset 1)"
        );
        agree(BodyFormat::Json, b"\"\xff\"");
    }

    #[test]
    fn json_deep_errors_quickly() {
        let body = "[".repeat(100_000);
        let started = std::time::Instant::now();
        let err = json(&body).unwrap_err();
        assert_eq!(
            err,
            BodyError::TooDeep {
                limit: JSON_MAX_DEPTH
            }
        );
        assert_eq!(err.to_string(), "the body nests deeper than 127 levels");
        assert_eq!(
            validate(BodyFormat::Json, body.as_bytes(), &limits()),
            Err(err)
        );
        let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(json(&closed), Err(BodyError::TooDeep { .. })));
        let objects = r#"{"a":"#.repeat(100_000);
        assert!(matches!(json(&objects), Err(BodyError::TooDeep { .. })));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn json_depth_limits() {
        let at_limit = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(json(&at_limit).is_ok());
        agree(BodyFormat::Json, at_limit.as_bytes());
        let over = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(json(&over), Err(BodyError::TooDeep { limit: 127 }));
        agree(BodyFormat::Json, over.as_bytes());

        let small = BodyLimits {
            max_depth: 2,
            max_nodes: 10,
        };
        assert!(parse(BodyFormat::Json, b"[[1]]", &small).is_ok());
        assert_eq!(
            parse(BodyFormat::Json, b"[[[1]]]", &small),
            Err(BodyError::TooDeep { limit: 2 })
        );
        assert_eq!(
            validate(BodyFormat::Json, b"[[[1]]]", &small),
            Err(BodyError::TooDeep { limit: 2 })
        );
        // Brackets inside strings do not count.
        assert_eq!(
            parse(BodyFormat::Json, br#"["[[[\"[[[", {"{{{": "]]]"}]"#, &small).unwrap(),
            json!(["[[[\"[[[", {"{{{": "]]]"}])
        );
    }

    // ---- form

    #[test]
    fn form_repeated_keys_and_decoding() {
        assert_eq!(
            form("a=1&b=hello+world&a=2&c=x%20y%2Bz&a=3").unwrap(),
            json!({"a": ["1", "2", "3"], "b": "hello world", "c": "x y+z"})
        );
        assert_eq!(form("flag&x=").unwrap(), json!({"flag": "", "x": ""}));
        assert_eq!(
            form("%C3%A9t%C3%A9=%E2%9C%93").unwrap(),
            json!({"été": "✓"})
        );
        agree(BodyFormat::Form, b"a=1&a=2");
    }

    #[test]
    fn form_empty() {
        assert_eq!(form("").unwrap(), Value::Null);
        assert_eq!(form_to_value(""), json!({}));
        assert_eq!(form_to_value("&&"), json!({}));
        assert_eq!(validate(BodyFormat::Form, b"", &limits()), Ok(()));
    }

    #[test]
    fn form_not_utf8() {
        assert_eq!(
            parse(BodyFormat::Form, b"a=\xe9", &limits()),
            Err(BodyError::NotUtf8 { offset: 2 })
        );
        agree(BodyFormat::Form, b"a=\xe9");
        // Percent-encoded non-UTF-8 is decoded lossily, not refused.
        assert_eq!(form("a=%FF").unwrap(), json!({"a": "\u{fffd}"}));
    }

    #[test]
    fn query_string() {
        assert_eq!(
            form_to_value("q=a+b&tag=x&tag=y"),
            json!({"q": "a b", "tag": ["x", "y"]})
        );
    }

    // ---- XML

    #[test]
    fn xml_attributes_and_text() {
        assert_eq!(
            xml(r#"<alert id="7" level='high'>Disk full</alert>"#).unwrap(),
            json!({"alert": {"@id": "7", "@level": "high", "#text": "Disk full"}})
        );
        assert_eq!(xml(r#"<a x="1"/>"#).unwrap(), json!({"a": {"@x": "1"}}));
        assert_eq!(
            xml("<a>  padded text \n </a>").unwrap(),
            json!({"a": "padded text"})
        );
        // Text beside children is concatenated and stripped, like xmltodict.
        assert_eq!(
            xml("<a>\n  head <b>1</b> tail\n</a>").unwrap(),
            json!({"a": {"b": "1", "#text": "head  tail"}})
        );
        // Attribute whitespace normalization; character references survive it.
        assert_eq!(
            xml("<a v=\"x\ty\r\nz&#10;\"/>").unwrap(),
            json!({"a": {"@v": "x y z\n"}})
        );
    }

    #[test]
    fn xml_nested_and_repeated() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<event>
  <severity>high</severity>
  <tags><tag>a</tag><tag>b</tag><other/><tag>c</tag></tags>
  <host name="web1"><ip>10.0.0.1</ip></host>
  <count>3</count>
  <?pi ignored?>
</event>
"#;
        assert_eq!(
            xml(body).unwrap(),
            json!({"event": {
                "severity": "high",
                "tags": {"tag": ["a", "b", "c"], "other": null},
                "host": {"@name": "web1", "ip": "10.0.0.1"},
                "count": "3"
            }})
        );
        agree(BodyFormat::Xml, body.as_bytes());
        assert_eq!(
            xml("<r><i>1</i><i><j>2</j></i><i/></r>").unwrap(),
            json!({"r": {"i": ["1", {"j": "2"}, null]}})
        );
    }

    #[test]
    fn xml_empty_element_is_null() {
        assert_eq!(xml("<a/>").unwrap(), json!({"a": null}));
        assert_eq!(xml("<a></a>").unwrap(), json!({"a": null}));
        assert_eq!(xml("<a>   </a>").unwrap(), json!({"a": null}));
        assert_eq!(xml("<a><b/></a>").unwrap(), json!({"a": {"b": null}}));
    }

    #[test]
    fn xml_empty_body_is_null() {
        assert_eq!(xml("").unwrap(), Value::Null);
        assert_eq!(xml(" \n\t").unwrap(), Value::Null);
        assert_eq!(validate(BodyFormat::Xml, b"  ", &limits()), Ok(()));
    }

    #[test]
    fn xml_cdata() {
        assert_eq!(
            xml("<a><![CDATA[<b>not a tag</b> & stuff]]></a>").unwrap(),
            json!({"a": "<b>not a tag</b> & stuff"})
        );
        assert_eq!(
            xml("<a>x <![CDATA[y]]> z</a>").unwrap(),
            json!({"a": "x y z"})
        );
    }

    #[test]
    fn xml_predefined_entities_and_char_refs() {
        assert_eq!(
            xml(r#"<a t="&lt;&amp;&quot;&#x41;">&lt;&gt;&amp;&apos;&quot; &#65;&#x263A;&#128512;</a>"#)
                .unwrap(),
            json!({"a": {"@t": "<&\"A", "#text": "<>&'\" A☺😀"}})
        );
        assert!(matches!(xml("<a>&#0;</a>"), Err(BodyError::Xml { .. })));
        assert!(matches!(xml("<a>&#xD800;</a>"), Err(BodyError::Xml { .. })));
        assert!(matches!(xml("<a>&#xZZ;</a>"), Err(BodyError::Xml { .. })));
        agree(BodyFormat::Xml, b"<a>&#0;</a>");
    }

    #[test]
    fn xml_doctype_entity_not_expanded() {
        let body = r#"<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>"#;
        let err = xml(body).unwrap_err();
        assert_eq!(err, BodyError::UnknownEntity { name: "e".into() });
        assert!(err.to_string().contains("`&e;`"), "{err}");
        assert!(!err.to_string().contains("boom"));
        agree(BodyFormat::Xml, body.as_bytes());

        // In an attribute too.
        let body = r#"<!DOCTYPE x [<!ENTITY e "boom">]><x a="&e;"/>"#;
        assert_eq!(
            xml(body),
            Err(BodyError::UnknownEntity { name: "e".into() })
        );
        agree(BodyFormat::Xml, body.as_bytes());

        // External entities are refused the same way.
        let body = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>"#;
        assert_eq!(
            xml(body),
            Err(BodyError::UnknownEntity { name: "xxe".into() })
        );

        // A DOCTYPE whose entities are not used is ignored.
        assert_eq!(
            xml(r#"<!DOCTYPE x [<!ENTITY e "boom">]><x>ok</x>"#).unwrap(),
            json!({"x": "ok"})
        );
        assert_eq!(
            xml(r#"<?xml version="1.0"?><!DOCTYPE x SYSTEM "x.dtd"><x/>"#).unwrap(),
            json!({"x": null})
        );
        xml_err("<x/><!DOCTYPE x>");
        xml_err("<!DOCTYPE x><!DOCTYPE x><x/>");
    }

    #[test]
    fn xml_deep_errors_quickly() {
        let started = std::time::Instant::now();
        let body = "<a>".repeat(100_000);
        let err = xml(&body).unwrap_err();
        assert_eq!(err, BodyError::TooDeep { limit: 128 });
        assert_eq!(err.to_string(), "the body nests deeper than 128 levels");
        assert_eq!(
            validate(BodyFormat::Xml, body.as_bytes(), &limits()),
            Err(err)
        );
        let closed = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert_eq!(xml(&closed), Err(BodyError::TooDeep { limit: 128 }));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let at_limit = format!("{}{}", "<a>".repeat(128), "</a>".repeat(128));
        assert!(xml(&at_limit).is_ok());
        let over = format!("{}{}", "<a>".repeat(129), "</a>".repeat(129));
        assert_eq!(xml(&over), Err(BodyError::TooDeep { limit: 128 }));
    }

    #[test]
    fn xml_max_nodes() {
        let small = BodyLimits {
            max_depth: 10,
            max_nodes: 3,
        };
        assert!(parse(BodyFormat::Xml, br#"<a x="1"><b/></a>"#, &small).is_ok());
        let err = parse(BodyFormat::Xml, br#"<a x="1" y="2"><b/></a>"#, &small).unwrap_err();
        assert_eq!(err, BodyError::TooManyNodes { limit: 3 });
        assert_eq!(
            validate(BodyFormat::Xml, br#"<a x="1" y="2"><b/></a>"#, &small),
            Err(err)
        );
        let wide = format!("<r>{}</r>", "<i/>".repeat(300_000));
        assert_eq!(xml(&wide), Err(BodyError::TooManyNodes { limit: 200_000 }));
    }

    #[test]
    fn xml_malformed() {
        let message = xml_err("<a><b></a>");
        assert!(message.contains("`</b>`"), "{message}");
        assert!(message.contains("line 1 column 7"), "{message}");
        let message = xml_err("<a/>\n<b/>");
        assert!(message.contains("more than one root element"), "{message}");
        assert!(message.contains("line 2 column 1"), "{message}");
        xml_err("<a></b>");
        xml_err("<a>");
        xml_err("<a><b>text</b>");
        xml_err("<a></a></a>");
        xml_err("</a>");
        xml_err("<a/><b/>");
        xml_err("<a></a><a></a>");
        xml_err("<a/>trailing");
        xml_err("leading<a/>");
        xml_err("<a/><![CDATA[x]]>");
        xml_err("<a/>&amp;");
        xml_err("<a");
        xml_err("<a x=1/>");
        xml_err(r#"<a x="1" x="2"/>"#);
        xml_err(r#"<a x="<"/>"#);
        xml_err("<a>&amp</a>");
        let message = xml_err("<a>a & b</a>");
        assert!(message.contains("write `&amp;`"), "{message}");
        let message = xml_err("<a b='&'/>");
        assert!(message.contains("write `&amp;`"), "{message}");
        xml_err("<1a/>");
        xml_err("<!-- only a comment -->");
        xml_err("just text");
        xml_err("<a/><?xml version=\"1.0\"?>");
        xml_err("<a><!-- bad -- comment --></a>");
        let message = xml_err("<a>\n<b>\n</c></a>");
        assert!(message.contains("line 3"), "{message}");
        assert_eq!(
            parse(BodyFormat::Xml, b"<a>\xff</a>", &limits()),
            Err(BodyError::NotUtf8 { offset: 3 })
        );
    }

    #[test]
    fn xml_trailing_whitespace_and_misc_ok() {
        assert_eq!(
            xml("\u{feff}<?xml version=\"1.0\"?>\n<a>1</a>\n<!-- c -->\n<?pi x?>\n").unwrap(),
            json!({"a": "1"})
        );
    }

    #[test]
    fn xml_namespaced_names() {
        let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><m:Alert xmlns:m="urn:x" m:level="2">up</m:Alert></soap:Body>
</soap:Envelope>"#;
        assert_eq!(
            xml(body).unwrap(),
            json!({"soap:Envelope": {
                "@xmlns:soap": "http://schemas.xmlsoap.org/soap/envelope/",
                "soap:Body": {"m:Alert": {"@xmlns:m": "urn:x", "@m:level": "2", "#text": "up"}}
            }})
        );
        agree(BodyFormat::Xml, body.as_bytes());
    }

    #[test]
    fn validate_agrees_with_parse() {
        let cases: &[(BodyFormat, &[u8])] = &[
            (BodyFormat::Json, b"{\"a\":1}"),
            (BodyFormat::Json, b"{\"a\":1"),
            (BodyFormat::Json, b"1e400"),
            (BodyFormat::Json, b"\"\\ud800\""),
            (BodyFormat::Json, b""),
            (BodyFormat::Xml, b"<a><b>1</b><b>2</b></a>"),
            (BodyFormat::Xml, b"<a><b>1</b><b>2</b>"),
            (BodyFormat::Xml, b"<a>&nbsp;</a>"),
            (BodyFormat::Xml, b"<a/><b/>"),
            (BodyFormat::Xml, b""),
            (BodyFormat::Form, b"a=1&a=2"),
            (BodyFormat::Form, b"\xc3"),
        ];
        for (format, body) in cases {
            agree(*format, body);
        }
    }

    /// xorshift64*: a tiny deterministic PRNG for the fuzz-ish loop.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_never_panic_and_validate_agrees() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "/",
            "a",
            "b:c",
            "=",
            "\"",
            "'",
            "&",
            ";",
            "#",
            "x",
            "1",
            " ",
            "\n",
            "\r",
            "<a>",
            "</a>",
            "<b/>",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE a [<!ENTITY e \"boom\">]>",
            "&e;",
            "&lt;",
            "&#",
            "&#x41;",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\\",
            "null",
            "true",
            "-",
            "e",
            "+",
            "%",
            "%2",
            "%C3%A9",
            "é",
            "\u{feff}",
            "\0",
            "\u{fffd}",
        ];
        let formats = [BodyFormat::Json, BodyFormat::Form, BodyFormat::Xml];
        let small = BodyLimits {
            max_depth: 4,
            max_nodes: 6,
        };
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..6_000 {
            let mut body = Vec::new();
            let len = rng.below(24);
            for _ in 0..len {
                if round % 3 == 0 {
                    body.push(rng.next() as u8);
                } else {
                    body.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
                }
            }
            for format in formats {
                for limits in [BodyLimits::default(), small] {
                    let parsed = parse(format, &body, &limits).map(|_| ());
                    let validated = validate(format, &body, &limits);
                    assert_eq!(parsed, validated, "{format:?} {body:?}");
                    if let Err(e) = parsed {
                        assert!(e.to_string().starts_with("the body "), "{e}");
                    }
                }
            }
            let _ = form_to_value(&String::from_utf8_lossy(&body));
        }
    }
}
