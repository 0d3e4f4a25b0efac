//! Manifests: redis.conf, the Services, the disruption budget and RBAC.

use super::*;

#[test]
fn redis_conf_enables_cluster_mode_with_its_state_on_the_claim() {
    let docs = load::base();
    let conf = redis_conf(&docs);
    assert_eq!(conf.get("cluster-enabled").map(String::as_str), Some("yes"));
    let data = mount_path(redis_container(statefulset(&docs)), "data");
    let nodes_conf = conf
        .get("cluster-config-file")
        .expect("cluster-config-file");
    assert!(
        nodes_conf.starts_with(&format!("{data}/")),
        "{nodes_conf} must be on the claim mounted at {data}, or a restarted node loses its identity"
    );
    assert_eq!(conf.get("dir"), Some(&data.to_owned()));
}

#[test]
fn redis_conf_leaves_replica_placement_to_the_plugin() {
    let conf = redis_conf(&load::base());
    assert_eq!(
        conf.get("cluster-allow-replica-migration")
            .map(String::as_str),
        Some("no")
    );
}

#[test]
fn redis_conf_sets_the_documented_cluster_options() {
    let docs = load::base();
    let conf = redis_conf(&docs);
    let redis = redis_container(statefulset(&docs));
    let expected = [
        ("cluster-node-timeout", "5000".to_owned()),
        ("cluster-require-full-coverage", "yes".to_owned()),
        ("appendonly", "yes".to_owned()),
        ("protected-mode", "no".to_owned()),
        ("port", container_port(redis, "redis").to_string()),
    ];
    for (key, value) in expected {
        assert_eq!(conf.get(key), Some(&value), "redis.conf {key}");
    }
    if let Some(bus) = conf.get("cluster-port") {
        assert_eq!(*bus, container_port(redis, "cluster-bus").to_string());
    }
}

#[test]
fn redis_conf_holds_no_per_pod_or_secret_settings() {
    let conf = redis_conf(&load::base());
    for key in [
        "cluster-announce-ip",
        "requirepass",
        "masterauth",
        "replicaof",
        "slaveof",
    ] {
        assert!(!conf.contains_key(key), "redis.conf must not set {key}");
    }
}

// ---------------------------------------------------------------------------
// Manifests: Services and the disruption budget
// ---------------------------------------------------------------------------

#[test]
fn headless_service_publishes_every_pod_on_both_ports() {
    let docs = load::base();
    let svc = load::the(&docs, HEADLESS, Object::as_service)
        .spec
        .as_ref()
        .expect("spec");
    assert_eq!(svc.cluster_ip.as_deref(), Some("None"));
    assert_eq!(svc.publish_not_ready_addresses, Some(true));
    let ports: BTreeSet<i32> = svc.ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(ports, BTreeSet::from([6379, 16379]));
}

#[test]
fn client_service_serves_port_6379() {
    let docs = load::base();
    let svc = load::the(&docs, APP, Object::as_service)
        .spec
        .as_ref()
        .expect("spec");
    assert_ne!(svc.cluster_ip.as_deref(), Some("None"));
    let ports: Vec<i32> = svc.ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(ports, [6379]);
}

#[test]
fn services_target_named_container_ports_and_select_the_pods() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let redis = redis_container(sts);
    for name in [APP, HEADLESS] {
        let spec = load::the(&docs, name, Object::as_service)
            .spec
            .as_ref()
            .expect("spec");
        assert!(
            selects(spec.selector.as_ref().expect("selector"), pod_labels(sts)),
            "Service {name} selects the pods"
        );
        for port in spec.ports.iter().flatten() {
            let target = match port.target_port.as_ref().expect("targetPort") {
                IntOrString::String(n) => container_port(redis, n),
                IntOrString::Int(n) => *n,
            };
            assert_eq!(target, port.port, "Service {name} port {}", port.port);
        }
    }
}

#[test]
fn pod_disruption_budget_allows_one_pod_down() {
    let docs = load::base();
    let pdb = load::the(&docs, APP, Object::as_pod_disruption_budget)
        .spec
        .as_ref()
        .expect("spec");
    assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
    assert!(pdb.min_available.is_none());
    let selector = pdb.selector.as_ref().expect("selector");
    assert!(selects(
        match_labels(selector),
        pod_labels(statefulset(&docs))
    ));
}

#[test]
fn statefulset_selector_matches_its_pod_template() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let selector = &sts.spec.as_ref().expect("spec").selector;
    assert!(selects(match_labels(selector), pod_labels(sts)));
}

// ---------------------------------------------------------------------------
// Manifests: RBAC
// ---------------------------------------------------------------------------

