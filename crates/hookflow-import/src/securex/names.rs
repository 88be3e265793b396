//! Names for what the importer creates: identifiers (step ids, variable names) from the old
//! product's titles, made unique within their scope.

use std::collections::HashSet;

/// Longest identifier made from a title.
const MAX_IDENT: usize = 40;

/// `text` as a lower-case identifier (`Extract the alert data` → `extract_the_alert_data`);
/// `fallback` when nothing usable is left.
pub fn ident(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
        if out.len() >= MAX_IDENT {
            break;
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        return fallback.to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("{fallback}_{out}");
    }
    out
}

/// Hands out unique names: the base, then `base_2`, `base_3`, …
#[derive(Debug, Default, Clone)]
pub struct Names {
    used: HashSet<String>,
}

impl Names {
    pub fn take(&mut self, base: &str) -> String {
        if self.used.insert(base.to_string()) {
            return base.to_string();
        }
        (2..)
            .map(|n| format!("{base}_{n}"))
            .find(|c| self.used.insert(c.clone()))
            .expect("some suffix is free")
    }

    /// Marks `name` as taken.
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }
}

/// A file name part from a workflow name: lower case, `-` between words.
pub fn file_part(name: &str) -> String {
    let mut s = ident(name, "workflow").replace('_', "-");
    s.truncate(60);
    s.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(
            ident("Extract the alert data", "step"),
            "extract_the_alert_data"
        );
        assert_eq!(ident("  ??  ", "step"), "step");
        assert_eq!(ident("3 tries", "step"), "step_3_tries");
        let mut n = Names::default();
        assert_eq!(n.take("a"), "a");
        assert_eq!(n.take("a"), "a_2");
        assert_eq!(n.take("a"), "a_3");
    }
}
