//! Manifests: their structure, what they ship and what they leave out.

use super::*;

#[test]
fn every_manifest_document_parses_as_its_kubernetes_type_without_unknown_fields() {
    let docs = load::base();
    assert!(!docs.is_empty());
    for d in &docs {
        if let Some(problem) = load::dropped_field(&d.raw, &d.reserialized, "") {
            panic!("{} ({} {}): {problem}", d.origin, d.kind, d.name);
        }
    }
}

#[test]
fn top_level_kustomization_applies_the_base() {
    let k = load::kustomization(".");
    assert_eq!(k.resources, ["base"]);
    assert!(k.patches.is_empty());
}

#[test]
fn base_contains_exactly_the_documented_objects() {
    let found: BTreeSet<(String, String)> = load::base()
        .iter()
        .map(|d| (d.kind.clone(), d.name.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("ConfigMap", APP),
        ("Service", APP),
        ("Service", HEADLESS),
        ("StatefulSet", APP),
        ("PodDisruptionBudget", APP),
        ("Role", OPERATOR_ROLE),
        ("RoleBinding", OPERATOR_ROLE),
        ("ClusterRole", NODE_READER),
        ("ClusterRoleBinding", NODE_READER),
    ]
    .iter()
    .map(|(k, n)| ((*k).to_owned(), (*n).to_owned()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn plugin_user_rbac_lives_in_its_own_file_of_the_base() {
    let kinds: BTreeSet<String> = load::documents("manifests/base/rbac-plugin-user.yaml")
        .into_iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        kinds,
        set(&["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"])
    );
    assert!(
        load::kustomization("base")
            .resources
            .contains(&"rbac-plugin-user.yaml".to_owned())
    );
}

#[test]
fn every_yaml_file_under_manifests_is_used_by_a_kustomization() {
    let mut used = BTreeSet::from(["kustomization.yaml".to_owned()]);
    for dir in [
        "base",
        "overlays/auth",
        "overlays/tls",
        "overlays/valkey",
        "overlays/hostname",
    ] {
        let k = load::kustomization(dir);
        used.insert(format!("{dir}/kustomization.yaml"));
        let local = k.resources.iter().filter(|r| !r.starts_with(".."));
        used.extend(
            local
                .chain(k.patches.iter().map(|p| &p.path))
                .map(|f| format!("{dir}/{f}")),
        );
    }
    let mut on_disk = BTreeSet::new();
    let mut pending = vec![load::manifests_dir()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("manifests/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let relative = path
                    .strip_prefix(load::manifests_dir())
                    .expect("under manifests/");
                on_disk.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(
        on_disk, used,
        "files under manifests/ vs. files the kustomizations use"
    );
}

#[test]
fn no_manifest_hard_codes_a_namespace() {
    for d in load::base() {
        assert!(
            d.raw.pointer("/metadata/namespace").is_none(),
            "{} sets a namespace",
            d.origin
        );
    }
    for dir in [
        ".",
        "base",
        "overlays/auth",
        "overlays/tls",
        "overlays/valkey",
    ] {
        let raw: Value =
            serde_saphyr::from_str(&load::read(format!("manifests/{dir}/kustomization.yaml")))
                .expect("kustomization parses");
        assert!(
            raw.get("namespace").is_none(),
            "manifests/{dir}/kustomization.yaml sets a namespace"
        );
    }
}

#[test]
fn manifests_ship_no_secret_and_no_password() {
    assert!(
        load::base().iter().all(|d| d.kind != "Secret"),
        "the base must not ship a Secret"
    );
    let overlay = load::overlay_statefulset("auth");
    for e in redis_container(&overlay).env.iter().flatten() {
        assert!(e.value.is_none(), "env {} has a literal value", e.name);
    }
    let cmd = command_line(redis_container(&overlay));
    for flag in ["--requirepass", "--masterauth"] {
        let value = flag_value(&cmd, flag).expect("auth overlay sets the flag");
        assert!(
            value.starts_with("$(") && value.ends_with(')'),
            "{flag} must take an env reference"
        );
    }
}
