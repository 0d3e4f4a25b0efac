//! Reading YAML files into typed Kubernetes objects, and applying kustomize's
//! JSON patches, so that the tests below see what `kubectl apply -k` would.

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
    let raw: Value =
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{origin} is not valid YAML: {e}"));
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
