//! Manifests: the auth, valkey, tls and hostname overlays, and the loaders' own checks.

use super::*;

#[test]
fn auth_overlay_reads_the_password_from_the_user_secret() {
    let overlay = load::overlay_statefulset("auth");
    let redis = redis_container(&overlay);
    for name in ["REDIS_PASSWORD", "REDISCLI_AUTH"] {
        let key_ref = env(redis, name)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} comes from a secretKeyRef"));
        assert_eq!(
            (key_ref.name.as_str(), key_ref.key.as_str()),
            (AUTH_SECRET, "password"),
            "{name}"
        );
        assert_ne!(
            key_ref.optional,
            Some(true),
            "{name}: a missing Secret must stop the pod, not start it open"
        );
    }
    let text = load::read("manifests/overlays/auth/kustomization.yaml");
    assert!(
        text.contains("kubectl create secret generic redis-cluster-auth"),
        "the overlay documents creating the Secret"
    );
}

#[test]
fn auth_overlay_appends_requirepass_and_masterauth_to_the_command() {
    let base = load::base();
    let overlay = load::overlay_statefulset("auth");
    let before = command_line(redis_container(statefulset(&base)));
    let after = command_line(redis_container(&overlay));
    let mut expected = before.clone();
    expected.extend([
        "--requirepass",
        "$(REDIS_PASSWORD)",
        "--masterauth",
        "$(REDIS_PASSWORD)",
    ]);
    assert_eq!(after, expected);
}

#[test]
fn auth_overlay_changes_nothing_but_the_redis_env_and_command() {
    let base = load::base();
    let mut overlay = load::overlay_statefulset("auth");
    let mut original = statefulset(&base).clone();
    for sts in [&mut overlay, &mut original] {
        let spec = sts
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .expect("pod spec");
        let redis = spec
            .containers
            .iter_mut()
            .find(|c| c.name == "redis")
            .expect("redis container");
        redis.env = None;
        redis.command = None;
    }
    assert_eq!(overlay, original);
}

#[test]
fn valkey_overlay_runs_valkey_server_from_the_stock_image_and_changes_nothing_else() {
    let base = load::base();
    let mut overlay = load::overlay_statefulset("valkey");
    let redis = redis_container(&overlay);
    assert_eq!(redis.image.as_deref(), Some("valkey/valkey:9.1"));
    let command = redis.command.clone().expect("a command");
    assert_eq!(command[0], "valkey-server");
    let base_command = redis_container(statefulset(&base))
        .command
        .clone()
        .expect("base command");
    assert_eq!(command[1..base_command.len()], base_command[1..]);
    assert_eq!(
        command[base_command.len()..],
        ["--shutdown-on-sigterm", "failover"],
        "Valkey 9 fails a master over to a replica when its pod is deleted"
    );
    let probe = redis
        .readiness_probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .and_then(|e| e.command.clone())
        .expect("an exec readiness probe");
    assert_eq!(probe, ["valkey-cli", "ping"]);
    let mut original = statefulset(&base).clone();
    for sts in [&mut overlay, &mut original] {
        let spec = sts
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .expect("pod spec");
        let redis = spec
            .containers
            .iter_mut()
            .find(|c| c.name == "redis")
            .expect("redis container");
        redis.image = None;
        redis.command = None;
        redis.readiness_probe = None;
    }
    assert_eq!(overlay, original);
}

