//! Workflow documents built from parts, for tests whose workflow is the usual shape: triggered
//! by one event, a few steps, then a `complete` step with one output.

/// The output of a workflow whose step `call` reached a [`crate::common::FlakyServer`]: the
/// `path` the sink answered with.
pub const SINK_PATH: (&str, &str, &str) = ("path", "string", "{{ steps.call.output.body.path }}");

/// A workflow triggered by `event` that runs `steps` (each one YAML list item, `- …`, on one
/// line), then completes with `output`: its name, its type and the template of its value.
pub fn triggered_yaml(
    name: &str,
    event: &str,
    steps: &[&str],
    output: (&str, &str, &str),
) -> String {
    let (output, ty, value) = output;
    let mut yaml = format!(
        "name: {name}\noutputs: [{{name: {output}, type: {ty}}}]\ntriggers: [{{event: {event}}}]\n\
         steps:\n"
    );
    for step in steps {
        yaml += &format!("  {step}\n");
    }
    yaml + &format!("  - {{id: done, type: complete, outputs: {{{output}: \"{value}\"}}}}\n")
}

/// A workflow triggered by `event` whose one step completes it, with output `output` (of type
/// `ty`) set to the template `value`.
pub fn completing_yaml(name: &str, event: &str, output: &str, ty: &str, value: &str) -> String {
    triggered_yaml(name, event, &[], (output, ty, value))
}

/// The step `call`: an HTTP `method` request to `url`, with `more` keys of the step
/// (`key: value`, flow style, e.g. a `body` or a `retry`).
pub fn call_step(method: &str, url: &str, more: &[&str]) -> String {
    let mut keys = vec![format!(
        "id: call, type: http_request, method: {method}, url: \"{url}\""
    )];
    keys.extend(more.iter().map(|k| k.to_string()));
    format!("- {{{}}}", keys.join(", "))
}
