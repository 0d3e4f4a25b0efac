//! The objects `deploy` applies and `destroy` deletes: `manifests/base` embedded in the binary
//! (the same files `kubectl apply -k manifests/` uses), parsed into typed objects and adjusted
//! for the requested engine (Redis, or the valkey overlay's patch), size, storage and image.
//! Pure: no kustomize, no API calls.
//!
//! The RBAC file of the base is left out on purpose: granting rights is a cluster admin's
//! step, and the plugin user applying it would need the rights it grants.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::topology::EngineKind;

/// The base's files that `deploy` applies, in apply order (the config before the pods that
/// mount it).
const BASE: [(&str, &str); 4] = [
    (
        "configmap.yaml",
        include_str!("../../manifests/base/configmap.yaml"),
    ),
    (
        "services.yaml",
        include_str!("../../manifests/base/services.yaml"),
    ),
    (
        "poddisruptionbudget.yaml",
        include_str!("../../manifests/base/poddisruptionbudget.yaml"),
    ),
    (
        "statefulset.yaml",
        include_str!("../../manifests/base/statefulset.yaml"),
    ),
];

/// `manifests/overlays/valkey`'s JSON patch of the StatefulSet, which `deploy --engine valkey`
/// applies as `kubectl apply -k manifests/overlays/valkey` does.
const VALKEY_PATCH: &str = include_str!("../../manifests/overlays/valkey/statefulset-valkey.yaml");

/// The command-line option of the valkey patch that Valkey 8 refuses (it does not start).
const SIGTERM_FAILOVER: [&str; 2] = ["--shutdown-on-sigterm", "failover"];

/// What `deploy` may change in the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployParams {
    /// Masters; the StatefulSet gets `masters * (1 + replicas_per_master)` pods.
    pub masters: u32,
    /// Replicas per master.
    pub replicas_per_master: u32,
    /// Volume size per pod (`1Gi`), when not the base's.
    pub storage: Option<String>,
    /// The server: Redis (the base), or Valkey (the valkey overlay).
    pub engine: EngineKind,
    /// Image, when not the base's (or overlay's) pinned one.
    pub image: Option<String>,
    /// StorageClass, when not the cluster's default.
    pub storage_class: Option<String>,
    /// Hostname mode ([`super::announce`]) under this cluster DNS domain; IPs when none.
    pub hostnames: Option<String>,
}

/// One object of the base.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command handles five of these, by value"
)]
pub enum Object {
    /// `redis.conf`.
    ConfigMap(ConfigMap),
    /// The headless and the client Service.
    Service(Service),
    /// The disruption budget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// The Redis pods.
    StatefulSet(StatefulSet),
}

impl Object {
    /// The kind, lower case, as kubectl prints it (`statefulset`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConfigMap(_) => "configmap",
            Self::Service(_) => "service",
            Self::PodDisruptionBudget(_) => "poddisruptionbudget",
            Self::StatefulSet(_) => "statefulset",
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::ConfigMap(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
            Self::StatefulSet(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

/// Why the manifests cannot be rendered as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// Fewer than three masters.
    #[error("--masters {0} is too few: a cluster needs at least 3 masters")]
    TooFewMasters(u32),
    /// An empty or malformed flag value.
    #[error("--{flag} `{value}` is not valid: {why}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An image whose name says it runs the other server.
    #[error(
        "--image {image} looks like a {named} image, but --engine is {engine}: the pods would run {engine}-server from it; pass --engine {named}, or an image of {engine}"
    )]
    ImageOfOtherEngine {
        /// The image.
        image: String,
        /// The engine its name says.
        named: EngineKind,
        /// The engine asked for.
        engine: EngineKind,
    },
}

/// The engine an image's repository name says it runs (`valkey/valkey:9`, `redis:7.2`,
/// `bitnami/redis-cluster`), if it names exactly one.
fn engine_named_by(image: &str) -> Option<EngineKind> {
    let repository = image.split('@').next()?;
    let repository = match repository.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => repository,
    };
    let name = repository.rsplit('/').next()?.to_ascii_lowercase();
    match (name.contains("valkey"), name.contains("redis")) {
        (true, false) => Some(EngineKind::Valkey),
        (false, true) => Some(EngineKind::Redis),
        _ => None,
    }
}

