//! Membership and Kubernetes steps ([`crate::plan::steps`]) as a plan prints them.

use crate::plan::steps::{FailoverMode, Step};

/// One step, e.g. `make redis-cluster-7 a replica of redis-cluster-6`; `statefulset` names
/// the StatefulSet a `scale_statefulset` step resizes.
pub fn describe(step: &Step, statefulset: Option<&str>) -> String {
    match step {
        Step::ScaleStatefulset { from, to } => format!(
            "scale statefulset {} {from} → {to}",
            statefulset.unwrap_or("?")
        ),
        Step::Join { node } => format!("{node} joins the cluster (MEET)"),
        Step::Promote {
            node,
            replaces,
            mode,
        } => {
            let how = match mode {
                None => String::new(),
                Some(FailoverMode::Force) => " with FORCE".into(),
                Some(FailoverMode::Takeover) => " with TAKEOVER".into(),
            };
            format!(
                "promote {node} in place of its master {replaces}{how} (its slots change hands, no key moves)"
            )
        }
        Step::FinishMoves { slots } => {
            format!("finish {slots} slot(s) an interrupted run left open")
        }
        Step::MoveSlots {
            from,
            to,
            slots,
            ranges,
            keys,
        } => {
            let keys = keys.map_or_else(String::new, |k| format!(", {k} key(s)"));
            let shown = if ranges.len() > 40 {
                format!("{}…", &ranges[..ranges[..40].rfind(' ').unwrap_or(40)])
            } else {
                ranges.clone()
            };
            format!("move {slots} slot(s) ({shown}) from {from} to {to}{keys}")
        }
        Step::Replicate { node, master } => format!("make {node} a replica of {master}"),
        Step::Forget { node } => format!("every other node forgets {node} (CLUSTER FORGET)"),
        Step::Reset { node } => format!("reset {node} (CLUSTER RESET HARD)"),
        Step::DeleteClaim { claim } => format!("delete PVC {claim} (its data is gone)"),
    }
}

/// The steps, numbered, one per line, indented under a `Plan:` line.
pub fn numbered(steps: &[Step], statefulset: Option<&str>) -> Vec<String> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("  {}. {}", i + 1, describe(s, statefulset)))
        .collect()
}