#[test]
fn plugin_user_role_grants_exactly_the_verbs_the_plugin_uses() {
    let docs = load::base();
    let role = load::operator_role(&docs);
    let table: &[(&str, &str, &[&str])] = &[
        ("", "pods", &["get", "list", "watch", "delete"]),
        ("", "pods/portforward", &["get", "create"]),
        ("", "pods/exec", &["get", "create"]),
        (
            "apps",
            "statefulsets",
            &["get", "list", "watch", "patch", "create", "delete"],
        ),
        ("apps", "statefulsets/scale", &["get", "patch", "update"]),
        ("", "persistentvolumeclaims", &["get", "list", "delete"]),
        ("", "configmaps", &["get", "create", "patch", "delete"]),
        ("", "services", &["get", "create", "patch", "delete"]),
        (
            "policy",
            "poddisruptionbudgets",
            &["get", "create", "patch", "delete"],
        ),
        ("", "secrets", &["get"]),
        (
            "coordination.k8s.io",
            "leases",
            &["get", "create", "update", "delete"],
        ),
    ];
    let expected: BTreeMap<(String, String), BTreeSet<String>> = table
        .iter()
        .map(|(g, r, v)| (((*g).to_owned(), (*r).to_owned()), set(v)))
        .collect();
    assert_eq!(
        rule_table(role.rules.as_deref().unwrap_or_default()),
        expected
    );
}

#[test]
fn plugin_user_role_allows_port_forward_with_get_and_create() {
    let docs = load::base();
    let granted = verbs(load::operator_role(&docs), "", "pods/portforward");
    assert!(
        granted.is_superset(&set(&["get", "create"])),
        "websocket port-forward needs get and (1.35+) create: {granted:?}"
    );
}

#[test]
fn plugin_user_role_can_patch_the_statefulset_scale_subresource() {
    let docs = load::base();
    assert!(verbs(load::operator_role(&docs), "apps", "statefulsets/scale").contains("patch"));
}

#[test]
fn plugin_user_role_reads_only_the_password_and_tls_secrets() {
    let docs = load::base();
    let rules = load::operator_role(&docs)
        .rules
        .as_deref()
        .unwrap_or_default();
    let secret_rules: Vec<&PolicyRule> = rules
        .iter()
        .filter(|r| r.resources.iter().flatten().any(|x| x == "secrets"))
        .collect();
    for rule in secret_rules {
        assert_eq!(
            rule.resource_names.as_deref(),
            Some(&[AUTH_SECRET.to_owned(), TLS_SECRET.to_owned()][..])
        );
    }
}

#[test]
fn rbac_uses_no_wildcard_verbs_resources_or_groups() {
    let docs = load::base();
    let roles = docs.iter().filter_map(|d| {
        let rules = match &d.object {
            Object::Role(r) => r.rules.as_ref(),
            Object::ClusterRole(r) => r.rules.as_ref(),
            _ => return None,
        };
        Some((d.origin.clone(), rules.cloned().unwrap_or_default()))
    });
    let mut seen = 0;
    for (origin, rules) in roles {
        seen += 1;
        for rule in rules {
            let lists = [
                Some(&rule.verbs),
                rule.api_groups.as_ref(),
                rule.resources.as_ref(),
                rule.resource_names.as_ref(),
            ];
            for item in lists.into_iter().flatten().flatten() {
                assert!(!item.contains('*'), "{origin}: wildcard {item:?}");
            }
            assert!(
                rule.non_resource_urls.is_none(),
                "{origin}: nonResourceURLs"
            );
            assert!(
                !rule
                    .verbs
                    .iter()
                    .any(|v| v == "escalate" || v == "bind" || v == "impersonate"),
                "{origin}"
            );
        }
    }
    assert_eq!(seen, 2, "a Role and a ClusterRole");
}

#[test]
fn node_reader_cluster_role_only_reads_nodes() {
    let docs = load::base();
    let role = load::the(&docs, NODE_READER, Object::as_cluster_role);
    assert!(role.aggregation_rule.is_none());
    let table = rule_table(role.rules.as_deref().unwrap_or_default());
    let expected = BTreeMap::from([((String::new(), "nodes".to_owned()), set(&["get", "list"]))]);
    assert_eq!(table, expected);
}

#[test]
fn bindings_grant_the_shipped_roles_to_the_placeholder_group() {
    let docs = load::base();
    let rb = load::the(&docs, OPERATOR_ROLE, Object::as_role_binding);
    let crb = load::the(&docs, NODE_READER, Object::as_cluster_role_binding);
    let cases = [
        (&rb.role_ref, &rb.subjects, "Role", OPERATOR_ROLE),
        (&crb.role_ref, &crb.subjects, "ClusterRole", NODE_READER),
    ];
    for (role_ref, subjects, kind, name) in cases {
        assert_eq!(
            (
                role_ref.api_group.as_str(),
                role_ref.kind.as_str(),
                role_ref.name.as_str()
            ),
            ("rbac.authorization.k8s.io", kind, name)
        );
        let subjects = subjects.as_deref().unwrap_or_default();
        assert_eq!(subjects.len(), 1, "one placeholder subject for {name}");
        let s = &subjects[0];
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.api_group.as_deref()),
            ("Group", OPERATORS_GROUP, Some("rbac.authorization.k8s.io"))
        );
    }
    let text = load::read("manifests/base/rbac-plugin-user.yaml");
    assert!(
        text.contains("op: replace") && text.contains("/subjects/0"),
        "the file documents how to change the subject"
    );
}
