//! Packaging checks that need neither a cluster nor a network.
//!
//! - The kustomize manifests under `manifests/` (the base, and the auth overlay
//!   applied here as the JSON patch it is) parse as the k8s-openapi types they
//!   claim to be, use no field those types do not know, and keep the
//!   properties the plugin relies on: a stock Redis image, parallel pod
//!   management, `nodes.conf` on the claim, the pod IP announced to the
//!   cluster, spread over hostnames, and RBAC with exactly the verbs the
//!   plugin uses.
//! - `plugin.yaml` passes krew's manifest validation, re-implemented in
//!   [`krew`] from krew v0.4.3 (`internal/index/validation/validate.go` and
//!   `cmd/validate-krew-manifest/main.go`), plus the krew-index conventions
//!   and this project's release layout (`release/build.sh`).
//!
//! `release/krew-install-test.sh` complements this with a real `krew install`
//! of a built archive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, PersistentVolumeClaim, PodSpec, Secret, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde_json::Value;

/// Name shared by the StatefulSet, the client Service, the ConfigMap and the PDB.
const APP: &str = "redis-cluster";
/// The headless Service that gives the pods stable DNS names.
const HEADLESS: &str = "redis-cluster-headless";
/// The Role a plugin user is bound to.
const OPERATOR_ROLE: &str = "redis-cluster-operator";
/// The ClusterRole for reading Kubernetes nodes.
const NODE_READER: &str = "redis-cluster-node-reader";
/// The placeholder group both bindings grant to.
const OPERATORS_GROUP: &str = "redis-cluster-operators";
/// The Secret the auth overlay reads the password from (created by the user).
const AUTH_SECRET: &str = "redis-cluster-auth";
/// The Secret the tls overlay mounts and `--tls-secret` reads.
const TLS_SECRET: &str = "redis-cluster-tls";

// ---------------------------------------------------------------------------
// Loading manifests
// ---------------------------------------------------------------------------

/// Reading YAML files into typed Kubernetes objects, and applying kustomize's
/// JSON patches, so that the tests below see what `kubectl apply -k` would.
mod load {
    use super::*;

    /// Declares [`Object`], one variant per Kubernetes kind the manifests may
    /// contain, with a parser that picks the type from `kind` and one accessor
    /// per variant.
    macro_rules! objects {
        ($($kind:ident => $as:ident),* $(,)?) => {
            /// A manifest document parsed as its k8s-openapi type.
            #[derive(Debug, Clone)]
            #[expect(clippy::large_enum_variant, reason = "a few dozen test values; boxing buys nothing")]
            pub enum Object { $($kind($kind)),* }

            /// The kinds [`Object`] knows, for error messages.
            pub const KINDS: &[&str] = &[$(stringify!($kind)),*];

            impl Object {
                /// Parses `text` (one YAML document) as the type named by `kind`,
                /// and returns it with its JSON re-serialization.
                fn parse(kind: &str, text: &str) -> Result<(Self, Value), String> {
                    match kind {
                        $(stringify!($kind) => {
                            let typed: $kind = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
                            let json = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
                            Ok((Object::$kind(typed), json))
                        })*
                        other => Err(format!("kind {other:?} is not one of {KINDS:?}")),
                    }
                }

                $(
                    /// This object, if it has the kind the method is named after.
                    #[allow(dead_code, reason = "generated for every kind; not every test needs each")]
                    pub fn $as(&self) -> Option<&$kind> {
                        match self { Object::$kind(o) => Some(o), _ => None }
                    }
                )*
            }
        };
    }

    objects! {
        StatefulSet => as_statefulset,
        Service => as_service,
        ConfigMap => as_config_map,
        PodDisruptionBudget => as_pod_disruption_budget,
        Role => as_role,
        ClusterRole => as_cluster_role,
        RoleBinding => as_role_binding,
        ClusterRoleBinding => as_cluster_role_binding,
        Secret => as_secret,
    }

    /// One YAML document of a manifest file.
    #[derive(Debug, Clone)]
    pub struct Document {
        /// `path#index`, for messages.
        pub origin: String,
        /// `kind` as written.
        pub kind: String,
        /// `metadata.name` as written.
        pub name: String,
        /// The document as generic JSON, exactly as written.
        pub raw: Value,
        /// The typed object serialized back to JSON; holds every field the
        /// type understood.
        pub reserialized: Value,
        /// The typed object.
        pub object: Object,
    }

