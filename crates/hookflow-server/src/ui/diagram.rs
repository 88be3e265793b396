//! A workflow's shape as SVG text, from its definition: steps as boxes top to bottom, a
//! condition's branches side by side, loops (`for_each`, `while`) as a framed group with a loop
//! marker, parallel lanes side by side in a frame; python steps and sub-workflow calls marked.
//! Given a run's step statuses, every box is coloured by its step's status, with a legend.
//! Pure functions; every text is escaped.

use std::collections::HashMap;
use std::fmt::Write;

use hookflow_core::workflow::{Step, StepKind, Workflow};

use super::charts::{clip, esc};

const BOX_W: f64 = 210.0;
const BOX_H: f64 = 44.0;
const GAP: f64 = 18.0;
const PAD: f64 = 10.0;
const LABEL_H: f64 = 18.0;
const MARGIN: f64 = 12.0;
const LEGEND_ROW: f64 = 22.0;
const EMPTY_H: f64 = 24.0;
const LEGEND_ITEM_W: f64 = 130.0;

/// Statuses a box can show, in the legend's order, with their fill.
const STATUS_FILLS: [(&str, &str); 6] = [
    ("succeeded", "#c8e6c9"),
    ("failed", "#ffcdd2"),
    ("running", "#bbdefb"),
    ("waiting", "#fff3c4"),
    ("cancelled", "#e0e0e0"),
    ("not_run", "#f5f5f5"),
];

/// The status a step shows, from how many of its records have each status (a step in a loop has
/// one per iteration): one still running or waiting shows that, else any failure, else success.
pub fn step_states(counts: &[(String, String, i64)]) -> HashMap<String, String> {
    const ORDER: [&str; 5] = ["running", "waiting", "failed", "cancelled", "succeeded"];
    let rank = |s: &str| ORDER.iter().position(|o| *o == s).unwrap_or(ORDER.len());
    let mut out: HashMap<String, String> = HashMap::new();
    for (step, status, n) in counts {
        if *n <= 0 {
            continue;
        }
        let keep = match out.get(step) {
            Some(old) => rank(old) <= rank(status),
            None => false,
        };
        if !keep {
            out.insert(step.clone(), status.clone());
        }
    }
    out
}

/// A laid-out piece: its size, computed once.
enum Node<'a> {
    Leaf(&'a Step),
    /// A step holding others: its header box above `lanes` side by side.
    Group {
        step: &'a Step,
        lanes: Vec<Lane<'a>>,
        w: f64,
        h: f64,
    },
}

struct Lane<'a> {
    label: Option<String>,
    nodes: Vec<Node<'a>>,
    w: f64,
    h: f64,
}

impl Node<'_> {
    fn size(&self) -> (f64, f64) {
        match self {
            Node::Leaf(_) => (BOX_W, BOX_H),
            Node::Group { w, h, .. } => (*w, *h),
        }
    }
}

fn lane<'a>(label: Option<String>, steps: &'a [Step]) -> Lane<'a> {
    let nodes: Vec<Node> = steps.iter().map(node).collect();
    let (mut w, mut h) = (0.0f64, 0.0);
    for n in &nodes {
        let (nw, nh) = n.size();
        w = w.max(nw);
        h += nh;
    }
    if nodes.is_empty() {
        w = BOX_W * 0.6;
        h = EMPTY_H;
    } else {
        h += GAP * (nodes.len() - 1) as f64;
    }
    if label.is_some() {
        h += LABEL_H;
    }
    Lane { label, nodes, w, h }
}

