//! The old product's references, `$…$`: found in a string (the whole field, or embedded in
//! text) and parsed into [`Ref`]s. Which hookflow expression each becomes is decided in
//! `resolve.rs` with the table of `mapping.rs`.
//!
//! Shapes: `$workflow.<wf>.input|local|output.<var>$`, `$activity.<id>.output.<field>…$`
//! (`.name`, `[0]` after it), `$activity.<loop>.input.source_array[@]…$` (the current item of a
//! for-each), `$trigger.<id>.output.<field>$`, `$global.<var>.global.<var>$`,
//! `$env.<var>.env.<var>$`, `$targetgroup.<type>.input.<field>$` (target criteria). A `$` that
//! does not open one of these is text (`costs $5`).

/// One step of a path after the reference's fixed part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Field(String),
    Index(u64),
    /// `[@]`: the current item of a for-each.
    Each,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Workflow {
        scope: String,
        var: String,
        path: Vec<Seg>,
    },
    Activity {
        act: String,
        /// `output` or `input`.
        io: String,
        path: Vec<Seg>,
    },
    Trigger {
        path: Vec<Seg>,
    },
    Global {
        var: String,
    },
    Env {
        var: String,
    },
    TargetGroup {
        field: String,
    },
    /// A reference of a shape the importer does not know (`$output.task_id$`).
    Other,
}

/// A string cut into text and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Ref { r: Ref, raw: String },
}

const ROOTS: [&str; 7] = [
    "workflow",
    "activity",
    "trigger",
    "global",
    "env",
    "targetgroup",
    "output",
];

/// `s` cut into pieces; adjacent text is merged.
pub fn pieces(s: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let parsed = after
            .find('$')
            .and_then(|j| parse(&after[..j]).map(|r| (r, j)));
        match parsed {
            Some((r, j)) => {
                text.push_str(&rest[..i]);
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Ref {
                    r,
                    raw: format!("${}$", &after[..j]),
                });
                rest = &after[j + 1..];
            }
            None => {
                text.push_str(&rest[..=i]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Whether `s` holds at least one reference.
pub fn has_refs(s: &str) -> bool {
    pieces(s).iter().any(|p| matches!(p, Piece::Ref { .. }))
}

/// The reference between two `$`, if it is one.
pub fn parse(inner: &str) -> Option<Ref> {
    let (root, rest) = inner.split_once('.')?;
    if !ROOTS.contains(&root) || rest.is_empty() || inner.contains('\n') {
        return None;
    }
    if root == "targetgroup" {
        let field = rest.rsplit('.').next().unwrap_or(rest).to_string();
        return Some(Ref::TargetGroup { field });
    }
    if inner.chars().any(char::is_whitespace) {
        return None;
    }
    let parts: Vec<&str> = rest.splitn(3, '.').collect();
    match root {
        "workflow" if parts.len() == 3 => {
            let mut path = parse_path(parts[2])?;
            let Some(Seg::Field(var)) = path.first().cloned() else {
                return None;
            };
            path.remove(0);
            Some(Ref::Workflow {
                scope: parts[1].to_string(),
                var,
                path,
            })
        }
        "activity" if parts.len() == 3 => Some(Ref::Activity {
            act: parts[0].to_string(),
            io: parts[1].to_string(),
            path: parse_path(parts[2])?,
        }),
        "trigger" if parts.len() == 3 => Some(Ref::Trigger {
            path: parse_path(parts[2])?,
        }),
        "global" => Some(Ref::Global {
            var: parts[0].to_string(),
        }),
        "env" => Some(Ref::Env {
            var: parts[0].to_string(),
        }),
        "output" => Some(Ref::Other),
        _ => None,
    }
}

/// `a.b[0].c[@]` → fields, indexes and `[@]`.
pub fn parse_path(s: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    for token in s.split('.') {
        let (name, mut brackets) = match token.find('[') {
            Some(i) => (&token[..i], &token[i..]),
            None => (token, ""),
        };
        if !name.is_empty() {
            if name.contains(']') {
                return None;
            }
            out.push(Seg::Field(name.to_string()));
        } else if brackets.is_empty() {
            return None;
        }
        while !brackets.is_empty() {
            let close = brackets.find(']')?;
            let inside = &brackets[1..close];
            if inside == "@" {
                out.push(Seg::Each);
            } else {
                out.push(Seg::Index(inside.parse().ok()?));
            }
            brackets = &brackets[close + 1..];
            if !brackets.is_empty() && !brackets.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Seg {
        Seg::Field(s.into())
    }

    #[test]
    fn shapes() {
        assert_eq!(
            parse("workflow.definition_workflow_1.input.variable_workflow_2"),
            Some(Ref::Workflow {
                scope: "input".into(),
                var: "variable_workflow_2".into(),
                path: vec![]
            })
        );
        assert_eq!(
            parse("activity.definition_activity_1.output.matching_strings[0]"),
            Some(Ref::Activity {
                act: "definition_activity_1".into(),
                io: "output".into(),
                path: vec![f("matching_strings"), Seg::Index(0)]
            })
        );
        assert_eq!(
            parse("activity.a.input.source_array[@].file_hash"),
            Some(Ref::Activity {
                act: "a".into(),
                io: "input".into(),
                path: vec![f("source_array"), Seg::Each, f("file_hash")]
            })
        );
        assert_eq!(
            parse("trigger.triggerevent_1.output.request_body"),
            Some(Ref::Trigger {
                path: vec![f("request_body")]
            })
        );
        assert_eq!(
            parse("global.variable_1.global.variable_1"),
            Some(Ref::Global {
                var: "variable_1".into()
            })
        );
        assert_eq!(
            parse("targetgroup.web-service endpoint.input.display_name"),
            Some(Ref::TargetGroup {
                field: "display_name".into()
            })
        );
        assert_eq!(parse("5 and "), None);
        assert_eq!(parse("activity.a b.output.x"), None);
    }

    #[test]
    fn text_and_references() {
        let p = pieces("costs $5, id $workflow.w.output.instance_id$ and $ alone$");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], Piece::Text("costs $5, id ".into()));
        assert!(
            matches!(&p[1], Piece::Ref { raw, .. } if raw == "$workflow.w.output.instance_id$")
        );
        assert_eq!(p[2], Piece::Text(" and $ alone$".into()));
        assert!(!has_refs("$$ $5 $x$"));
    }
}