    /// The part of a `kustomization.yaml` these tests read.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Kustomization {
        /// Must be `kustomize.config.k8s.io/v1beta1`.
        pub api_version: String,
        /// Must be `Kustomization`.
        pub kind: String,
        /// Files and directories, relative to the kustomization's directory.
        #[serde(default)]
        pub resources: Vec<String>,
        /// Patches, each from a file.
        #[serde(default)]
        pub patches: Vec<KustomizePatch>,
    }

    /// One entry of `patches:`.
    #[derive(Debug, Deserialize)]
    pub struct KustomizePatch {
        /// The patch file, relative to the kustomization's directory.
        pub path: String,
        /// The objects it applies to.
        pub target: PatchTarget,
    }

    /// `patches[].target`.
    #[derive(Debug, Deserialize)]
    pub struct PatchTarget {
        /// Kind of the patched object.
        pub kind: String,
        /// Name of the patched object.
        pub name: String,
    }

    /// One RFC 6902 operation.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct JsonPatchOp {
        /// `add`, `replace` or `test` (the only ones supported here).
        pub op: String,
        /// JSON pointer.
        pub path: String,
        /// The operand.
        pub value: Value,
    }

    /// The repository root.
    pub fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// `manifests/` in the repository.
    pub fn manifests_dir() -> PathBuf {
        repo().join("manifests")
    }

    /// Reads a file relative to the repository root.
    pub fn read(relative: impl AsRef<Path>) -> String {
        let path = repo().join(relative.as_ref());
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Splits a multi-document YAML text at `---` lines, dropping documents
    /// that hold only comments. Checked against serde-saphyr's own document
    /// count by [`documents`].
    pub fn split_documents(text: &str) -> Vec<String> {
        let mut docs = vec![String::new()];
        for line in text.lines() {
            if line.trim_end() == "---" {
                docs.push(String::new());
            } else if let Some(current) = docs.last_mut() {
                current.push_str(line);
                current.push('\n');
            }
        }
        docs.retain(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        });
        docs
    }

    /// Parses every document of the manifest file at `relative` (to the repo
    /// root), each as the k8s-openapi type its `kind` names.
    pub fn documents(relative: &str) -> Vec<Document> {
        let text = read(relative);
        let texts = split_documents(&text);
        let all: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"));
        let all: Vec<&Value> = all.iter().filter(|v| !v.is_null()).collect();
        assert_eq!(
            all.len(),
            texts.len(),
            "{relative}: document split disagrees with the YAML parser"
        );
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| document(&format!("{relative}#{i}"), t))
            .collect()
    }

    /// Parses one document (see [`documents`]).
    fn document(origin: &str, text: &str) -> Document {
        let raw: Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("{origin} is not valid YAML: {e}"));
        let field = |path: &str| {
            raw.pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{origin} has no {path}"))
                .to_owned()
        };
        let (kind, name) = (field("/kind"), field("/metadata/name"));
        let (object, reserialized) =
            Object::parse(&kind, text).unwrap_or_else(|e| panic!("{origin} ({kind} {name}): {e}"));
        Document {
            origin: origin.to_owned(),
            kind,
            name,
            raw,
            reserialized,
            object,
        }
    }

    /// Reads `manifests/<dir>/kustomization.yaml`.
    pub fn kustomization(dir: &str) -> Kustomization {
        let path = Path::new("manifests").join(dir).join("kustomization.yaml");
        let text = read(&path);
        let k: Kustomization = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        assert_eq!(
            k.api_version,
            "kustomize.config.k8s.io/v1beta1",
            "{}",
            path.display()
        );
        assert_eq!(k.kind, "Kustomization", "{}", path.display());
        k
    }

    /// Every document of the base, in `resources:` order.
    pub fn base() -> Vec<Document> {
        kustomization("base")
            .resources
            .iter()
            .flat_map(|file| documents(&format!("manifests/base/{file}")))
            .collect()
    }

    /// The one object of the given kind and name among `docs`.
    pub fn the<'a, T>(
        docs: &'a [Document],
        name: &str,
        pick: impl Fn(&'a Object) -> Option<&'a T>,
    ) -> &'a T {
        let found: Vec<&T> = docs
            .iter()
            .filter(|d| d.name == name)
            .filter_map(|d| pick(&d.object))
            .collect();
        match found.as_slice() {
            [one] => one,
            other => panic!(
                "expected one object named {name:?} of the requested kind, found {}",
                other.len()
            ),
        }
    }

    /// The base StatefulSet.
    pub fn statefulset(docs: &[Document]) -> &StatefulSet {
        the(docs, APP, Object::as_statefulset)
    }

    /// The RBAC Role a plugin user is bound to.
    pub fn operator_role(docs: &[Document]) -> &Role {
        the(docs, OPERATOR_ROLE, Object::as_role)
    }

    /// The pod spec of a StatefulSet.
    pub fn pod_spec(sts: &StatefulSet) -> &PodSpec {
        sts.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("the StatefulSet has a pod template spec")
    }

    /// The container named `redis`.
    pub fn redis_container(sts: &StatefulSet) -> &Container {
        pod_spec(sts)
            .containers
            .iter()
            .find(|c| c.name == "redis")
            .expect("the pod template has a container named redis")
    }

    /// The StatefulSet as `kubectl kustomize manifests/overlays/<overlay>`
    /// would render it: the base's, with the overlay's JSON patches applied.
    pub fn overlay_statefulset(overlay: &str) -> StatefulSet {
        let k = kustomization(&format!("overlays/{overlay}"));
        assert_eq!(
            k.resources,
            ["../../base"],
            "the {overlay} overlay builds on the base"
        );
        let docs = base();
        let sts_doc = docs
            .iter()
            .find(|d| d.kind == "StatefulSet" && d.name == APP)
            .expect("the base has the StatefulSet");
        let mut value = sts_doc.raw.clone();
        for patch in &k.patches {
            assert_eq!(
                (patch.target.kind.as_str(), patch.target.name.as_str()),
                ("StatefulSet", APP)
            );
            let file = format!("manifests/overlays/{overlay}/{}", patch.path);
            let ops: Vec<JsonPatchOp> = serde_saphyr::from_str(&read(&file))
                .unwrap_or_else(|e| panic!("{file} is not a JSON patch: {e}"));
            for op in &ops {
                apply(&mut value, op).unwrap_or_else(|e| panic!("{file}: {e}"));
            }
        }
        let typed: StatefulSet = serde_json::from_value(value.clone())
            .expect("the patched StatefulSet is still a StatefulSet");
        let reserialized = serde_json::to_value(&typed).expect("a StatefulSet serializes");
        if let Some(problem) = dropped_field(&value, &reserialized, "") {
            panic!("the {overlay} overlay's StatefulSet: {problem}");
        }
        typed
    }

    /// Applies one JSON patch operation to `doc`.
    pub fn apply(doc: &mut Value, op: &JsonPatchOp) -> Result<(), String> {
        let (parent_path, last) = op
            .path
            .rsplit_once('/')
            .ok_or(format!("bad path {:?}", op.path))?;
        let last = last.replace("~1", "/").replace("~0", "~");
        if op.op == "test" {
            return match doc.pointer(&op.path) {
                Some(v) if *v == op.value => Ok(()),
                other => Err(format!(
                    "test {} failed: found {other:?}, expected {}",
                    op.path, op.value
                )),
            };
        }
        let parent = doc
            .pointer_mut(parent_path)
            .ok_or(format!("no {parent_path} for {}", op.path))?;
        match (op.op.as_str(), parent) {
            ("add", Value::Array(items)) if last == "-" => items.push(op.value.clone()),
            ("add", Value::Array(items)) => {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("bad index in {}", op.path))?;
                if i > items.len() {
                    return Err(format!("index out of range in {}", op.path));
                }
                items.insert(i, op.value.clone());
            }
            ("add" | "replace", Value::Object(map)) => {
                if op.op == "replace" && !map.contains_key(&last) {
                    return Err(format!("replace of missing {}", op.path));
                }
                map.insert(last, op.value.clone());
            }
            ("replace", Value::Array(items)) => {
                let slot = last.parse::<usize>().ok().and_then(|i| items.get_mut(i));
                *slot.ok_or(format!("no element {}", op.path))? = op.value.clone();
            }
            (other, _) => return Err(format!("unsupported op {other:?} at {}", op.path)),
        }
        Ok(())
    }

    /// The first place where `written` has something that `typed` lacks or
    /// has differently: a field the k8s-openapi type dropped (a typo, or one
    /// at the wrong level) or a value it changed. Fields `typed` adds, such as
    /// `apiVersion` on embedded claim templates, are fine.
    pub fn dropped_field(written: &Value, typed: &Value, path: &str) -> Option<String> {
        match (written, typed) {
            (Value::Object(w), Value::Object(t)) => w.iter().find_map(|(k, wv)| match t.get(k) {
                Some(tv) => dropped_field(wv, tv, &format!("{path}/{k}")),
                None => Some(format!("{path}/{k} is not a field of this type")),
            }),
            (Value::Array(w), Value::Array(t)) if w.len() == t.len() => w
                .iter()
                .zip(t)
                .enumerate()
                .find_map(|(i, (wv, tv))| dropped_field(wv, tv, &format!("{path}/{i}"))),
            (w, t) if w == t => None,
            (w, t) => Some(format!("{path}: wrote {w}, the type reads {t}")),
        }
    }
}

