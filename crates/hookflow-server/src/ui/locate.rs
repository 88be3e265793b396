//! Where a validation error is in the text the user wrote: the line of a document path
//! (`steps[0].branches[1].url`) in block-style YAML, found by following keys and sequence items
//! by indentation, or the line a syntax error names. A best effort: a path into a flow-style
//! value (`{a: 1}`) or into JSON answers the deepest line found on the way.

/// One significant line, a `- ` item marker split off as a line of its own.
struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
    marker: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut rest = raw.trim_start_matches(' ');
        let mut indent = raw.len() - rest.len();
        if rest.trim().is_empty() || rest.starts_with('#') {
            continue;
        }
        while rest == "-" || rest.starts_with("- ") {
            out.push(Line {
                no: i + 1,
                indent,
                text: "-",
                marker: true,
            });
            let after = &rest[1..];
            let item = after.trim_start_matches(' ');
            indent += 1 + after.len() - item.len();
            rest = item;
        }
        if !rest.trim().is_empty() {
            out.push(Line {
                no: i + 1,
                indent,
                text: rest,
                marker: false,
            });
        }
    }
    out
}

enum Segment {
    Key(String),
    Index(usize),
}

/// `a.b[0]["c d"]` as keys and indexes; `None` if it is not such a path.
fn segments(path: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let close = r.find("\"]")?;
            let key: String = serde_json::from_str(&format!("\"{}\"", &r[..close])).ok()?;
            out.push(Segment::Key(key));
            rest = &r[close + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            out.push(Segment::Index(r[..close].parse().ok()?));
            rest = &r[close + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Segment::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    Some(out)
}

/// Whether `line` is the mapping key `key` (plain, or in either kind of quotes).
fn is_key(line: &Line<'_>, key: &str) -> bool {
    if line.marker {
        return false;
    }
    let after = [
        line.text.strip_prefix(key),
        line.text
            .strip_prefix('"')
            .and_then(|t| t.strip_prefix(key))
            .and_then(|t| t.strip_prefix('"')),
        line.text
            .strip_prefix('\'')
            .and_then(|t| t.strip_prefix(key))
            .and_then(|t| t.strip_prefix('\'')),
    ];
    after.into_iter().flatten().any(|t| {
        t.strip_prefix(':')
            .is_some_and(|v| v.is_empty() || v.starts_with([' ', '\t']))
    })
}

/// The 1-based line of `path` in YAML `text`, or of the nearest enclosing part found.
pub fn line_of_path(text: &str, path: &str) -> Option<usize> {
    let lines = lines(text);
    let mut found = None;
    let (mut start, mut end) = (0, lines.len());
    for seg in segments(path)? {
        if start >= end {
            break;
        }
        let indent = lines[start].indent;
        let mut at_level = (start..end).filter(|&i| lines[i].indent == indent);
        let hit = match &seg {
            Segment::Key(k) => at_level.find(|&i| is_key(&lines[i], k)),
            Segment::Index(n) => at_level.filter(|&i| lines[i].marker).nth(*n),
        };
        let Some(i) = hit else { break };
        found = Some(lines[i].no);
        // Its children: the lines after it that are indented deeper — or, for a key whose
        // sequence items sit at the key's own indentation, those items.
        let me = &lines[i];
        let items_at_key = !me.marker
            && lines
                .get(i + 1)
                .is_some_and(|l| l.indent == me.indent && l.marker);
        let mut j = i + 1;
        while j < end {
            let l = &lines[j];
            if l.indent < me.indent || (l.indent == me.indent && !(items_at_key && l.marker)) {
                break;
            }
            j += 1;
        }
        (start, end) = (i + 1, j);
    }
    found
}

/// The line a parser's message names (`… at line 3, column 5`).
pub fn line_in_message(message: &str) -> Option<usize> {
    let at = message.find("line ")?;
    let digits: String = message[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\ntriggers:\n- event: alerts\nsteps:\n  - id: a\n    type: http_request\n    url: http://x\n    headers: {A: b}\n  - id: b\n    type: condition\n    branches:\n      - when: x\n        steps:\n          - id: c\n            type: fail\n";

    #[test]
    fn finds_keys_and_items() {
        assert_eq!(line_of_path(DOC, "name"), Some(1));
        assert_eq!(line_of_path(DOC, "triggers[0].event"), Some(3));
        assert_eq!(line_of_path(DOC, "steps[0].url"), Some(7));
        assert_eq!(line_of_path(DOC, "steps[1]"), Some(9));
        assert_eq!(
            line_of_path(DOC, "steps[1].branches[0].steps[0].type"),
            Some(15)
        );
        // Into a flow mapping: the enclosing key.
        assert_eq!(line_of_path(DOC, "steps[0].headers[\"A\"]"), Some(8));
        assert_eq!(line_of_path(DOC, "steps[5]"), Some(4));
        assert_eq!(line_of_path(DOC, "nothing"), None);
        assert_eq!(line_of_path(DOC, ""), None);
    }

    #[test]
    fn reads_the_line_of_a_message() {
        assert_eq!(
            line_in_message("invalid YAML: bad at line 3, column 5"),
            Some(3)
        );
        assert_eq!(line_in_message("no place"), None);
    }
}
