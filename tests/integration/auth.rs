//! Clusters with passwords: `requirepass`/`masterauth` and an ACL user with the default user
//! switched off. Every command works with the password from `REDISCLI_AUTH` (MIGRATE passes
//! it on with AUTH/AUTH2); a wrong or missing password is one clear error naming where the
//! password came from, with exit code 2 and nothing changed; the password never appears in
//! anything the plugin prints.

use std::process::Output;

use crate::harness::*;

/// Long and unusual, so finding it in output cannot be a coincidence.
const PASSWORD: &str = "pw-7f1c9e-Kestrel-never-printed";

/// Nodes with `requirepass` and `masterauth`.
fn password_nodes() -> Nodes {
    Nodes::secured(
        Access::password(PASSWORD),
        Box::new(|_| {
            ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
                .map(String::from)
                .to_vec()
        }),
    )
}

/// Nodes where only the ACL user `admin` may log in; replicas authenticate as `admin` too.
fn acl_nodes() -> Nodes {
    let user = format!(">{PASSWORD}");
    Nodes::secured(
        Access::user("admin", PASSWORD),
        Box::new(move |_| {
            [
                "--user", "admin", "on", &user, "~*", "&*", "+@all", "--user", "default", "off",
            ]
            .into_iter()
            .chain(["--masteruser", "admin", "--masterauth", PASSWORD])
            .map(String::from)
            .collect()
        }),
    )
}

/// Asserts `secret` appears in neither stream of `out`.
fn assert_not_shown(out: &Output, secret: &str) {
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(
            !text.contains(secret),
            "the password appears on {name}:\n{text}"
        );
    }
}

/// Creates a 3+3 cluster with keys, adds a master, rebalances, and checks everything, with the
/// nodes' own access; asserts the password is never printed.
fn create_status_and_rebalance(mut nodes: Nodes) {
    nodes.add(6);
    let init = nodes.init(1);
    assert_not_shown(&init, PASSWORD);
    nodes.assert_redis_cli_agrees_healthy();
    nodes.write_keys("a", 3_000);

    let new = nodes.add(1).remove(0);
    let mut outputs = vec![init];
    for args in [
        &["status"][..],
        &["status", "-o", "json"],
        &["add-node", &new, "--yes"],
        &[
            "rebalance",
            "--use-empty-masters",
            "--dry-run",
            "-o",
            "json",
        ],
        &[
            "rebalance",
            "--use-empty-masters",
            "--batch",
            "50",
            "--yes",
            "-o",
            "json",
        ],
    ] {
        let out = nodes.plugin(args);
        assert_success(&out);
        outputs.push(out);
    }
    let moved: serde_json::Value =
        serde_json::from_slice(&outputs[5].stdout).expect("the rebalance report is JSON");
    assert_eq!(moved["stats"]["slots"], 4096);
    assert!(
        moved["stats"]["keys"].as_u64().is_some_and(|keys| keys > 0),
        "MIGRATE moved no key"
    );
    for out in &outputs {
        assert_not_shown(out, PASSWORD);
    }
    nodes.assert_keys_intact("a", 3_000);
    nodes.assert_redis_cli_agrees_healthy();
}

#[test]
fn a_requirepass_cluster_is_created_rebalanced_and_checked_without_the_password_ever_shown() {
    create_status_and_rebalance(password_nodes());
}

#[test]
fn an_acl_user_creates_and_rebalances_a_cluster_whose_default_user_is_off() {
    create_status_and_rebalance(acl_nodes());
}

/// Runs each command with `access` on `nodes` and asserts it fails with exit code 2, with the
/// auth error naming `origin`, the given password nowhere in the output, and no change.
fn assert_refused_unchanged(nodes: &Nodes, access: &Access, origin: &str) {
    let before = nodes.layout();
    let seed = nodes.seed();
    for args in [
        &["status"][..],
        &["status", "-o", "json"],
        &["rebalance", "--use-empty-masters", "--yes"],
        &[
            "reshard", "--from", "all", "--to", &seed, "--slots", "10", "--yes",
        ],
        &["fix", "--yes"],
        &["del-node", &seed, "--drain", "--yes"],
    ] {
        let all: Vec<&str> = ["--seed", seed.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let out = access.plugin(&all);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("authentication to ") && err.contains(origin),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.matches("error:").count(),
            1,
            "{args:?}: one error, not several:\n{err}"
        );
        if let Some(given) = &access.password {
            assert_not_shown(&out, given);
        }
        assert_not_shown(&out, PASSWORD);
    }
    assert_eq!(
        nodes.layout(),
        before,
        "a refused command changed the cluster"
    );
}

#[test]
fn a_wrong_or_missing_password_is_one_error_naming_its_source_and_changes_nothing() {
    let mut nodes = password_nodes();
    nodes.add(3);
    nodes.init(0);
    nodes.write_keys("w", 500);
    // An empty master, so that rebalance and del-node would have work to do.
    let new = nodes.add(1).remove(0);
    assert_success(&nodes.plugin(&["add-node", &new, "--yes"]));

    let wrong = nodes.access.with_password(Some("wrong-Osprey-4417"));
    assert_refused_unchanged(&nodes, &wrong, "(password from REDISCLI_AUTH)");
    let missing = nodes.access.with_password(None);
    assert_refused_unchanged(&nodes, &missing, "(no password given; set REDISCLI_AUTH");

    // init on fresh protected nodes names every node, and none of them meets another.
    let mut fresh = password_nodes();
    fresh.add(3);
    let out = wrong.plugin(&[
        "init",
        "--nodes",
        &fresh.list(),
        "--replicas-per-master",
        "0",
        "--yes",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    for n in &fresh.nodes {
        assert!(
            stderr(&out).contains(&format!(
                "authentication to {} failed (password from REDISCLI_AUTH)",
                n.addr()
            )),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            n.cli(&["cluster", "nodes"]).lines().count(),
            1,
            "{} met someone",
            n.addr()
        );
    }
    assert_not_shown(&out, "wrong-Osprey-4417");
    nodes.assert_keys_intact("w", 500);
    nodes.assert_redis_cli_agrees_healthy();
}

#[test]
fn a_wrong_password_for_an_acl_user_names_the_user_and_where_the_password_came_from() {
    let mut nodes = acl_nodes();
    nodes.add(3);
    nodes.init(0);
    let wrong = nodes.access.with_password(Some("wrong-Heron-2291"));
    assert_refused_unchanged(&nodes, &wrong, "(user admin, password from REDISCLI_AUTH)");
    // The right password without --user logs in as `default`, which is off.
    let no_user = Access::password(PASSWORD);
    assert_refused_unchanged(&nodes, &no_user, "(password from REDISCLI_AUTH)");
}