use load::{Document, Object, pod_spec, redis_container, statefulset};

// ---------------------------------------------------------------------------
// Small helpers over Kubernetes types
// ---------------------------------------------------------------------------

/// `matchLabels` of a selector; these manifests use no expressions.
fn match_labels(selector: &LabelSelector) -> &BTreeMap<String, String> {
    assert!(
        selector.match_expressions.is_none(),
        "selectors here use matchLabels only"
    );
    selector
        .match_labels
        .as_ref()
        .expect("selector has matchLabels")
}

/// Whether every label of `selector` is among `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The labels of the StatefulSet's pod template.
fn pod_labels(sts: &StatefulSet) -> &BTreeMap<String, String> {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("the pod template has labels")
}

/// The container port with the given name.
fn container_port(c: &Container, name: &str) -> i32 {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("container {} has no port named {name}", c.name))
        .container_port
}

/// The env var with the given name.
fn env<'a>(c: &'a Container, name: &str) -> Option<&'a EnvVar> {
    c.env.iter().flatten().find(|e| e.name == name)
}

/// The container's full command line (command, then args).
fn command_line(c: &Container) -> Vec<&str> {
    c.command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .map(String::as_str)
        .collect()
}

/// The value following `flag` on the command line.
fn flag_value<'a>(cmd: &[&'a str], flag: &str) -> Option<&'a str> {
    cmd.iter()
        .position(|a| *a == flag)
        .and_then(|i| cmd.get(i + 1).copied())
}

