//! One operation at a time with `--seed`: the lock is a state file on this machine (under
//! `$XDG_STATE_HOME`, a temporary one per test here), found by the cluster's node ids, so a
//! run through another node of the same cluster finds it too. A run is caught holding it by
//! the `lock-taken:stop` failpoint (it stops itself right after taking it), so the second run
//! meets a live holder every time, not by a race.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::*;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-redis_cluster");
const FAILPOINT: &str = "KUBECTL_REDIS_CLUSTER_FAILPOINT";

/// Runs the plugin with `args`, its state under `state`, plus `env`.
fn plugin_in(state: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec![("XDG_STATE_HOME", state.to_str().expect("utf-8 path"))];
    all.extend_from_slice(env);
    plugin_env(args, &all)
}

/// The lock files under `state`.
fn lock_files(state: &Path) -> Vec<String> {
    let dir = state.join("kubectl-redis-cluster");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("lock-") && n.ends_with(".json"))
        .collect()
}

/// Whether process `pid` is stopped (state `T` in /proc).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    })
}

fn signal(child: &Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {sig} {}", child.id());
}

#[test]
fn a_second_seed_run_is_refused_naming_the_first_and_a_gone_ones_lock_is_taken_over_or_unlocked() {
    let state = tempfile::tempdir().expect("a state dir");
    let nodes = Nodes::start(6);
    nodes.init(1);
    let seed = nodes.seed();
    let other = nodes.nodes[3].addr();

    // The first run stops itself right after taking the lock.
    let first = Command::new(PLUGIN)
        .args(["--seed", &seed, "fix", "--yes"])
        .env("XDG_STATE_HOME", state.path())
        .env(FAILPOINT, "lock-taken:stop")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the first run");
    wait_for("the first run to stop holding the lock", || {
        stopped(first.id())
    });
    assert_eq!(lock_files(state.path()).len(), 1);

    // Through another node of the same cluster: refused at once, naming the first.
    let second = plugin_in(state.path(), &["--seed", &other, "rebalance", "--yes"], &[]);
    assert_exit(&second, 2);
    let said = stderr(&second);
    assert!(
        said.contains(&format!(
            "error: the cluster is locked by {}@",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )) && said.contains(&format!(
            "(pid {}), running `--seed {seed} fix` since",
            first.id()
        )) && said.contains("\nhint: wait for it to finish, or pass --wait-lock"),
        "{said}"
    );
    let planned = plugin_in(
        state.path(),
        &["--seed", &other, "unlock", "--dry-run", "-o", "json"],
        &[],
    );
    assert_success(&planned);
    let planned: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("JSON");
    assert_eq!(planned["schema"], "kubectl-redis-cluster/unlock/v1");
    assert_eq!(planned["result"], "planned");
    assert_eq!(planned["holder"]["pid"], first.id());
    assert!(planned["lease"].is_null(), "{planned}");

    // Let it go on: it finishes and lets go of the lock.
    signal(&first, "-CONT");
    let out = first.wait_with_output().expect("the first run ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lock_files(state.path()), Vec::<String>::new(), "released");

    // A run killed holding it: the next run takes it over at once, saying so.
    let killed = plugin_in(
        state.path(),
        &["--seed", &seed, "fix", "--yes"],
        &[(FAILPOINT, "lock-taken")],
    );
    assert_exit(&killed, 137);
    let next = plugin_in(state.path(), &["--seed", &other, "rebalance", "--yes"], &[]);
    assert_success(&next);
    assert!(
        stderr(&next).contains("took over the lock of") && stderr(&next).contains("is gone"),
        "{}",
        stderr(&next)
    );
    assert_eq!(lock_files(state.path()), Vec::<String>::new());

    // `unlock` removes a gone run's lock (no terminal: only with --yes).
    let killed = plugin_in(
        state.path(),
        &["--seed", &seed, "fix", "--yes"],
        &[(FAILPOINT, "lock-taken")],
    );
    assert_exit(&killed, 137);
    assert_exit(
        &plugin_in(state.path(), &["--seed", &seed, "unlock"], &[]),
        2,
    );
    assert_eq!(lock_files(state.path()).len(), 1);
    assert_success(&plugin_in(
        state.path(),
        &["--seed", &seed, "unlock", "--yes"],
        &[],
    ));
    assert_eq!(lock_files(state.path()), Vec::<String>::new());
    nodes.assert_redis_cli_agrees_healthy();
}

#[test]
fn a_reshard_killed_after_saving_its_journal_shows_it_in_a_dry_run_and_the_same_command_finishes_it()
 {
    const SLOTS: usize = 1_500;
    let state = tempfile::tempdir().expect("a state dir");
    let nodes = Nodes::start(3);
    nodes.init(0);
    nodes.write_keys("journal", 2_000);
    let seed = nodes.seed();
    let to = nodes.nodes[1].addr();
    let slots_of =
        |addr: &str| own_slot_count(nodes.nodes.iter().find(|n| n.addr() == addr).expect("node"));
    let before = slots_of(&to);
    let args = [
        "--seed",
        &seed,
        "reshard",
        "--from",
        &seed,
        "--to",
        &to,
        "--slots",
        "1500",
        "--migration",
        "keys",
        "--yes",
    ];
    let killed = plugin_in(state.path(), &args, &[(FAILPOINT, "journal-saved")]);
    assert_exit(&killed, 137);
    assert_eq!(slots_of(&to), before, "killed before any slot moved");

    // The dry run shows the plan a real run would continue, not a new one.
    let mut dry: Vec<&str> = args.iter().copied().filter(|a| *a != "--yes").collect();
    dry.extend(["--dry-run", "-o", "json"]);
    let planned = plugin_in(state.path(), &dry, &[]);
    assert_success(&planned);
    let said = stderr(&planned);
    assert!(
        said.contains("a real run would take over the lock of")
            && said.contains(&format!(
                "continuing the interrupted `--seed {seed} reshard --from {seed} --to {to} --slots 1500 --migration keys`: 1500 of its 1500 slot(s) still to move"
            )),
        "{said}"
    );
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("JSON");
    assert_eq!(plan["result"], "planned");
    assert_eq!(
        plan["moves"].as_array().map(Vec::len),
        Some(SLOTS),
        "{plan}"
    );
    assert_eq!(slots_of(&to), before, "a dry run moves nothing");

    // The same command finishes it: exactly SLOTS moved in all, and the lock goes with the
    // finished journal.
    let again = plugin_in(state.path(), &args, &[]);
    assert_success(&again);
    assert_eq!(slots_of(&to), before + SLOTS);
    assert_eq!(lock_files(state.path()), Vec::<String>::new());
    // Killed after its journal was marked done, before it let go of the lock: the same
    // command run again moves nothing (it is not taken for a new reshard of 1500 more).
    let finished = plugin_in(state.path(), &args, &[(FAILPOINT, "journal-finished")]);
    assert_exit(&finished, 137);
    assert_eq!(slots_of(&to), before + 2 * SLOTS, "it had moved its slots");
    let again = plugin_in(state.path(), &args, &[]);
    assert_success(&again);
    assert!(
        stderr(&again).contains("had moved all 1500 of its slot(s) when it was stopped"),
        "{}",
        stderr(&again)
    );
    assert_eq!(slots_of(&to), before + 2 * SLOTS, "nothing more moved");
    assert_eq!(lock_files(state.path()), Vec::<String>::new());
    // Run once more, it is a new reshard of its own.
    let third = plugin_in(state.path(), &args, &[]);
    assert_success(&third);
    assert_eq!(slots_of(&to), before + 3 * SLOTS);
    nodes.assert_redis_cli_agrees_healthy();
    nodes.assert_keys_intact("journal", 2_000);
}