#[test]
fn hostname_overlay_announces_the_pods_dns_name_and_changes_nothing_else() {
    let base = load::base();
    let mut overlay = load::overlay_statefulset("hostname");
    let redis = redis_container(&overlay);
    let base_command = redis_container(statefulset(&base))
        .command
        .clone()
        .expect("base command");
    let command = redis.command.clone().expect("a command");
    assert_eq!(
        command[..base_command.len()],
        base_command[..],
        "the base command is kept"
    );
    assert_eq!(
        command[base_command.len()..],
        [
            "--cluster-announce-hostname",
            "$(POD_NAME).redis-cluster-headless.$(POD_NAMESPACE).svc.cluster.local",
            "--cluster-preferred-endpoint-type",
            "hostname"
        ]
    );
    let service = statefulset(&base)
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone());
    assert_eq!(
        service.as_deref(),
        Some("redis-cluster-headless"),
        "the name's service"
    );
    let env: Vec<(String, String)> = redis
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            let field = e.value_from.as_ref()?.field_ref.as_ref()?;
            Some((e.name.clone(), field.field_path.clone()))
        })
        .collect();
    for wanted in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        assert!(
            env.contains(&(wanted.0.to_string(), wanted.1.to_string())),
            "{env:?}"
        );
    }
    let mut original = statefulset(&base).clone();
    for sts in [&mut overlay, &mut original] {
        let spec = sts
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .expect("pod spec");
        let redis = spec
            .containers
            .iter_mut()
            .find(|c| c.name == "redis")
            .expect("redis container");
        redis.env = None;
        redis.command = None;
    }
    assert_eq!(overlay, original);
}

#[test]
fn tls_overlay_serves_only_tls_from_the_secret_on_the_same_ports() {
    let base = load::base();
    let overlay = load::overlay_statefulset("tls");
    let redis = redis_container(&overlay);
    let before = command_line(redis_container(statefulset(&base)));
    let after = command_line(redis);
    assert_eq!(
        after[..before.len()],
        before[..],
        "the base command is kept"
    );
    for (flag, value) in [
        ("--port", "0"),
        ("--tls-port", "6379"),
        ("--tls-cluster", "yes"),
        ("--tls-replication", "yes"),
        ("--tls-cert-file", "/tls/tls.crt"),
        ("--tls-key-file", "/tls/tls.key"),
        ("--tls-ca-cert-file", "/tls/ca.crt"),
    ] {
        assert_eq!(flag_value(&after, flag), Some(value), "{flag}");
    }
    let mount = redis
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/tls")
        .expect("the Secret is mounted at /tls");
    assert_eq!(mount.read_only, Some(true));
    let volume = pod_spec(&overlay)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mount's volume");
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some(TLS_SECRET));
    assert_eq!(
        secret.default_mode,
        Some(0o440),
        "readable by the redis group only"
    );
    assert_ne!(
        secret.optional,
        Some(true),
        "no Secret, no pod: never plain text"
    );
    let probe = redis
        .readiness_probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .and_then(|e| e.command.as_deref())
        .expect("an exec readiness probe");
    assert_eq!(
        probe,
        [
            "redis-cli",
            "--tls",
            "--cacert",
            "/tls/ca.crt",
            "--cert",
            "/tls/tls.crt",
            "--key",
            "/tls/tls.key",
            "ping"
        ]
    );
    let text = load::read("manifests/overlays/tls/kustomization.yaml");
    assert!(
        text.contains("kubectl create secret generic redis-cluster-tls")
            && text.contains("--tls-secret redis-cluster-tls"),
        "the overlay documents creating the Secret and pointing the plugin at it"
    );
}

#[test]
fn json_patch_helper_fails_on_a_failed_test_op() {
    let mut doc = serde_json::json!({"a": [{"name": "redis"}]});
    let op = |op: &str, path: &str, value: Value| load::JsonPatchOp {
        op: op.into(),
        path: path.into(),
        value,
    };
    assert!(load::apply(&mut doc, &op("test", "/a/0/name", "redis".into())).is_ok());
    assert!(load::apply(&mut doc, &op("test", "/a/0/name", "sidecar".into())).is_err());
    assert!(load::apply(&mut doc, &op("add", "/a/-", Value::Null)).is_ok());
    assert_eq!(doc["a"].as_array().map(Vec::len), Some(2));
}

#[test]
fn unknown_fields_are_caught_by_the_round_trip() {
    let typo = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIp: None\n";
    let raw: Value = serde_saphyr::from_str(typo).expect("yaml");
    let typed: Service = serde_saphyr::from_str(typo).expect("a Service, unknown fields ignored");
    let reserialized = serde_json::to_value(&typed).expect("json");
    let problem = load::dropped_field(&raw, &reserialized, "").expect("the typo is reported");
    assert!(problem.contains("/spec/clusterIp"), "{problem}");
}