fn node(step: &Step) -> Node<'_> {
    let lanes = match &step.kind {
        StepKind::Condition {
            branches,
            else_steps,
        } => {
            let mut lanes: Vec<Lane> = branches
                .iter()
                .map(|b| lane(Some(format!("when {}", b.when)), &b.steps))
                .collect();
            lanes.push(lane(Some("else".into()), else_steps));
            lanes
        }
        StepKind::ForEach { steps, .. } | StepKind::While { steps, .. } => {
            vec![lane(None, steps)]
        }
        StepKind::Parallel { branches } => branches
            .iter()
            .enumerate()
            .map(|(i, b)| lane(Some(format!("lane {}", i + 1)), b))
            .collect(),
        _ => return Node::Leaf(step),
    };
    let lanes_w: f64 = lanes.iter().map(|l| l.w).sum::<f64>() + GAP * (lanes.len() - 1) as f64;
    let lanes_h = lanes.iter().map(|l| l.h).fold(0.0, f64::max);
    Node::Group {
        step,
        w: lanes_w.max(BOX_W) + 2.0 * PAD,
        h: PAD + BOX_H + GAP + lanes_h + PAD,
        lanes,
    }
}

/// How a box is drawn: the statuses of a run, if any.
struct Painter<'a> {
    states: Option<&'a HashMap<String, String>>,
    out: String,
}