/// The base objects as shipped.
pub fn base() -> Vec<Object> {
    BASE.iter()
        .flat_map(|(file, text)| {
            let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text)
                // The files are part of the binary and parsed by the unit tests below.
                .unwrap_or_else(|e| panic!("embedded manifests/base/{file} does not parse: {e}"));
            docs.into_iter().map(move |doc| typed(file, doc))
        })
        .collect()
}

/// One document as a typed object.
fn typed(file: &str, doc: serde_json::Value) -> Object {
    let kind = doc
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    // Every kind in the embedded files is listed here; the unit tests render them all.
    match kind.as_str() {
        "ConfigMap" => Object::ConfigMap(parse(file, doc)),
        "Service" => Object::Service(parse(file, doc)),
        "PodDisruptionBudget" => Object::PodDisruptionBudget(parse(file, doc)),
        "StatefulSet" => Object::StatefulSet(parse(file, doc)),
        other => panic!("embedded manifests/base/{file} has an unexpected kind {other}"),
    }
}

/// One embedded document as `T`; the unit tests parse every one, so failing is a bug.
fn parse<T: serde::de::DeserializeOwned>(file: &str, doc: serde_json::Value) -> T {
    serde_json::from_value(doc).unwrap_or_else(|e| panic!("embedded manifests/base/{file}: {e}"))
}

/// The base adjusted to `params`.
pub fn render(params: &DeployParams) -> Result<Vec<Object>, RenderError> {
    if params.masters < 3 {
        return Err(RenderError::TooFewMasters(params.masters));
    }
    if let Some(image) = &params.image
        && let Some(named) = engine_named_by(image).filter(|n| *n != params.engine)
    {
        return Err(RenderError::ImageOfOtherEngine {
            image: image.clone(),
            named,
            engine: params.engine,
        });
    }
    let replicas = params.masters * (1 + params.replicas_per_master);
    let mut objects = base();
    for object in &mut objects {
        if let Object::StatefulSet(sts) = object {
            if params.engine == EngineKind::Valkey {
                valkey(sts, params.image.as_deref());
            }
            if let Some(domain) = &params.hostnames {
                hostnames(sts, domain);
            }
            adjust(sts, params, replicas)?;
        }
    }
    Ok(objects)
}

/// The valkey overlay's patch applied to the base StatefulSet; with an image tagged 8.x (or
/// older), without the option Valkey 8 refuses.
fn valkey(sts: &mut StatefulSet, image: Option<&str>) {
    // The patch is part of the binary, and the unit tests apply it: failing is a bug.
    let patch: json_patch::Patch = serde_saphyr::from_str(VALKEY_PATCH)
        .unwrap_or_else(|e| panic!("embedded valkey overlay patch does not parse: {e}"));
    let mut doc = serde_json::to_value(&*sts).expect("a StatefulSet serialises");
    json_patch::patch(&mut doc, &patch)
        .unwrap_or_else(|e| panic!("the valkey overlay patch does not fit the base: {e}"));
    *sts = serde_json::from_value(doc).expect("the patched StatefulSet parses");
    if image.and_then(image_major).is_some_and(|major| major < 9) {
        for c in containers(sts) {
            if let Some(cmd) = c.command.as_mut()
                && let Some(at) = cmd.windows(2).position(|w| w == SIGTERM_FAILOVER)
            {
                cmd.drain(at..at + 2);
            }
        }
    }
}

/// Hostname mode: the redis container announces `$(POD_NAME).<serviceName>...svc.<domain>`.
fn hostnames(sts: &mut StatefulSet, domain: &str) {
    let service = sts
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .expect("the base StatefulSet names its headless Service");
    for c in containers(sts) {
        // The base's redis container starts redis-server (or valkey-server) itself; the unit
        // tests check it.
        let (edited, env) = super::announce::with_hostnames(c, &service, domain)
            .expect("the base's command starts the server");
        super::announce::apply(c, edited, env);
    }
}

/// The major version in an image's tag (`valkey/valkey:8.1.8-alpine` → 8), if it has one.
fn image_major(image: &str) -> Option<u32> {
    let name = image.split('@').next()?;
    let (_, tag) = name.rsplit_once(':').filter(|(_, t)| !t.contains('/'))?;
    tag.split(['.', '-']).next()?.parse().ok()
}

/// The redis container(s) of the pod template.
fn containers(sts: &mut StatefulSet) -> impl Iterator<Item = &mut Container> {
    sts.spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .into_iter()
        .flat_map(|pod| pod.containers.iter_mut())
        .filter(|c| c.name == "redis")
}

