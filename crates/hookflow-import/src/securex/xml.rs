//! `core.xpathquery`: XPath queries over XML text become one `python` step that runs them with
//! the standard library's ElementTree, each query's result a typed script variable — so
//! `$activity.<id>.output.xpath_queries.<name>$` reads `steps.<id>.output.variables.<var>`.
//!
//! ElementTree implements the XPath subset most exports use: absolute and relative paths, `//`,
//! `*`, `.`/`..`, positions (`[1]`, `[last()]`), `[@attr]`, `[@attr='v']`, `[child='v']`,
//! and a final `/text()` or `/@attr`. A query outside it fails the step at run time naming the
//! query, as the old product failed an activity with a bad query. The first matching node's text
//! is the value (an empty string when nothing matches, for text queries); the XML and the queries
//! reach the script as arguments, never as code.

use serde_json::{Value, json};

use super::context::Ctx;
use super::export::str_of;
use super::mapping::query_type;
use super::resolve::escape_text;

/// The script every translated XPath activity runs. `sys.argv[1]` is the XML text,
/// `sys.argv[2]` a JSON list of `[variable, query, type]`.
pub const XPATH_SCRIPT: &str = r#"import json, re, sys
import xml.etree.ElementTree as ET

def select(root, query):
    q = query.strip()
    want = "node"
    m = re.search(r"/(text\(\)|@[\w:.-]+)$", q)
    if m:
        want = m.group(1)
        q = q[: m.start()]
    # spaces around = inside predicates are not ElementTree syntax
    q = re.sub(r"\s*=\s*", "=", q)
    if q.startswith("//"):
        path = "." + q
    elif q.startswith("/"):
        first, _, rest = q[1:].partition("/")
        step = re.match(r"[^\[]*", first).group(0)
        if step not in ("*", root.tag):
            return None
        if first != step:
            # a predicate on the root element: test it on a wrapper
            wrapper = ET.Element("_")
            wrapper.append(root)
            found = wrapper.findall("./" + first)
            if not found:
                return None
        path = "./" + rest if rest else "."
    else:
        path = "./" + q
    try:
        found = root.find(path)
    except (SyntaxError, KeyError) as e:
        raise SystemExit("XPath query %r is not supported: %s" % (query, e))
    if found is None:
        return None
    if want == "node" or want == "text()":
        return "".join(found.itertext()) if want == "node" else (found.text or "")
    return found.get(want[1:])

def typed(value, ty, query):
    if ty == "string":
        return "" if value is None else value
    if value is None:
        raise SystemExit("XPath query %r matched nothing" % query)
    v = value.strip()
    if ty == "integer":
        return int(v)
    if ty == "number":
        return float(v)
    if ty == "boolean":
        return v.lower() == "true"
    return value

try:
    root = ET.fromstring(sys.argv[1])
except ET.ParseError as e:
    raise SystemExit("the input is not XML: %s" % e)
for var, query, ty in json.loads(sys.argv[2]):
    globals()[var] = typed(select(root, query), ty, query)
"#;

/// The script variable of query `i` named `name`: the name when it is an identifier.
pub fn query_var(i: usize, name: &str) -> String {
    if hookflow_core::workflow::is_identifier(name) && !name.starts_with('_') {
        name.to_string()
    } else {
        format!("query_{}", i + 1)
    }
}

/// `core.xpathquery` → a `python` step running [`XPATH_SCRIPT`].
pub fn xpath(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let mut queries = Vec::new();
    let mut vars = Vec::new();
    for (i, q) in p["xpath_queries"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = str_of(q, &["xpath_query_name"]).unwrap_or_default();
        let query = str_of(q, &["xpath_query"]).unwrap_or_default();
        let ty = query_type(str_of(q, &["xpath_query_type"]).unwrap_or("string"));
        let ty = if ty == "secure_string" { "string" } else { ty };
        let var = query_var(i, name);
        queries.push(json!([var, query, ty]));
        vars.push(json!({"name": var, "type": ty}));
    }
    if queries.is_empty() {
        return vec![ctx.fail_step(act, "xml", "an XPath activity without queries")];
    }
    let id = ctx.step_id(act);
    let mut s = ctx.step(act, &id, "python");
    s.insert("script".into(), json!(XPATH_SCRIPT));
    let queries = Value::Array(queries).to_string();
    s.insert(
        "args".into(),
        json!([ctx.template(&p["input_xml"], true), escape_text(&queries)]),
    );
    s.insert("variables".into(), json!(vars));
    vec![Value::Object(s)]
}
