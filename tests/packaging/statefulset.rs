//! Manifests: the StatefulSet.

use super::*;

#[test]
fn statefulset_uses_a_stock_redis_image() {
    let docs = load::base();
    let image = redis_container(statefulset(&docs))
        .image
        .as_deref()
        .expect("image is set");
    let tag = image
        .strip_prefix("redis:")
        .unwrap_or_else(|| panic!("{image} is not the stock redis image"));
    let parts: Vec<&str> = tag.split('.').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "{image} must be pinned to a full x.y.z release"
    );
    assert_eq!(image, "redis:7.0.15");
}

#[test]
fn statefulset_runs_six_pods_in_parallel_behind_the_headless_service() {
    let docs = load::base();
    let spec = statefulset(&docs).spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(6));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    assert_eq!(spec.service_name.as_deref(), Some(HEADLESS));
    let labels = statefulset(&docs).metadata.labels.as_ref().expect("labels");
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some(APP)
    );
    assert_eq!(
        labels
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some("redis")
    );
    assert_eq!(pod_labels(statefulset(&docs)), labels);
}

#[test]
fn statefulset_announces_the_current_pod_ip_to_the_cluster() {
    let docs = load::base();
    let redis = redis_container(statefulset(&docs));
    let cmd = command_line(redis);
    assert_eq!(cmd.first(), Some(&"redis-server"));
    assert_eq!(cmd.get(1), Some(&"/etc/redis/redis.conf"));
    assert_eq!(flag_value(&cmd, "--cluster-announce-ip"), Some("$(POD_IP)"));
    let field = env(redis, "POD_IP")
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.field_ref.as_ref())
        .expect("POD_IP comes from a fieldRef");
    assert_eq!(field.field_path, "status.podIP");
    assert!(
        !redis_conf(&docs).contains_key("cluster-announce-ip"),
        "redis.conf is shared by every pod; an announce-ip there is wrong for all but one"
    );
}

#[test]
fn every_variable_in_the_command_is_declared_in_env() {
    let base = load::base();
    let overlay = load::overlay_statefulset("auth");
    for (what, redis) in [
        ("base", redis_container(statefulset(&base))),
        ("auth overlay", redis_container(&overlay)),
    ] {
        for arg in command_line(redis) {
            let mut rest = arg;
            while let Some(start) = rest.find("$(") {
                let end = rest[start..].find(')').expect("closed $(VAR)") + start;
                let var = &rest[start + 2..end];
                assert!(
                    env(redis, var).is_some(),
                    "{what}: $({var}) is not declared in env, so Kubernetes would pass it literally"
                );
                rest = &rest[end..];
            }
        }
    }
}

#[test]
fn statefulset_probes_readiness_with_ping_and_liveness_with_the_port() {
    let docs = load::base();
    let redis = redis_container(statefulset(&docs));
    let readiness = redis
        .readiness_probe
        .as_ref()
        .and_then(|p| p.exec.as_ref())
        .expect("exec readiness probe");
    assert_eq!(
        readiness.command.as_deref(),
        Some(&["redis-cli".to_owned(), "ping".to_owned()][..])
    );
    let liveness = redis
        .liveness_probe
        .as_ref()
        .and_then(|p| p.tcp_socket.as_ref())
        .expect("tcpSocket liveness probe");
    let port = match &liveness.port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => container_port(redis, name),
    };
    assert_eq!(port, 6379);
}

#[test]
fn statefulset_exposes_the_client_and_cluster_bus_ports() {
    let docs = load::base();
    let redis = redis_container(statefulset(&docs));
    assert_eq!(container_port(redis, "redis"), 6379);
    assert_eq!(container_port(redis, "cluster-bus"), 16379);
}

#[test]
fn statefulset_prefers_spreading_pods_over_hostnames() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let anti = pod_spec(sts)
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .expect("podAntiAffinity");
    assert!(
        anti.required_during_scheduling_ignored_during_execution
            .is_none(),
        "required anti-affinity would leave pods Pending on clusters with fewer than six nodes"
    );
    let terms = anti
        .preferred_during_scheduling_ignored_during_execution
        .as_deref()
        .unwrap_or_default();
    let by_host = terms
        .iter()
        .find(|t| t.pod_affinity_term.topology_key == "kubernetes.io/hostname")
        .expect("a preferred term by kubernetes.io/hostname");
    let selector = by_host
        .pod_affinity_term
        .label_selector
        .as_ref()
        .expect("term has a selector");
    assert!(
        selects(match_labels(selector), pod_labels(sts)),
        "the term must select the redis pods themselves"
    );
}

#[test]
fn statefulset_mounts_the_config_map_at_etc_redis() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let redis = redis_container(sts);
    let mount = redis
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/redis")
        .expect("mount at /etc/redis");
    let volume = pod_spec(sts)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mounted volume");
    let cm = volume.config_map.as_ref().expect("a ConfigMap volume");
    assert_eq!(cm.name, APP);
    let conf_path = command_line(redis)[1];
    let key = conf_path
        .strip_prefix("/etc/redis/")
        .expect("config file under the mount");
    let config_map = load::the(&docs, APP, Object::as_config_map);
    assert!(
        config_map
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(key)),
        "ConfigMap has key {key}"
    );
}

#[test]
fn statefulset_keeps_data_on_a_one_gibibyte_claim_of_the_default_class() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let claim = claim_template(sts, "data");
    let spec = claim.spec.as_ref().expect("claim spec");
    assert_eq!(
        spec.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_owned()][..])
    );
    assert!(
        spec.storage_class_name.is_none(),
        "no storageClassName, so the default class applies"
    );
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    assert_eq!(storage.map(|q| q.0.as_str()), Some("1Gi"));
    assert_eq!(mount_path(redis_container(sts), "data"), "/data");
}

#[test]
fn statefulset_requests_modest_resources() {
    let docs = load::base();
    let requests = redis_container(statefulset(&docs))
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .expect("resource requests");
    let cpu = quantity(&requests.get("cpu").expect("cpu request").0);
    let memory = quantity(&requests.get("memory").expect("memory request").0);
    assert!(cpu > 0.0 && cpu <= 0.5, "cpu request {cpu} cores");
    assert!(
        memory > 0.0 && memory <= 512.0 * 1024.0 * 1024.0,
        "memory request {memory} bytes"
    );
}

#[test]
fn statefulset_runs_as_the_images_non_root_redis_user() {
    let docs = load::base();
    let sts = statefulset(&docs);
    let pod = pod_spec(sts)
        .security_context
        .as_ref()
        .expect("pod securityContext");
    assert_eq!(
        (pod.run_as_user, pod.run_as_non_root, pod.fs_group),
        (Some(999), Some(true), Some(999))
    );
    let container = redis_container(sts)
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(container.allow_privilege_escalation, Some(false));
}