/// Applies size, image and storage to the StatefulSet.
fn adjust(sts: &mut StatefulSet, params: &DeployParams, replicas: u32) -> Result<(), RenderError> {
    let non_empty = |flag: &'static str, value: &Option<String>| match value {
        Some(v) if v.trim().is_empty() || v.contains(char::is_whitespace) => {
            Err(RenderError::BadValue {
                flag,
                value: v.clone(),
                why: "it must be a single non-empty word",
            })
        }
        _ => Ok(()),
    };
    non_empty("storage", &params.storage)?;
    non_empty("image", &params.image)?;
    non_empty("storage-class", &params.storage_class)?;
    // The base has a spec, a pod template with the redis container, and one claim template;
    // the unit tests check that.
    let spec = sts.spec.as_mut().expect("the base StatefulSet has a spec");
    spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
    for claim in spec.volume_claim_templates.iter_mut().flatten() {
        let claim_spec = claim.spec.get_or_insert_with(Default::default);
        if let Some(size) = &params.storage {
            let resources = claim_spec.resources.get_or_insert_with(Default::default);
            resources
                .requests
                .get_or_insert_with(Default::default)
                .insert("storage".into(), Quantity(size.clone()));
        }
        if let Some(class) = &params.storage_class {
            claim_spec.storage_class_name = Some(class.clone());
        }
    }
    if let Some(image) = &params.image {
        for c in containers(sts) {
            c.image = Some(image.clone());
        }
    }
    Ok(())
}

