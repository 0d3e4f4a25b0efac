//! A password-protected cluster (`manifests/overlays/auth`): the plugin finds the Secret the
//! StatefulSet reads its password from, with no flag, never prints it, and names the Secret
//! when it cannot read it.

use crate::cluster::*;
use crate::ground::*;

const PASSWORD: &str = "e2e-Secret-pw-4f2a";

#[test]
fn the_password_is_read_from_the_statefulsets_secret_and_never_printed() {
    let ns = Namespace::create("auth");
    kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "redis-cluster-auth",
        "-n",
        &ns.name,
        &format!("--from-literal=password={PASSWORD}"),
    ]);
    apply_overlay("auth", &ns.name);

    let mut outputs = Vec::new();
    let init = plugin(&["-n", &ns.name, "init", "--yes"]);
    assert_eq!(init.code, 0, "{}{}", init.stdout, init.stderr);
    outputs.push(init);
    let status = plugin(&["-n", &ns.name, "status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert_eq!(status_json(&status.stdout)["healthy"], true);
    outputs.push(status);
    let pong = plugin(&["-n", &ns.name, "cli", "redis-cluster-0", "--", "ping"]);
    assert_eq!(pong.stdout, "PONG\n", "{}", pong.stderr);
    outputs.push(pong);

    let missing = plugin(&[
        "-n",
        &ns.name,
        "--password-secret",
        "no-such-secret",
        "status",
    ]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("cannot read the password (named by --password-secret)")
            && missing.stderr.contains("secret no-such-secret not found"),
        "{}",
        missing.stderr
    );
    outputs.push(missing);

    // A Secret holding another password: one error naming that Secret; nothing changes.
    kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "stale-auth",
        "-n",
        &ns.name,
        "--from-literal=password=an-old-password",
    ]);
    for args in [&["status"][..], &["rebalance", "--yes"]] {
        let run = plugin(
            &[
                &["-n", &ns.name, "--password-secret", "stale-auth"][..],
                args,
            ]
            .concat(),
        );
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("authentication to")
                && run.stderr.contains(&format!(
                    "secret {}/stale-auth key password, named by --password-secret",
                    ns.name
                )),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("an-old-password"));
        outputs.push(run);
    }
    let healthy = plugin(&["-n", &ns.name, "status", "-o", "json"]);
    assert_eq!(status_json(&healthy.stdout)["healthy"], true);

    for run in &outputs {
        assert!(
            !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
            "the password was printed"
        );
    }
}
