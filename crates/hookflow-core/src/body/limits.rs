//! The shape bounds every body family obeys: how deep a body may nest and how many XML nodes
//! it may hold. The checks themselves live with each family (`json.rs` pre-scans depth, the
//! XML walker counts as it goes); this file owns the numbers and how they combine.

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

/// The JSON depth actually enforced: the configured depth, never above serde_json's own limit.
pub(super) fn json_limit(limits: &BodyLimits) -> usize {
    limits.max_depth.min(JSON_MAX_DEPTH)
}