/// The objects as one multi-document YAML stream, for `--dry-run`.
pub fn to_yaml(objects: &[Object]) -> String {
    objects
        .iter()
        .map(|o| {
            let text = match o {
                Object::ConfigMap(x) => serde_saphyr::to_string(x),
                Object::Service(x) => serde_saphyr::to_string(x),
                Object::PodDisruptionBudget(x) => serde_saphyr::to_string(x),
                Object::StatefulSet(x) => serde_saphyr::to_string(x),
            };
            // Serialising plain data structures to a String cannot fail.
            text.expect("typed objects serialise to YAML")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DeployParams {
        DeployParams {
            masters: 3,
            replicas_per_master: 1,
            storage: None,
            engine: EngineKind::Redis,
            image: None,
            storage_class: None,
            hostnames: None,
        }
    }

    fn command(objects: &[Object]) -> Vec<String> {
        let spec = statefulset(objects).spec.as_ref().unwrap();
        let container = &spec.template.spec.as_ref().unwrap().containers[0];
        container.command.clone().unwrap()
    }

    fn image(objects: &[Object]) -> String {
        let spec = statefulset(objects).spec.as_ref().unwrap();
        let container = &spec.template.spec.as_ref().unwrap().containers[0];
        container.image.clone().unwrap()
    }

    fn statefulset(objects: &[Object]) -> &StatefulSet {
        objects
            .iter()
            .find_map(|o| match o {
                Object::StatefulSet(s) => Some(s),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn the_base_renders_the_objects_destroy_deletes() {
        let names: Vec<String> = render(&params())
            .unwrap()
            .iter()
            .map(|o| format!("{}/{}", o.kind(), o.name()))
            .collect();
        assert_eq!(
            names,
            [
                "configmap/redis-cluster",
                "service/redis-cluster-headless",
                "service/redis-cluster",
                "poddisruptionbudget/redis-cluster",
                "statefulset/redis-cluster"
            ]
        );
    }

    #[test]
    fn size_image_storage_and_class_land_in_the_statefulset() {
        let objects = render(&DeployParams {
            masters: 4,
            replicas_per_master: 2,
            storage: Some("5Gi".into()),
            engine: EngineKind::Redis,
            image: Some("redis:7.2.5".into()),
            storage_class: Some("fast".into()),
            hostnames: None,
        })
        .unwrap();
        let spec = statefulset(&objects).spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(12));
        let container = &spec.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some("redis:7.2.5"));
        let claim = spec.volume_claim_templates.as_ref().unwrap()[0]
            .spec
            .as_ref()
            .unwrap();
        assert_eq!(claim.storage_class_name.as_deref(), Some("fast"));
        let requests = claim.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(requests["storage"], Quantity("5Gi".into()));
    }

    #[test]
    fn valkey_runs_valkey_server_from_the_stock_image_and_fails_over_on_sigterm() {
        let objects = render(&DeployParams {
            engine: EngineKind::Valkey,
            ..params()
        })
        .unwrap();
        assert_eq!(image(&objects), "valkey/valkey:9.1");
        let cmd = command(&objects);
        assert_eq!(cmd[0], "valkey-server");
        assert_eq!(cmd[cmd.len() - 2..], SIGTERM_FAILOVER);
    }

    #[test]
    fn hostname_mode_renders_what_the_hostname_overlay_patches_in() {
        let rendered = render(&DeployParams {
            hostnames: Some("cluster.local".into()),
            ..params()
        })
        .unwrap();
        let patch: json_patch::Patch = serde_saphyr::from_str(include_str!(
            "../../manifests/overlays/hostname/statefulset-hostname.yaml"
        ))
        .unwrap();
        let mut overlay = serde_json::to_value(statefulset(&render(&params()).unwrap())).unwrap();
        json_patch::patch(&mut overlay, &patch).unwrap();
        assert_eq!(
            serde_json::to_value(statefulset(&rendered)).unwrap(),
            overlay
        );
        let cmd = command(&rendered);
        assert!(cmd.ends_with(&[
            "--cluster-announce-hostname".to_string(),
            "$(POD_NAME).redis-cluster-headless.$(POD_NAMESPACE).svc.cluster.local".into(),
            "--cluster-preferred-endpoint-type".into(),
            "hostname".into(),
        ]));
        // Valkey too, under another domain.
        let valkey = render(&DeployParams {
            engine: EngineKind::Valkey,
            hostnames: Some("k8s.example.org".into()),
            ..params()
        })
        .unwrap();
        let cmd = command(&valkey);
        assert_eq!(cmd[0], "valkey-server");
        assert!(cmd.contains(&"failover".to_string()));
        assert!(cmd.contains(
            &"$(POD_NAME).redis-cluster-headless.$(POD_NAMESPACE).svc.k8s.example.org".to_string()
        ));
    }

    #[test]
    fn a_valkey_8_image_drops_the_sigterm_failover_it_would_refuse() {
        for (img, kept) in [
            ("valkey/valkey:8.1.8-alpine", false),
            ("registry.local:5000/valkey/valkey:8.0", false),
            ("valkey/valkey:9.0.1", true),
            ("valkey/valkey", true),
            ("valkey/valkey@sha256:abc", true),
        ] {
            let objects = render(&DeployParams {
                engine: EngineKind::Valkey,
                image: Some(img.into()),
                ..params()
            })
            .unwrap();
            assert_eq!(image(&objects), img);
            let cmd = command(&objects);
            assert_eq!(cmd[0], "valkey-server", "{img}");
            assert_eq!(cmd.contains(&"failover".to_string()), kept, "{img}");
        }
    }

    #[test]
    fn defaults_keep_the_base_as_shipped() {
        let objects = render(&params()).unwrap();
        assert_eq!(objects, base());
    }

    #[test]
    fn too_few_masters_and_blank_values_are_refused() {
        assert_eq!(
            render(&DeployParams {
                masters: 2,
                ..params()
            })
            .unwrap_err()
            .to_string(),
            "--masters 2 is too few: a cluster needs at least 3 masters"
        );
        let err = render(&DeployParams {
            image: Some(" ".into()),
            ..params()
        })
        .unwrap_err();
        assert!(
            matches!(err, RenderError::BadValue { flag: "image", .. }),
            "{err}"
        );
    }

    #[test]
    fn an_image_named_for_the_other_engine_is_refused_and_any_other_name_is_taken_as_given() {
        let with = |engine, image: &str| {
            render(&DeployParams {
                engine,
                image: Some(image.into()),
                ..params()
            })
        };
        let err = with(EngineKind::Valkey, "redis:7.2.5").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--image redis:7.2.5 looks like a redis image, but --engine is valkey: the pods would run valkey-server from it; pass --engine redis, or an image of valkey"
        );
        assert!(with(EngineKind::Redis, "valkey/valkey:9.1").is_err());
        for fine in [
            "registry.example:5000/team/cache:1",
            "registry.example:5000/valkey/valkey:9",
            "bitnami/redis-cluster:7.2",
        ] {
            let engine = if fine.contains("valkey") {
                EngineKind::Valkey
            } else {
                EngineKind::Redis
            };
            assert!(with(engine, fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_yaml_stream_parses_back_into_the_same_objects() {
        let objects = render(&params()).unwrap();
        let text = to_yaml(&objects);
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(docs.len(), objects.len());
        let again: Vec<Object> = docs.into_iter().map(|d| typed("dry-run", d)).collect();
        assert_eq!(again, objects);
    }
}
