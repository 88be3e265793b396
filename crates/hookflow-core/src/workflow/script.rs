//! Validation of a `python` step (SPEC §11): a script, arguments whose templates refer to names
//! that exist, and variables with names a Python module can define, each once.

use std::collections::HashSet;

use serde_json::Value;

use super::model::VarDecl;
use super::path::{field, index, is_identifier};
use super::validate::{Site, Validator};

/// Python's reserved words: never a module-level variable.
const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

impl Validator<'_> {
    pub(super) fn python_step(
        &mut self,
        script: &str,
        args: &[Value],
        variables: &[VarDecl],
        path: &str,
        site: Site,
    ) {
        if script.trim().is_empty() {
            self.err(field(path, "script"), "the script is empty");
        }
        let ap = field(path, "args");
        for (i, a) in args.iter().enumerate() {
            self.value(a, &index(&ap, i), site);
        }
        let vp = field(path, "variables");
        let mut seen = HashSet::new();
        for (i, v) in variables.iter().enumerate() {
            let np = field(&index(&vp, i), "name");
            if !is_identifier(&v.name) || PYTHON_KEYWORDS.contains(&v.name.as_str()) {
                self.err(
                    np,
                    format!(
                        "{} is not a name a script can assign (letters, digits and _, not \
                         starting with a digit, not a Python keyword)",
                        Value::String(v.name.clone())
                    ),
                );
            } else if !seen.insert(v.name.as_str()) {
                self.err(np, format!("the variable \"{}\" is listed twice", v.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Catalog, Format, StepKind, VarType, parse, validate};
    use crate::expr::{ExprLimits, Sandbox};

    struct Cat;
    impl Catalog for Cat {
        fn event_exists(&self, _: &str) -> bool {
            true
        }
        fn workflow_exists(&self, _: &str) -> bool {
            false
        }
        fn secret_exists(&self, name: &str) -> bool {
            name == "api_token"
        }
    }

    fn errors(step: &str) -> Vec<String> {
        let text = format!("name: wf\nsteps:\n{step}");
        match parse(&text, Format::Yaml) {
            Ok((wf, _)) => validate(&wf, &Cat, &Sandbox::new(ExprLimits::default())),
            Err(e) => e,
        }
        .iter()
        .map(|e| e.to_string())
        .collect()
    }

    #[test]
    fn the_spec_example_is_valid() {
        let text = "name: wf\nsteps:\n  - id: summarise\n    type: python\n    script: |\n      \
                    import sys\n      count = len(sys.argv)\n    args: [\"{{ trigger.body | \
                    tojson }}\", \"{{ secrets.api_token }}\", 3]\n    variables:\n      - \
                    {name: summary, type: string}\n      - {name: count, type: integer}\n    \
                    timeout: 30s\n";
        let (wf, _) = parse(text, Format::Yaml).expect("parses");
        assert!(validate(&wf, &Cat, &Sandbox::new(ExprLimits::default())).is_empty());
        let StepKind::Python {
            args, variables, ..
        } = &wf.steps[0].kind
        else {
            panic!("python step expected");
        };
        assert_eq!(args.len(), 3);
        assert_eq!(variables[1].r#type, VarType::Integer);
        assert_eq!(wf.steps[0].timeout_ms, Some(30_000));
    }

    #[test]
    fn mistakes_are_reported_at_their_path() {
        let cases = [
            ("    args: [\"{{ secrets.nope }}\"]\n", "steps[0].args[0]"),
            (
                "    args: [{a: 1}]\n",
                "steps[0].args[0]: expected an argument",
            ),
            ("    args: \"x\"\n", "steps[0].args: expected a list"),
            (
                "    variables: [{name: x, type: strin}]\n",
                "steps[0].variables[0].type: unknown type \"strin\" (did you mean \"string\"?",
            ),
            (
                "    variables: [{name: class, type: string}]\n",
                "steps[0].variables[0].name: \"class\" is not a name",
            ),
            (
                "    variables: [{name: x, type: string}, {name: x, type: integer}]\n",
                "steps[0].variables[1].name: the variable \"x\" is listed twice",
            ),
            (
                "    variables: [{name: x, kind: string}]\n",
                "steps[0].variables[0].kind: unknown field",
            ),
            ("    stdin: x\n", "steps[0].stdin: unknown field"),
        ];
        for (extra, want) in cases {
            let got = errors(&format!(
                "  - id: p\n    type: python\n    script: print(1)\n{extra}"
            ));
            assert!(
                got.iter().any(|e| e.contains(want)),
                "{extra}: want {want:?}, got {got:?}"
            );
        }
        let got = errors("  - id: p\n    type: python\n");
        assert!(
            got.iter()
                .any(|e| e.contains("steps[0].script: missing required field")),
            "{got:?}"
        );
        let got = errors("  - id: p\n    type: python\n    script: \"  \"\n");
        assert!(
            got.iter()
                .any(|e| e == "steps[0].script: the script is empty"),
            "{got:?}"
        );
    }
}