/// The mount path of the volume `volume` in the container.
fn mount_path<'a>(c: &'a Container, volume: &str) -> &'a str {
    &c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume)
        .unwrap_or_else(|| panic!("container {} does not mount {volume}", c.name))
        .mount_path
}

/// The claim template named `name`.
fn claim_template<'a>(sts: &'a StatefulSet, name: &str) -> &'a PersistentVolumeClaim {
    sts.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .and_then(|t| t.iter().find(|c| c.metadata.name.as_deref() == Some(name)))
        .unwrap_or_else(|| panic!("no volumeClaimTemplate named {name}"))
}

/// A Kubernetes quantity in base units (cores, bytes), for the suffixes these
/// manifests use.
fn quantity(q: &str) -> f64 {
    let suffixes = [
        ("m", 1e-3),
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
    ];
    let (number, factor) = suffixes
        .iter()
        .find_map(|(s, f)| q.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((q, 1.0));
    number
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("unsupported quantity {q:?}"))
        * factor
}

/// `redis.conf` from the ConfigMap, as directive → arguments (comments and
/// blank lines dropped). Panics on a repeated directive: every one used here
/// takes effect once, so a repeat is a mistake.
fn redis_conf(docs: &[Document]) -> BTreeMap<String, String> {
    let cm = load::the(docs, APP, Object::as_config_map);
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("redis.conf"))
        .expect("ConfigMap has key redis.conf");
    let mut conf = BTreeMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let previous = conf.insert(key.to_lowercase(), value.trim().to_owned());
        assert!(previous.is_none(), "redis.conf sets {key} twice");
    }
    conf
}

/// The Role's rules as `(apiGroup, resource)` → verbs.
fn rule_table(rules: &[PolicyRule]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut table: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                table
                    .entry((group.clone(), resource.clone()))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    table
}

/// The verbs the Role grants on `resource` in `group`.
fn verbs(role: &Role, group: &str, resource: &str) -> BTreeSet<String> {
    rule_table(role.rules.as_deref().unwrap_or_default())
        .remove(&(group.to_owned(), resource.to_owned()))
        .unwrap_or_default()
}

