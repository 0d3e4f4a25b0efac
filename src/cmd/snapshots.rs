//! Snapshot tests (insta) of what users read, built from fixture clusters (fixed node ids and
//! addresses, so nothing needs redacting): the `status` table and JSON, the plans of `scale`
//! and `rolling-restart` as printed and as JSON, and every refusal as `error:` and `hint:`
//! lines. A change to any of them shows as a diff in `src/cmd/snapshots/` to review
//! (`cargo insta review`, or accept with `INSTA_UPDATE=always`); CI fails on an unreviewed one.
//! The help of every command is snapshotted in `crate::cli`.

use std::collections::BTreeMap;

use crate::k8s::membership::PodNames;
use crate::output::json::write_report;
use crate::output::status::{build, write_table};
use crate::output::styles::Styles;
use crate::plan::layout::even_slot_split;
use crate::plan::rollout::{RollMember, plan as roll_plan};
use crate::plan::scale::{PodNode, ScaleInput, ScalePod, plan_scale};
use crate::topology::SlotSet;
use crate::topology::fixtures::{Fixture, fixture_id};
use crate::topology::health::check;

use super::refusal::Refusal;
use super::report::ScaleChange;

/// A report as `-o json` prints it (with its schema).
fn json(command: &str, report: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    write_report(&mut out, command, report).unwrap();
    String::from_utf8(out).unwrap()
}

/// The status table of `fixture`, and its JSON.
fn status(fixture: &Fixture) -> (String, String) {
    let view = fixture.view();
    let mut pods = PodNames::new();
    for i in 0..6 {
        pods.insert(
            fixture_id(i),
            (
                format!("redis-cluster-{i}"),
                Some(format!("node-{}", i % 3)),
            ),
        );
    }
    let report = build(&view, check(&view, Some(1)), &pods, None, None);
    let mut table = Vec::new();
    write_table(&report, &Styles::default(), &mut table).unwrap();
    (String::from_utf8(table).unwrap(), json("status", &report))
}

#[test]
fn status_of_a_healthy_cluster() {
    let (table, json) = status(&Fixture::healthy(3, 1));
    insta::assert_snapshot!("status_healthy_table", table);
    insta::assert_snapshot!("status_healthy_json", json);
}

#[test]
fn status_of_a_cluster_with_an_uncovered_slot() {
    let (table, json) = status(&Fixture::healthy(3, 1).uncover(42));
    insta::assert_snapshot!("status_uncovered_table", table);
    insta::assert_snapshot!("status_uncovered_json", json);
}

/// Pods `0..masters` serve the slots evenly; each pod of `replicas` follows the master given.
fn scale_pods(masters: &[u32], replicas: &[(u32, u32)]) -> Vec<ScalePod> {
    let split = even_slot_split(masters.len());
    let node = |i: u32, slots: SlotSet, master: Option<u32>| ScalePod {
        pod: format!("redis-cluster-{i}"),
        ordinal: i,
        domain: format!("zone-{}", i % 3),
        node: Some(PodNode {
            id: fixture_id(i as usize),
            slots,
            master: master.map(|m| fixture_id(m as usize)),
        }),
        lingering: false,
    };
    let mut pods: Vec<ScalePod> = masters
        .iter()
        .zip(split)
        .map(|(&i, range)| {
            let mut set = SlotSet::default();
            set.insert_range(range);
            node(i, set, None)
        })
        .collect();
    pods.extend(
        replicas
            .iter()
            .map(|&(i, m)| node(i, SlotSet::default(), Some(m))),
    );
    pods.sort_by_key(|p| p.ordinal);
    pods
}