impl Painter<'_> {
    fn status(&self, id: &str) -> Option<&str> {
        let states = self.states?;
        Some(states.get(id).map(String::as_str).unwrap_or("not_run"))
    }

    fn fill(&self, id: &str) -> &'static str {
        match self.status(id) {
            None => "#ffffff",
            Some(s) => STATUS_FILLS
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, f)| *f)
                .unwrap_or("#ffffff"),
        }
    }

    /// A step's box with its top-left corner at (`x`, `y`).
    fn step_box(&mut self, step: &Step, x: f64, y: f64) {
        let (mark, class, detail) = match &step.kind {
            StepKind::Python { .. } => (Some("PY"), " python", "python".to_string()),
            StepKind::RunWorkflow { workflow, .. } => (
                Some("SUB"),
                " sub-workflow",
                format!("↪ run_workflow {workflow}"),
            ),
            StepKind::Condition { .. } => (None, " condition", "◇ condition".into()),
            StepKind::ForEach { .. } => (None, " loop", "↻ for_each".into()),
            StepKind::While { .. } => (None, " loop", "↻ while".into()),
            StepKind::Parallel { branches } => (
                None,
                " parallel",
                format!("⇉ parallel, {} lanes", branches.len()),
            ),
            k => (None, "", k.type_name().to_string()),
        };
        let status = self.status(&step.id).map(str::to_string);
        let fill = self.fill(&step.id);
        let mut title = format!("{} ({})", step.id, step.type_name());
        if let Some(t) = &step.title {
            let _ = write!(title, ": {t}");
        }
        if let Some(s) = &status {
            let _ = write!(title, " — {}", s.replace('_', " "));
        }
        let _ = write!(
            self.out,
            r##"<g class="step{class}{st}" data-step="{id}" data-type="{ty}"{data_status}><title>{title}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="#555"/><text class="step-id" x="{tx}" y="{y1}">{label}</text><text class="step-kind" x="{tx}" y="{y2}">{detail}</text>"##,
            st = status
                .as_deref()
                .map(|s| format!(" status-{s}"))
                .unwrap_or_default(),
            id = esc(&step.id),
            ty = esc(step.type_name()),
            data_status = status
                .as_deref()
                .map(|s| format!(r#" data-status="{}""#, esc(s)))
                .unwrap_or_default(),
            title = esc(&title),
            tx = x + 8.0,
            y1 = y + 18.0,
            y2 = y + 35.0,
            label = esc(&clip(&step.id, 26)),
            detail = esc(&clip(&detail, 30)),
        );
        if let Some(m) = mark {
            let _ = write!(
                self.out,
                r##"<rect class="mark" x="{}" y="{}" width="34" height="16" rx="3" fill="#37474f"/><text class="mark-text" x="{}" y="{}" text-anchor="middle" fill="#ffffff">{m}</text>"##,
                x + BOX_W - 40.0,
                y + 6.0,
                x + BOX_W - 23.0,
                y + 18.0,
            );
        }
        self.out.push_str("</g>");
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64) {
        let _ = write!(
            self.out,
            r##"<path class="edge" d="M{x1} {y1} V{} H{x2} V{y2}" fill="none" stroke="#888"/>"##,
            (y1 + y2) / 2.0
        );
    }

    /// `nodes` top to bottom, centred in the column of width `w` at `x`.
    fn column(&mut self, nodes: &[Node], x: f64, mut y: f64, w: f64) {
        let cx = x + w / 2.0;
        let mut prev_bottom: Option<f64> = None;
        for n in nodes {
            let (nw, nh) = n.size();
            if let Some(b) = prev_bottom {
                self.line(cx, b, cx, y);
            }
            self.node(n, cx - nw / 2.0, y);
            prev_bottom = Some(y + nh);
            y += nh + GAP;
        }
    }

    fn node(&mut self, n: &Node, x: f64, y: f64) {
        let (step, lanes, w, h) = match n {
            Node::Leaf(s) => return self.step_box(s, x, y),
            Node::Group { step, lanes, w, h } => (step, lanes, *w, *h),
        };
        let kind = match &step.kind {
            StepKind::Condition { .. } => "branches",
            StepKind::Parallel { .. } => "parallel",
            _ => "loop",
        };
        let dash = if kind == "loop" {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let frame_stroke = if kind == "branches" {
            "none"
        } else {
            "#78909c"
        };
        let _ = write!(
            self.out,
            r##"<g class="group {kind}" data-step="{}" data-lanes="{}"><rect class="frame" x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="none" stroke="{frame_stroke}"{dash}/>"##,
            esc(&step.id),
            lanes.len()
        );
        if kind == "loop" {
            let _ = write!(
                self.out,
                r##"<text class="loop-marker" x="{}" y="{}" text-anchor="end">↻ loop</text>"##,
                x + w - 8.0,
                y + h - 4.0
            );
        }
        let cx = x + w / 2.0;
        self.step_box(step, cx - BOX_W / 2.0, y + PAD);
        let lanes_w: f64 = lanes.iter().map(|l| l.w).sum::<f64>() + GAP * (lanes.len() - 1) as f64;
        let mut lx = cx - lanes_w / 2.0;
        let top = y + PAD + BOX_H + GAP;
        for l in lanes {
            let _ = write!(
                self.out,
                r#"<g class="lane"{}>"#,
                l.label
                    .as_deref()
                    .map(|t| format!(r#" data-label="{}""#, esc(t)))
                    .unwrap_or_default()
            );
            self.line(cx, y + PAD + BOX_H, lx + l.w / 2.0, top);
            let mut ly = top;
            if let Some(label) = &l.label {
                let _ = write!(
                    self.out,
                    r#"<text class="lane-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                    lx + l.w / 2.0,
                    ly + 14.0,
                    esc(&clip(label, 30))
                );
                ly += LABEL_H;
            }
            if l.nodes.is_empty() {
                let _ = write!(
                    self.out,
                    r##"<text class="lane-empty" x="{}" y="{}" text-anchor="middle" fill="#888">(no steps)</text>"##,
                    lx + l.w / 2.0,
                    ly + 16.0
                );
            }
            self.column(&l.nodes, lx, ly, l.w);
            self.out.push_str("</g>");
            lx += l.w + GAP;
        }
        self.out.push_str("</g>");
    }
}

/// The diagram of `w` as an `<svg>`: plain, or coloured by `states` (step id → status, as
/// [`step_states`] makes them; a step with none has not run).
pub fn diagram(w: &Workflow, states: Option<&HashMap<String, String>>) -> String {
    let root = lane(None, &w.steps);
    let legend: Vec<(&str, &str)> = match states {
        Some(_) => STATUS_FILLS.to_vec(),
        None => Vec::new(),
    };
    let width = (root.w + 2.0 * MARGIN).max(560.0);
    let per_row = (((width - 2.0 * MARGIN) / LEGEND_ITEM_W).floor() as usize).max(1);
    let legend_h = LEGEND_ROW * (1 + legend.len().div_ceil(per_row)) as f64;
    let height = root.h + 2.0 * MARGIN + legend_h;
    let steps = w.all_steps().len();
    let title = match states {
        Some(_) => format!("Steps of workflow {} by status in this run", w.name),
        None => format!("Diagram of workflow {}", w.name),
    };
    let desc = format!(
        "{steps} steps from top to bottom; branches and parallel lanes side by side, loops framed."
    );
    let mut p = Painter {
        states,
        out: String::new(),
    };
    let _ = write!(
        p.out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img" aria-labelledby="diagram-title diagram-desc" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title id="diagram-title">{}</title><desc id="diagram-desc">{}</desc>"#,
        esc(&title),
        esc(&desc)
    );
    if root.nodes.is_empty() {
        let _ = write!(
            p.out,
            r#"<text class="empty" x="{MARGIN}" y="{}">No steps.</text>"#,
            MARGIN + 16.0
        );
    }
    p.column(&root.nodes, (width - root.w) / 2.0, MARGIN, root.w);
    // The legend: the marks, then (on a run) what each fill means.
    let ly = root.h + 2.0 * MARGIN + 14.0;
    let _ = write!(
        p.out,
        r##"<g class="legend"><rect x="{MARGIN}" y="{}" width="34" height="16" rx="3" fill="#37474f"/><text x="{}" y="{ly}" text-anchor="middle" fill="#ffffff">PY</text><text x="{}" y="{ly}">python step</text><rect x="{}" y="{}" width="34" height="16" rx="3" fill="#37474f"/><text x="{}" y="{ly}" text-anchor="middle" fill="#ffffff">SUB</text><text x="{}" y="{ly}">sub-workflow call</text><text x="{}" y="{ly}">↻ loop (framed)</text>"##,
        ly - 12.0,
        MARGIN + 17.0,
        MARGIN + 40.0,
        MARGIN + 140.0,
        ly - 12.0,
        MARGIN + 157.0,
        MARGIN + 180.0,
        MARGIN + 310.0,
    );
    for (i, (status, fill)) in legend.iter().enumerate() {
        let x = MARGIN + LEGEND_ITEM_W * (i % per_row) as f64;
        let y = ly + LEGEND_ROW * (1 + i / per_row) as f64;
        let _ = write!(
            p.out,
            r##"<g class="legend-item" data-status="{status}"><rect x="{x}" y="{}" width="14" height="14" fill="{fill}" stroke="#555"/><text x="{}" y="{y}">{}</text></g>"##,
            y - 11.0,
            x + 20.0,
            status.replace('_', " ")
        );
    }
    p.out.push_str("</g></svg>");
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Workflow {
        hookflow_core::workflow::parse(yaml, hookflow_core::workflow::Format::Yaml)
            .map(|(w, _)| w)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    const SHAPES: &str = r#"
name: shapes
steps:
  - id: check
    type: condition
    branches:
      - when: "{{ trigger.body.n > 1 }}"
        steps:
          - {id: big, type: set_variables, values: {}}
    else:
      - {id: small, type: fail, message: "<no>"}
  - id: each
    type: for_each
    items: "{{ [1, 2] }}"
    steps:
      - {id: py, type: python, script: "print(1)"}
  - id: both
    type: parallel
    branches:
      - steps: [{id: left, type: sleep, duration: 1ms}]
      - steps: [{id: sub, type: run_workflow, workflow: "other & <more>"}]
  - {id: done, type: complete}
"#;

    #[test]
    fn shapes_are_boxes_lanes_and_frames_with_marks() {
        let svg = diagram(&parse(SHAPES), None);
        for id in [
            "check", "big", "small", "each", "py", "both", "left", "sub", "done",
        ] {
            assert!(svg.contains(&format!(r#"data-step="{id}""#)), "{id}: {svg}");
        }
        assert!(svg.contains(r#"class="group branches" data-step="check" data-lanes="2""#));
        assert!(svg.contains(r#"class="group loop" data-step="each" data-lanes="1""#));
        assert!(svg.contains(r#"class="group parallel" data-step="both" data-lanes="2""#));
        assert!(
            svg.contains(r#"class="step python" data-step="py""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="step sub-workflow" data-step="sub""#),
            "{svg}"
        );
        assert!(
            svg.contains("run_workflow other &amp; &lt;more&gt;"),
            "{svg}"
        );
        assert!(!svg.contains("<more>"), "{svg}");
        assert!(svg.contains(r#"data-label="else""#), "{svg}");
        assert!(!svg.contains("data-status"), "no run, no statuses: {svg}");
    }

    #[test]
    fn a_run_colours_each_step_and_marks_the_ones_not_run() {
        let counts = vec![
            ("check".to_string(), "succeeded".to_string(), 1),
            ("small".to_string(), "succeeded".to_string(), 1),
            ("each".to_string(), "failed".to_string(), 1),
            ("py".to_string(), "succeeded".to_string(), 1),
            ("py".to_string(), "failed".to_string(), 1),
            ("both".to_string(), "running".to_string(), 1),
            ("left".to_string(), "waiting".to_string(), 1),
        ];
        let states = step_states(&counts);
        assert_eq!(states["py"], "failed");
        let svg = diagram(&parse(SHAPES), Some(&states));
        for (id, status) in [
            ("check", "succeeded"),
            ("big", "not_run"),
            ("py", "failed"),
            ("left", "waiting"),
            ("done", "not_run"),
        ] {
            let want = format!(r#"data-step="{id}" data-type="#);
            let at = svg.find(&want).unwrap_or_else(|| panic!("{id}: {svg}"));
            let tail = &svg[at..at + 120];
            assert!(
                tail.contains(&format!(r#"data-status="{status}""#)),
                "{id}: {tail}"
            );
        }
        assert_eq!(
            svg.matches(r#"class="legend-item""#).count(),
            STATUS_FILLS.len()
        );
    }

    #[test]
    fn running_wins_over_failed_and_failed_over_succeeded() {
        let c = |s: &str, n| ("a".to_string(), s.to_string(), n);
        let one = |v: Vec<(String, String, i64)>| step_states(&v)["a"].clone();
        assert_eq!(one(vec![c("succeeded", 3), c("failed", 1)]), "failed");
        assert_eq!(one(vec![c("failed", 1), c("running", 1)]), "running");
        assert_eq!(one(vec![c("succeeded", 2)]), "succeeded");
        assert!(step_states(&[c("failed", 0)]).is_empty());
    }

    #[test]
    fn empty_and_deeply_nested_workflows() {
        let empty = Workflow {
            steps: Vec::new(),
            ..parse("name: e\nsteps:\n  - {id: x, type: complete}\n")
        };
        let svg = diagram(&empty, None);
        assert!(svg.contains("No steps."), "{svg}");
        // Loops in loops, 8 deep: every level framed inside the one before.
        let mut yaml = String::from("name: deep\nsteps:\n");
        for d in 0..8 {
            let pad = "  ".repeat(2 * d + 1);
            yaml.push_str(&format!(
                "{pad}- id: l{d}\n{pad}  type: for_each\n{pad}  items: \"{{{{ [1] }}}}\"\n{pad}  steps:\n"
            ));
        }
        yaml.push_str(&format!(
            "{}- {{id: inner, type: complete}}\n",
            "  ".repeat(17)
        ));
        let svg = diagram(&parse(&yaml), None);
        assert_eq!(svg.matches(r#"class="group loop""#).count(), 8, "{svg}");
        assert!(svg.contains(r#"data-step="inner""#), "{svg}");
        let width: f64 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("width");
        assert!(width >= BOX_W + 16.0 * PAD, "frames nest: {width}");
    }
}