/// A set of verbs from a list.
fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Manifests: structure
// ---------------------------------------------------------------------------

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
    for dir in ["base", "overlays/auth", "overlays/tls", "overlays/valkey"] {
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

// ---------------------------------------------------------------------------
// Manifests: the StatefulSet
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Manifests: redis.conf
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Manifests: the auth overlay
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// krew
// ---------------------------------------------------------------------------

/// krew's plugin manifest and its validation rules.
///
/// The structural rules follow krew v0.4.3 `internal/index/validation`
/// (`ValidatePlugin`, `validatePlatform`, `validateFiles`,
/// `validateSelector`) and `cmd/validate-krew-manifest` (every platform
/// matches a supported os/arch, no two platforms match the same one, a
/// LICENSE is installed). Conventions of the krew-index that krew does not
/// check itself are marked as such in their messages.
mod krew {
    use super::*;

    /// Placeholder sha256 of a platform whose archive has not been built yet
    /// (see `release/build.sh`). It has the form of a sha256, so krew still
    /// accepts the manifest and installs the platforms that were built; the
    /// line carrying it is marked [`NOT_BUILT_MARK`].
    pub const PLACEHOLDER_SHA256: &str =
        "0000000000000000000000000000000000000000000000000000000000000000";
    /// The comment that marks a placeholder sha256 line.
    pub const NOT_BUILT_MARK: &str = "NOT BUILT";
    /// `<os, arch>` pairs krew knows (`allPlatforms` in validate-krew-manifest).
    pub const KREW_PLATFORMS: &[(&str, &str)] = &[
        ("windows", "386"),
        ("windows", "amd64"),
        ("windows", "arm64"),
        ("linux", "386"),
        ("linux", "amd64"),
        ("linux", "arm"),
        ("linux", "arm64"),
        ("darwin", "386"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
    ];
    /// Names krew accepts as a license file (`licenseFiles`).
    const LICENSE_NAMES: &[&str] = &[
        "license",
        "license.txt",
        "license.md",
        "licenses",
        "licenses.txt",
        "licenses.md",
        "copying",
        "copying.txt",
    ];
    /// Windows device names krew refuses as plugin names.
    const WINDOWS_FORBIDDEN: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    /// krew's convention for `shortDescription` length.
    pub const SHORT_DESCRIPTION_MAX: usize = 50;

    /// `index.Plugin`. Unknown fields are rejected: krew would ignore them,
    /// which hides typos such as `sha265`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Plugin {
        /// Must be `krew.googlecontainertools.github.com/v1alpha2`.
        pub api_version: String,
        /// Must be `Plugin`.
        pub kind: String,
        /// Only `name` is used.
        pub metadata: Metadata,
        /// The plugin proper.
        pub spec: Spec,
    }

    /// `metadata` of a plugin manifest.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Metadata {
        /// The plugin's name; `kubectl <name>` runs it.
        #[serde(default)]
        pub name: String,
    }

    /// `index.PluginSpec`.
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    pub struct Spec {
        /// `vMAJOR.MINOR.PATCH`.
        pub version: String,
        /// One line for `kubectl krew search`.
        pub short_description: String,
        /// Longer text for `kubectl krew info`.
        pub description: String,
        /// Shown after install.
        pub caveats: String,
        /// Project page.
        pub homepage: String,
        /// One entry per supported os/arch.
        pub platforms: Vec<Platform>,
    }

    /// `index.Platform`.
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Platform {
        /// Archive download address.
        #[serde(default)]
        pub uri: String,
        /// Lower-case hex sha256 of the archive.
        #[serde(default)]
        pub sha256: String,
        /// Which os/arch this entry is for.
        pub selector: Option<LabelSelector>,
        /// What to copy out of the archive; `None` means everything.
        pub files: Option<Vec<FileOperation>>,
        /// The executable, relative to the installation directory.
        #[serde(default)]
        pub bin: String,
    }

    /// `index.FileOperation`.
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FileOperation {
        /// Path or glob in the archive.
        #[serde(default)]
        pub from: String,
        /// Destination directory (or path) in the installation directory.
        #[serde(default)]
        pub to: String,
    }

    /// Reads and parses `plugin.yaml`.
    pub fn plugin_yaml() -> Plugin {
        parse(&load::read("plugin.yaml"))
    }

    /// Parses a plugin manifest.
    pub fn parse(text: &str) -> Plugin {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not a krew plugin manifest: {e}"))
    }

    /// Every rule `p` breaks, as messages; empty when the manifest is valid.
    /// `expected_name` plays the role of the index file name.
    pub fn violations(expected_name: &str, p: &Plugin) -> Vec<String> {
        let mut out = Vec::new();
        let mut fail = |msg: String| out.push(msg);
        if p.api_version != "krew.googlecontainertools.github.com/v1alpha2" {
            fail(format!("apiVersion {:?} is not supported", p.api_version));
        }
        if p.kind != "Plugin" {
            fail(format!("kind {:?} is not Plugin", p.kind));
        }
        if !is_safe_plugin_name(&p.metadata.name) {
            fail(format!("plugin name {:?} is not allowed", p.metadata.name));
        }
        if p.metadata.name != expected_name {
            fail(format!(
                "plugin should be named {expected_name:?}, not {:?}",
                p.metadata.name
            ));
        }
        spec_violations(&p.spec, &mut fail);
        for (i, platform) in p.spec.platforms.iter().enumerate() {
            for problem in platform_violations(platform) {
                fail(format!("platform {i}: {problem}"));
            }
        }
        coverage_violations(&p.spec.platforms, &mut fail);
        out
    }

    /// Rules on the spec's own fields.
    fn spec_violations(spec: &Spec, fail: &mut impl FnMut(String)) {
        if spec.short_description.is_empty() {
            fail("should have a short description".into());
        }
        if spec.short_description.contains(['\r', '\n']) {
            fail("should not have line breaks in short description".into());
        }
        if spec.short_description.chars().count() > SHORT_DESCRIPTION_MAX {
            fail(format!(
                "short description is longer than {SHORT_DESCRIPTION_MAX} characters (krew convention)"
            ));
        }
        if spec.platforms.is_empty() {
            fail("should have a platform specified".into());
        }
        if spec.version.is_empty() {
            fail("should have a version specified".into());
        } else if !is_semver_with_v(&spec.version) {
            fail(format!(
                "version {:?} is not v-prefixed semver",
                spec.version
            ));
        }
        if !spec.homepage.starts_with("https://") {
            fail("homepage should be an https:// address (krew-index convention)".into());
        }
    }

    /// `validatePlatform`, plus the https and bin conventions.
    pub fn platform_violations(p: &Platform) -> Vec<String> {
        let mut out = Vec::new();
        if p.uri.is_empty() {
            out.push("`uri` has to be set".into());
        } else if !p.uri.starts_with("https://") {
            out.push(format!(
                "uri {:?} is not https (krew-index convention)",
                p.uri
            ));
        }
        if p.sha256.is_empty() {
            out.push("`sha256` sum has to be set".into());
        } else if !(p.sha256.len() == 64
            && p.sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            out.push(format!(
                "`sha256` value {} is not valid, must match ^[a-f0-9]{{64}}$",
                p.sha256
            ));
        }
        if p.bin.is_empty() {
            out.push("`bin` has to be set".into());
        }
        if let Some(files) = &p.files {
            if files.is_empty() {
                out.push("`files` has to be unspecified or non-empty".into());
            }
            if files.iter().any(|f| f.from.is_empty() || f.to.is_empty()) {
                out.push("`from` and `to` fields have to be set".into());
            }
            if !p.bin.is_empty() && !installs(files, &p.bin) {
                out.push(format!("no `files` entry installs bin {:?}", p.bin));
            }
            if !LICENSE_NAMES.iter().any(|l| installs(files, l)) {
                out.push("no LICENSE file is installed (validate-krew-manifest)".into());
            }
        }
        out.extend(selector_violations(p.selector.as_ref()));
        out
    }

    /// Whether a `files` entry puts `name` (a file at the archive root) at
    /// the root of the installation directory, case-insensitively for
    /// license names as krew compares them.
    fn installs(files: &[FileOperation], name: &str) -> bool {
        files.iter().any(|f| {
            let from_matches = f.from == "*" || f.from.eq_ignore_ascii_case(name);
            (from_matches && (f.to == "." || f.to == "./"))
                || (f.to.eq_ignore_ascii_case(name) && !f.from.contains('*'))
        })
    }

    /// `validateSelector`.
    fn selector_violations(sel: Option<&LabelSelector>) -> Vec<String> {
        let Some(sel) = sel else {
            return vec!["nil selector is not supported".into()];
        };
        let mut out = Vec::new();
        let expressions = sel.match_expressions.as_deref().unwrap_or_default();
        if sel.match_labels.is_none() && expressions.is_empty() {
            out.push("empty selector is not supported".into());
        }
        let keys = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .chain(expressions.iter().map(|e| &e.key));
        for key in keys.filter(|k| *k != "os" && *k != "arch") {
            out.push(format!("key {key:?} not supported"));
        }
        if sel.match_labels.as_ref().is_some_and(BTreeMap::is_empty) {
            out.push("`matchLabels` specified but empty".into());
        }
        if sel.match_expressions.as_ref().is_some_and(Vec::is_empty) {
            out.push("`matchExpressions` specified but empty".into());
        }
        out
    }

    /// validate-krew-manifest: every platform matches a pair krew knows, and
    /// no pair is matched twice.
    fn coverage_violations(platforms: &[Platform], fail: &mut impl FnMut(String)) {
        for (i, p) in platforms.iter().enumerate() {
            if !KREW_PLATFORMS
                .iter()
                .any(|(os, arch)| matches(p.selector.as_ref(), os, arch))
            {
                fail(format!(
                    "platform {i}'s selector doesn't match any supported platform"
                ));
            }
        }
        for (os, arch) in KREW_PLATFORMS {
            let hits: Vec<usize> = platforms
                .iter()
                .enumerate()
                .filter(|(_, p)| matches(p.selector.as_ref(), os, arch))
                .map(|(i, _)| i)
                .collect();
            if hits.len() > 1 {
                fail(format!(
                    "platforms {hits:?} have overlapping selectors that select {os}/{arch}"
                ));
            }
        }
    }

    /// Whether `sel` selects the labels `{os, arch}` (Kubernetes label
    /// selector semantics). A nil selector selects nothing.
    pub fn matches(sel: Option<&LabelSelector>, os: &str, arch: &str) -> bool {
        let Some(sel) = sel else { return false };
        let labels = BTreeMap::from([("os", os), ("arch", arch)]);
        let label = |k: &str| labels.get(k).copied();
        let by_labels = sel
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| label(k) == Some(v.as_str()));
        let by_expressions = sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = label(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
        by_labels && by_expressions
    }

    /// `IsSafePluginName`: `^[\w-]+$` (Go's `\w` is ASCII) and not a Windows
    /// device name.
    fn is_safe_plugin_name(name: &str) -> bool {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !WINDOWS_FORBIDDEN
                .iter()
                .any(|w| w.eq_ignore_ascii_case(name))
    }

    /// krew's `semver.Parse`: a `v` prefix, then Kubernetes' `ParseSemantic`
    /// (MAJOR.MINOR.PATCH with optional `-pre` and `+build`).
    fn is_semver_with_v(version: &str) -> bool {
        let Some(rest) = version.strip_prefix('v') else {
            return false;
        };
        let (core, _build) = rest.split_once('+').unwrap_or((rest, ""));
        let (core, pre) = core
            .split_once('-')
            .map_or((core, None), |(c, p)| (c, Some(p)));
        let numeric = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0'))
        };
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| numeric(p)) && pre.is_none_or(|p| !p.is_empty())
    }

    /// The `os` and `arch` a platform selects through `matchLabels`.
    pub fn os_arch(p: &Platform) -> (String, String) {
        let labels = p
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .expect("matchLabels");
        let get = |k: &str| {
            labels
                .get(k)
                .cloned()
                .unwrap_or_else(|| panic!("selector has no {k}"))
        };
        (get("os"), get("arch"))
    }
}

