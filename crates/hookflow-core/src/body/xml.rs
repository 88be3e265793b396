//! XML bodies by the xmltodict convention (attributes as `@name`, text as `#text`, repeated
//! children as arrays). The walker keeps an explicit stack, counts elements and attributes
//! against [`BodyLimits`], and expands only the five predefined entities and character
//! references: entities declared in a DOCTYPE are never expanded.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::errors::IllFormedError;
use quick_xml::escape::{EscapeError, unescape_with};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::form::push_value;
use super::{BodyError, BodyLimits, is_blank};

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
pub(super) fn walk(
    text: &str,
    limits: &BodyLimits,
    build: bool,
) -> Result<Option<Value>, BodyError> {
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