/// The plan of `scale --masters masters` as printed, and as `--dry-run -o json` prints it.
fn scale(pods: Vec<ScalePod>, masters: usize, claims: bool) -> (String, String) {
    let input = ScaleInput {
        statefulset: "redis-cluster".into(),
        pods_now: pods.len() as u32,
        claims: if claims {
            (0..pods.len() as u32)
                .map(|i| (format!("data-redis-cluster-{i}"), i))
                .collect()
        } else {
            Vec::new()
        },
        pods,
        masters,
        replicas: 1,
        open_slots: 0,
    };
    let mut plan = plan_scale(&input).unwrap();
    let keys: BTreeMap<u16, u64> = plan.moves.iter().map(|m| (m.slot, 3)).collect();
    plan.count_keys(&keys);
    let text = crate::output::steps::numbered(&plan.steps, Some("redis-cluster"));
    let report = ScaleChange {
        result: "planned",
        statefulset: "redis-cluster".into(),
        masters,
        replicas_per_master: 1,
        plan,
        fingerprint: Some("0123456789abcdef".into()),
    };
    (text.join("\n"), json("scale", &report))
}

#[test]
fn scale_plans_up_and_down() {
    let (text, json) = scale(scale_pods(&[0, 1, 2], &[(3, 0), (4, 1), (5, 2)]), 4, false);
    insta::assert_snapshot!("scale_up_steps", text);
    insta::assert_snapshot!("scale_up_json", json);
    let (text, json) = scale(
        scale_pods(&[0, 1, 6, 7], &[(2, 6), (3, 7), (4, 0), (5, 1)]),
        3,
        true,
    );
    insta::assert_snapshot!("scale_down_steps", text);
    insta::assert_snapshot!("scale_down_json", json);
}

#[test]
fn rolling_restart_plan() {
    let members: Vec<RollMember> = (0..6u32)
        .map(|i| RollMember {
            pod: format!("redis-cluster-{i}"),
            ordinal: i,
            id: Some(fixture_id(i as usize)),
            master: (i >= 3).then(|| fixture_id(i as usize - 3)),
            slots: if i < 3 { 5461 } else { 0 },
            in_sync: true,
            outdated: true,
        })
        .collect();
    let steps = roll_plan(&members).unwrap();
    insta::assert_snapshot!(
        "rolling_restart_steps_json",
        serde_json::to_string_pretty(&steps).unwrap()
    );
}

#[test]
fn every_refusal_reads_as_an_error_and_a_hint() {
    use crate::output::prompt::NotConfirmed;
    let refusals = vec![
        Refusal::NeedsDrain {
            node: "127.0.0.1:7000".into(),
            slots: 5461,
        },
        Refusal::NotEmpty {
            node: "127.0.0.1:7006".into(),
            keys: 12,
        },
        Refusal::NotEnoughSlots {
            available: 100,
            wanted: 1000,
            rerun: "reshard --from 127.0.0.1:7000 --to 127.0.0.1:7001 --slots 100".into(),
        },
        Refusal::OpenSlots(vec!["slot 7: MIGRATING on 127.0.0.1:7000, no IMPORTING side".into()]),
        Refusal::KubernetesOnly { command: "scale" },
        Refusal::NoPods {
            statefulset: "redis-cluster".into(),
            namespace: "cache".into(),
        },
        Refusal::NoRoom(vec!["127.0.0.1:7001 uses 90 MiB and would receive about 20 MiB more, over its maxmemory 100 MiB".into()]),
        Refusal::PlanStale {
            why: "fingerprint 0123456789abcdef in the plan, fedcba9876543210 now".into(),
        },
        Refusal::CannotScale("4 nodes serve slots but only 3 masters are wanted".into()),
        Refusal::NotConfirmed(NotConfirmed::NoTerminal {
            action: "move slots".into(),
        }),
        Refusal::NotConfirmed(NotConfirmed::Declined),
        Refusal::NotHealthy("slot 42 is served by no node".into()),
        Refusal::NotConverged("replica 127.0.0.1:7004 is not in sync".into()),
    ];
    let text: Vec<String> = refusals
        .iter()
        .map(|r| format!("exit {}\nerror: {r}\nhint: {}\n", r.exit_code(), r.hint()))
        .collect();
    insta::assert_snapshot!("refusals", text.join("\n"));
}