/// The repository's name for the plugin, as krew-index would file it.
const PLUGIN_NAME: &str = "redis-cluster";
/// The executable krew links as `kubectl-redis_cluster`.
const BIN: &str = "kubectl-redis_cluster";
/// Where release archives are published.
const RELEASES: &str =
    "https://github.com/redis-cluster-plugin/kubectl-redis-cluster/releases/download";

#[test]
fn plugin_yaml_passes_krew_validation() {
    let problems = krew::violations(PLUGIN_NAME, &krew::plugin_yaml());
    assert!(problems.is_empty(), "plugin.yaml: {problems:#?}");
}

#[test]
fn plugin_yaml_covers_linux_and_darwin_on_amd64_and_arm64() {
    let p = krew::plugin_yaml();
    let found: BTreeSet<(String, String)> = p.spec.platforms.iter().map(krew::os_arch).collect();
    let expected: BTreeSet<(String, String)> = [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
    ]
    .iter()
    .map(|(o, a)| ((*o).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn plugin_yaml_version_matches_the_cargo_package() {
    assert_eq!(
        krew::plugin_yaml().spec.version,
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn plugin_yaml_uris_point_at_each_platforms_release_archive() {
    let p = krew::plugin_yaml();
    for platform in &p.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let expected = format!("{RELEASES}/{}/{BIN}-{os}-{arch}.tar.gz", p.spec.version);
        assert_eq!(platform.uri, expected);
    }
}

#[test]
fn plugin_yaml_installs_the_binary_and_the_license() {
    let p = krew::plugin_yaml();
    for platform in &p.spec.platforms {
        assert_eq!(platform.bin, BIN);
        let files: BTreeSet<(&str, &str)> = platform
            .files
            .iter()
            .flatten()
            .map(|f| (f.from.as_str(), f.to.as_str()))
            .collect();
        assert_eq!(files, BTreeSet::from([(BIN, "."), ("LICENSE", ".")]));
    }
    let license = load::read("LICENSE");
    assert!(
        license.contains("Apache License") && license.contains("Version 2.0"),
        "LICENSE is the Apache-2.0 text"
    );
}

#[test]
fn plugin_yaml_describes_itself_within_krew_conventions() {
    let spec = krew::plugin_yaml().spec;
    assert!(spec.short_description.chars().count() <= krew::SHORT_DESCRIPTION_MAX);
    assert!(!spec.description.trim().is_empty());
    assert!(
        spec.caveats.contains("RBAC") && spec.caveats.contains("rbac-plugin-user.yaml"),
        "caveats point at the RBAC a user needs"
    );
    assert!(
        spec.homepage
            .starts_with("https://github.com/redis-cluster-plugin/")
    );
}

#[test]
fn every_platform_is_built_or_a_marked_placeholder() {
    let text = load::read("plugin.yaml");
    let p = krew::parse(&text);
    for platform in &p.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&platform.sha256))
            .collect();
        assert!(
            !lines.is_empty(),
            "{os}/{arch}: sha256 written in an unexpected form"
        );
        if platform.sha256 == krew::PLACEHOLDER_SHA256 {
            assert!(
                lines.iter().all(|l| l.contains(krew::NOT_BUILT_MARK)),
                "{os}/{arch}: placeholder not marked {:?}",
                krew::NOT_BUILT_MARK
            );
        } else {
            assert_eq!(lines.len(), 1, "{os}/{arch}: a real sha256 appears once");
            assert!(
                !lines[0].contains(krew::NOT_BUILT_MARK),
                "{os}/{arch}: a real sha256 marked as not built"
            );
        }
    }
}

/// `@TOKEN@` placeholders (upper case, digits, `_`) left in a template.
fn template_tokens(text: &str) -> Vec<&str> {
    text.split('@')
        .enumerate()
        .filter(|(i, part)| {
            i % 2 == 1
                && !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(_, part)| part)
        .collect()
}

#[test]
fn plugin_yaml_is_the_release_template_rendered() {
    let plugin_text = load::read("plugin.yaml");
    let plugin = krew::parse(&plugin_text);
    let mut rendered =
        load::read("release/plugin.yaml.tmpl").replace("@VERSION@", &plugin.spec.version);
    for platform in &plugin.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let token = format!("@SHA256_{}_{}@", os.to_uppercase(), arch.to_uppercase());
        assert!(rendered.contains(&token), "the template has {token}");
        rendered = rendered.replace(&token, &platform.sha256);
    }
    let leftover = template_tokens(&rendered);
    assert!(
        leftover.is_empty(),
        "the template has tokens plugin.yaml does not fill: {leftover:?}"
    );
    let ours: Value = serde_saphyr::from_str(&plugin_text).expect("plugin.yaml parses");
    let theirs: Value = serde_saphyr::from_str(&rendered).expect("the rendered template parses");
    assert_eq!(
        ours, theirs,
        "plugin.yaml differs from release/plugin.yaml.tmpl: edit the template and run release/build.sh --manifest-only"
    );
}

#[test]
fn krew_rules_reject_each_known_defect() {
    let valid = krew::plugin_yaml();
    assert!(
        krew::violations(PLUGIN_NAME, &valid).is_empty(),
        "start from a valid manifest"
    );
    type Mutation = fn(&mut krew::Plugin);
    let cases: &[(&str, Mutation, &str)] = &[
        (
            "apiVersion",
            |p| p.api_version = "krew.googlecontainertools.github.com/v1alpha1".into(),
            "apiVersion",
        ),
        ("kind", |p| p.kind = "Plugins".into(), "kind"),
        (
            "name",
            |p| p.metadata.name = "redis cluster".into(),
            "not allowed",
        ),
        (
            "windows name",
            |p| p.metadata.name = "nul".into(),
            "not allowed",
        ),
        (
            "short description",
            |p| p.spec.short_description.clear(),
            "short description",
        ),
        (
            "long short description",
            |p| p.spec.short_description = "x".repeat(51),
            "longer than 50",
        ),
        (
            "line break",
            |p| p.spec.short_description = "a\nb".into(),
            "line breaks",
        ),
        (
            "version prefix",
            |p| p.spec.version = "0.1.0".into(),
            "semver",
        ),
        (
            "version parts",
            |p| p.spec.version = "v0.1".into(),
            "semver",
        ),
        (
            "no platforms",
            |p| p.spec.platforms.clear(),
            "platform specified",
        ),
        ("uri", |p| p.spec.platforms[0].uri.clear(), "`uri`"),
        (
            "http uri",
            |p| p.spec.platforms[0].uri = "http://example.com/a.tar.gz".into(),
            "https",
        ),
        (
            "sha256 case",
            |p| {
                p.spec.platforms[0].sha256 =
                    p.spec.platforms[0].sha256.to_uppercase().replace('0', "A")
            },
            "sha256",
        ),
        (
            "sha256 length",
            |p| p.spec.platforms[0].sha256 = "abc".into(),
            "sha256",
        ),
        ("bin", |p| p.spec.platforms[0].bin.clear(), "`bin`"),
        (
            "bin not installed",
            |p| p.spec.platforms[0].bin = "kubectl-other".into(),
            "installs bin",
        ),
        (
            "empty files",
            |p| p.spec.platforms[0].files = Some(vec![]),
            "non-empty",
        ),
        (
            "no license",
            |p| {
                p.spec.platforms[0]
                    .files
                    .iter_mut()
                    .flatten()
                    .for_each(|f| {
                        if f.from == "LICENSE" {
                            f.from = "README.md".into()
                        }
                    })
            },
            "LICENSE",
        ),
        (
            "empty from",
            |p| {
                p.spec.platforms[0]
                    .files
                    .iter_mut()
                    .flatten()
                    .for_each(|f| f.from.clear())
            },
            "`from`",
        ),
        (
            "nil selector",
            |p| p.spec.platforms[0].selector = None,
            "nil selector",
        ),
        (
            "empty selector",
            |p| p.spec.platforms[0].selector = Some(LabelSelector::default()),
            "empty selector",
        ),
        (
            "empty matchLabels",
            |p| {
                p.spec.platforms[0].selector = Some(LabelSelector {
                    match_labels: Some(BTreeMap::new()),
                    match_expressions: None,
                })
            },
            "specified but empty",
        ),
        (
            "selector key",
            |p| {
                p.spec.platforms[0].selector.iter_mut().for_each(|s| {
                    s.match_labels
                        .get_or_insert_default()
                        .insert("distro".into(), "debian".into());
                })
            },
            "\"distro\" not supported",
        ),
        (
            "unknown platform",
            |p| {
                p.spec.platforms[0].selector.iter_mut().for_each(|s| {
                    s.match_labels
                        .get_or_insert_default()
                        .insert("os".into(), "plan9".into());
                })
            },
            "doesn't match any supported",
        ),
        (
            "overlap",
            |p| {
                let copy = p.spec.platforms[0].clone();
                p.spec.platforms.push(copy)
            },
            "overlapping",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut p = valid.clone();
        mutate(&mut p);
        let problems = krew::violations(PLUGIN_NAME, &p);
        assert!(
            problems.iter().any(|m| m.contains(expected)),
            "{what}: expected a problem containing {expected:?}, got {problems:#?}"
        );
    }
}

#[test]
fn krew_selector_matching_follows_label_selector_semantics() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let expr = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
    };
    let sel = LabelSelector {
        match_labels: Some(BTreeMap::from([("os".to_owned(), "linux".to_owned())])),
        match_expressions: Some(vec![expr("arch", "In", &["amd64", "arm64"])]),
    };
    assert!(krew::matches(Some(&sel), "linux", "arm64"));
    assert!(!krew::matches(Some(&sel), "linux", "arm"));
    assert!(!krew::matches(Some(&sel), "darwin", "amd64"));
    let not_windows = LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![expr("os", "NotIn", &["windows"])]),
    };
    assert!(krew::matches(Some(&not_windows), "darwin", "arm64"));
    assert!(!krew::matches(None, "linux", "amd64"));
}

#[test]
fn krew_manifest_rejects_unknown_fields() {
    let text = load::read("plugin.yaml").replacen("sha256:", "sha265:", 1);
    let parsed: Result<krew::Plugin, _> = serde_saphyr::from_str(&text);
    assert!(parsed.is_err(), "a misspelled field must not pass silently");
}

#[test]
fn deploy_engine_valkey_renders_the_valkey_overlays_statefulset() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .args(["deploy", "--engine", "valkey", "--dry-run"])
        .output()
        .expect("run the plugin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 YAML");
    let rendered: Vec<StatefulSet> = load::split_documents(&text)
        .iter()
        .filter(|doc| doc.contains("kind: StatefulSet"))
        .map(|doc| serde_saphyr::from_str(doc).expect("a StatefulSet"))
        .collect();
    assert_eq!(rendered, [load::overlay_statefulset("valkey")]);
}
