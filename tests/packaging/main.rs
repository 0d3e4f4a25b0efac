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

mod krew;
mod krew_manifest;
mod kube;
mod load;
mod manifests;
mod overlays;
mod rbac_and_config;
mod statefulset;

use kube::*;
use load::{Document, Object, pod_spec, redis_container, statefulset};
