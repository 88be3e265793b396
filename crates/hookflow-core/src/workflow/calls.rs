//! The `run_workflow` call graph: which workflows a workflow calls, and the cycle a call would
//! close. Validation refuses a call that leads back to the calling workflow (A → B → A, or
//! longer), since one run of it would start runs without end; the check reads what the other
//! workflows call from the [`Catalog`](super::Catalog), so a cycle is reported on every
//! workflow in it once they are all saved (each is re-validated when another one changes).

use std::collections::{HashMap, VecDeque};

use super::model::{StepKind, Workflow};

impl Workflow {
    /// The workflows this one calls with `run_workflow` steps, each once, in document order.
    pub fn called_workflows(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.all_steps() {
            if let StepKind::RunWorkflow { workflow, .. } = &s.kind
                && !out.contains(workflow)
            {
                out.push(workflow.clone());
            }
        }
        out
    }
}

/// The shortest chain of calls from `target` back to `caller` (`[caller, target, …, caller]`),
/// following what `calls` says each workflow calls; `None` if there is none. `caller`'s own
/// calls are not followed (the document being validated may differ from what is stored).
pub(super) fn cycle_through(
    caller: &str,
    target: &str,
    calls: &dyn Fn(&str) -> Vec<String>,
) -> Option<Vec<String>> {
    if target == caller {
        return Some(vec![caller.to_string(), caller.to_string()]);
    }
    // Breadth first, remembering how each workflow was reached.
    let mut came_from: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([target.to_string()]);
    came_from.insert(target.to_string(), String::new());
    while let Some(name) = queue.pop_front() {
        for next in calls(&name) {
            if next == caller {
                let mut chain = vec![caller.to_string()];
                let mut at = name.clone();
                while !at.is_empty() {
                    chain.push(at.clone());
                    at = came_from.get(&at).cloned().unwrap_or_default();
                }
                chain[1..].reverse();
                chain.push(caller.to_string());
                return Some(chain);
            }
            if !came_from.contains_key(&next) {
                came_from.insert(next.clone(), name.clone());
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> impl Fn(&str) -> Vec<String> {
        let edges: Vec<(String, String)> = edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |n: &str| {
            edges
                .iter()
                .filter(|(a, _)| a == n)
                .map(|(_, b)| b.clone())
                .collect()
        }
    }

    #[test]
    fn finds_the_shortest_cycle() {
        let g = graph(&[("b", "c"), ("c", "d"), ("d", "a"), ("c", "a"), ("x", "b")]);
        assert_eq!(
            cycle_through("a", "b", &g),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(cycle_through("a", "a", &g).map(|c| c.len()), Some(2));
        assert_eq!(cycle_through("a", "x", &g).map(|c| c.len()), Some(5));
        let acyclic = graph(&[("b", "c"), ("c", "d"), ("d", "b")]);
        assert_eq!(cycle_through("a", "b", &acyclic), None);
    }
}
