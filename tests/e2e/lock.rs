//! One operation at a time: a changing command holds the StatefulSet's Lease while it runs; a
//! second run stops at once naming the first, `--wait-lock` waits for it, a lapsed or stale
//! lock is taken over or removed with `unlock`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::ground::*;

const LEASE: &str = "redis-cluster-lock";

/// Whether the cluster's Lease exists.
fn lease_exists(ns: &str) -> bool {
    kubectl(&["get", "lease", LEASE, "-n", ns]).status.success()
}

/// Writes a Lease held by a run on another machine, renewed now, lasting `seconds`.
fn lease_held_elsewhere(ns: &str, seconds: u32) {
    let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ");
    let yaml = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {LEASE}\n  annotations:\n    redis-cluster.kubectl.io/host: elsewhere\n    redis-cluster.kubectl.io/pid: '4242'\n    redis-cluster.kubectl.io/operation: rebalance --yes\nspec:\n  holderIdentity: ann@elsewhere\n  leaseDurationSeconds: {seconds}\n  acquireTime: '{now}'\n  renewTime: '{now}'\n"
    );
    let file = std::env::temp_dir().join(format!("{ns}-lease.yaml"));
    std::fs::write(&file, yaml).expect("write the lease");
    kubectl_ok(&["apply", "-n", ns, "-f", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_second_scale_is_refused_naming_the_first_and_a_stale_lock_is_waited_out_or_removed() {
    let ns = Namespace::create("lock");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    assert!(!lease_exists(n), "init released its lock");

    // Two scale runs at once: the second stops at once, naming the first.
    let mut first = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .args(["-n", n, "scale", "--masters", "4", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the first scale");
    eventually("the first scale holds the lock", || {
        lease_exists(n).then_some(())
    });
    let held = Instant::now();
    let second = plugin(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let refused_after = held.elapsed();
    assert!(
        first.try_wait().expect("poll").is_none(),
        "the first scale ended before the second was refused; the test proves nothing"
    );
    assert_eq!(second.code, 2, "{second:?}");
    assert!(
        second.stderr.contains(&format!(
            "error: statefulset redis-cluster is locked by {}@",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )) && second
            .stderr
            .contains(&format!("running `-n {n} scale --masters 4` since"))
            && second
                .stderr
                .contains("\nhint: wait for it to finish, or pass --wait-lock"),
        "{}",
        second.stderr
    );
    let out = first.wait_with_output().expect("the first scale ends");
    // The margin this test stands on: how long the first run still held the lock.
    eprintln!(
        "second run refused {refused_after:?} after the lock was seen; the first held it {:?} in all",
        held.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!lease_exists(n), "the first scale released its lock");

    // A lock held on another machine: refused; `unlock` shows it, then removes it.
    lease_held_elsewhere(n, 3600);
    let refused = plugin(&["-n", n, "fix", "--yes"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("is locked by ann@elsewhere (pid 4242), running `rebalance --yes`"),
        "{}",
        refused.stderr
    );
    let planned: serde_json::Value =
        serde_json::from_str(&plugin_ok(&["-n", n, "unlock", "--dry-run", "-o", "json"]))
            .expect("JSON");
    assert_eq!(planned["schema"], "kubectl-redis-cluster/unlock/v1");
    assert_eq!(planned["result"], "planned");
    assert_eq!(planned["holder"]["identity"], "ann@elsewhere");
    assert!(lease_exists(n), "a dry run removes nothing");
    let unlocked = plugin(&["-n", n, "unlock"]);
    assert_eq!(unlocked.code, 2, "no terminal, no --yes: {unlocked:?}");
    assert!(lease_exists(n));
    plugin_ok(&["-n", n, "unlock", "--yes"]);
    assert!(!lease_exists(n));
    plugin_ok(&["-n", n, "fix", "--yes"]);

    // --wait-lock waits until a lock that is no longer renewed lapses, then takes it over.
    lease_held_elsewhere(n, 3);
    let started = Instant::now();
    let waited = plugin(&["-n", n, "fix", "--yes", "--wait-lock"]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(
        waited
            .stderr
            .contains("waiting for ann@elsewhere to finish `rebalance --yes`")
            && waited.stderr.contains(
                "took over the lock of ann@elsewhere (`rebalance --yes`): it was last renewed at"
            ),
        "{}",
        waited.stderr
    );
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited");
    assert!(!lease_exists(n));
}

/// Each master's pod and slot count, from `status -o json` (healthy or not).
fn master_slots(ns: &str) -> Vec<(String, u64)> {
    let run = plugin(&["-n", ns, "status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let mut masters: Vec<(String, u64)> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["role"] == "master")
        .map(|n| {
            (
                n["pod"].as_str().expect("pod").to_string(),
                n["slot_count"].as_u64().expect("slot_count"),
            )
        })
        .collect();
    masters.sort();
    masters
}

#[test]
fn a_reshard_killed_while_slots_move_is_finished_exactly_by_running_it_again() {
    let ns = Namespace::create("journal");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let status: serde_json::Value =
        serde_json::from_str(&plugin_ok(&["-n", n, "status", "-o", "json"])).expect("JSON");
    let seeds: Vec<String> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    crate::cluster::write_keys(&seeds, "j", 20_000);
    let before = master_slots(n);
    let (a, b) = (before[0].0.clone(), before[1].0.clone());
    let reshard = |from: &str, to: &str| {
        plugin_ok(&[
            "-n", n, "reshard", "--from", from, "--to", to, "--slots", "3000", "--batch", "20",
            "--yes",
        ])
    };
    let killed_args = [
        "-n", n, "reshard", "--from", &b, "--to", &a, "--slots", "3000", "--batch", "20", "--yes",
    ];
    let mut rng = Seeded::from_env("reshard kill moments");
    let mut mid_move = 0;
    for round in 0..3 {
        // a → b uninterrupted (timed), then b → a killed while its slots move.
        let started = Instant::now();
        reshard(&a, &b);
        let full = started.elapsed();
        let at = full.mul_f64(0.3 + rng.below(600) as f64 / 1000.0);
        let killed = plugin_killed_after(&killed_args, at);
        let a_after_kill = master_slots(n)
            .iter()
            .find(|(pod, _)| *pod == a)
            .expect("a")
            .1;
        let landed = killed && a_after_kill > before[0].1 - 3000 && a_after_kill < before[0].1;
        mid_move += usize::from(landed);
        eprintln!(
            "round {round}: killed at {at:?} of {full:?}: {killed}; {a} held {a_after_kill} slot(s) then"
        );
        // A run that let go of its lock before the kill came is done: the same command run
        // again would rightly move 3000 more. Any other, even one killed after its last slot
        // moved (its journal marked done, or not yet), is finished by running it again,
        // moving exactly what its plan still lacks.
        if killed && lease_exists(n) {
            plugin_ok(&killed_args);
        }
        assert_eq!(
            master_slots(n),
            before,
            "round {round}: the re-run must finish exactly the killed run's 3000 slots"
        );
        crate::cluster::assert_keys(&seeds, "j", 20_000);
    }
    eprintln!("timed kills that landed while slots moved: {mid_move} of 3");
    // Timed kills land where they land (the slot moves take a fraction of a run); this one
    // ends the run after its first or second window of 1024 slots, always while the rest of
    // its 3000 wait.
    reshard(&a, &b);
    let window = 1 + rng.below(2);
    let stopped = plugin_env(
        &killed_args,
        &[(
            "KUBECTL_REDIS_CLUSTER_FAILPOINT",
            &format!("slots-finalized@{window}"),
        )],
    );
    assert_eq!(stopped.code, 137, "{stopped:?}");
    let a_after_kill = master_slots(n)
        .iter()
        .find(|(pod, _)| *pod == a)
        .expect("a")
        .1;
    assert_eq!(
        a_after_kill,
        before[0].1 - 3000 + 1024 * window,
        "killed after window {window}"
    );
    assert!(lease_exists(n), "the killed run still holds the lock");
    plugin_ok(&killed_args);
    assert_eq!(
        master_slots(n),
        before,
        "the re-run must finish exactly the killed run's 3000 slots"
    );
    crate::cluster::assert_keys(&seeds, "j", 20_000);
}
