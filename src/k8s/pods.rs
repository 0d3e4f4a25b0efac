//! The pure model of a StatefulSet's pods: ordinal, IP, readiness, Kubernetes node and zone.
//! Built from API objects by [`Pods::from_objects`]; everything else reads this plain data.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::topology::Endpoint;

/// The node label that names a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The memory limit of the pod's Redis container (its first container when none looks like
/// Redis), in bytes.
fn memory_limit(pod: &Pod) -> Option<u64> {
    let containers = &pod.spec.as_ref()?.containers;
    let redis = containers
        .iter()
        .find(|c| super::locate::is_redis_container(c))
        .or(containers.first())?;
    let limit = redis.resources.as_ref()?.limits.as_ref()?.get("memory")?;
    quantity_bytes(&limit.0)
}

/// A Kubernetes memory quantity in bytes: `512Mi`, `2Gi`, `1G`, `128974848`, `129e6`.
pub fn quantity_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "m" => 1e-3,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value >= 0.0).then(|| (value * factor).ceil() as u64)
}

/// One pod of the StatefulSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Position in the StatefulSet (`redis-cluster-3` → 3).
    pub ordinal: u32,
    /// Pod name.
    pub pod: String,
    /// Pod IP, once it has one.
    pub ip: Option<String>,
    /// Condition `Ready` is true and the pod is not being deleted.
    pub ready: bool,
    /// The Kubernetes node it runs on, once scheduled.
    pub node: Option<String>,
    /// That node's zone label, when set.
    pub zone: Option<String>,
    /// The pod's uid (a pod deleted and recreated under the same name has another).
    pub uid: Option<String>,
    /// The StatefulSet revision it was created from (`controller-revision-hash`).
    pub revision: Option<String>,
    /// The Redis container's memory limit in bytes, when it has one.
    pub memory_limit: Option<u64>,
}

impl Member {
    /// The Redis endpoint at `port`, once the pod has an IP.
    pub fn endpoint(&self, port: u16) -> Option<Endpoint> {
        self.ip.as_ref().map(|ip| Endpoint::new(ip.clone(), port))
    }

    /// The failure domain for replica placement: the zone when labelled, else the node (else
    /// the pod itself, which only happens before scheduling).
    pub fn domain(&self) -> String {
        self.zone
            .clone()
            .or_else(|| self.node.clone())
            .unwrap_or_else(|| self.pod.clone())
    }

    /// Why the pod cannot serve yet, if it cannot.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        match (&self.ip, self.ready) {
            (None, _) => Some("has no IP yet"),
            (Some(_), false) => Some("is not Ready"),
            (Some(_), true) => None,
        }
    }
}

/// The pods of one StatefulSet, in ordinal order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    /// The StatefulSet's name.
    pub statefulset: String,
    /// Redis client port in the pods.
    pub port: u16,
    /// The pods, by ordinal.
    pub members: Vec<Member>,
}

impl Pods {
    /// Builds the model from listed pods and a node → zone map. Pods whose name is not
    /// `<statefulset>-<ordinal>` (another workload matching the selector) are left out.
    pub fn from_objects(
        statefulset: &str,
        port: u16,
        pods: &[Pod],
        zones: &BTreeMap<String, String>,
    ) -> Self {
        let mut members: Vec<Member> = pods
            .iter()
            .filter_map(|pod| {
                let name = pod.metadata.name.clone()?;
                let ordinal = ordinal(statefulset, &name)?;
                let status = pod.status.as_ref();
                let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                let ready = pod.metadata.deletion_timestamp.is_none()
                    && status
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                Some(Member {
                    ordinal,
                    pod: name,
                    ip: status
                        .and_then(|s| s.pod_ip.clone())
                        .filter(|ip| !ip.is_empty()),
                    ready,
                    zone: node.as_ref().and_then(|n| zones.get(n).cloned()),
                    node,
                    uid: pod.metadata.uid.clone(),
                    revision: pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("controller-revision-hash").cloned()),
                    memory_limit: memory_limit(pod),
                })
            })
            .collect();
        members.sort_by_key(|m| m.ordinal);
        Self {
            statefulset: statefulset.to_string(),
            port,
            members,
        }
    }

    /// The pod with this name.
    pub fn by_name(&self, pod: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.pod == pod)
    }

    /// The pod with this IP.
    pub fn by_ip(&self, ip: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.ip.as_deref() == Some(ip))
    }

    /// Endpoints of every pod that has an IP, in ordinal order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.members
            .iter()
            .filter_map(|m| m.endpoint(self.port))
            .collect()
    }

    /// Pods among ordinals `0..replicas` that are missing or cannot serve, each with the
    /// reason: `redis-cluster-4 is not Ready`.
    pub fn not_ready(&self, replicas: u32) -> Vec<String> {
        (0..replicas)
            .filter_map(|ordinal| {
                let name = format!("{}-{ordinal}", self.statefulset);
                match self.members.iter().find(|m| m.ordinal == ordinal) {
                    None => Some(format!("{name} does not exist yet")),
                    Some(m) => m.not_ready_reason().map(|why| format!("{name} {why}")),
                }
            })
            .collect()
    }
}

/// The ordinal in a StatefulSet pod's name: `redis-cluster-12` → 12.
pub fn ordinal(statefulset: &str, pod: &str) -> Option<u32> {
    let digits = pod.strip_prefix(statefulset)?.strip_prefix('-')?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
pub mod fixtures {
    //! Builders for pods as the API returns them.

    use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// A scheduled, Ready pod with an IP.
    pub fn pod(name: &str, ip: &str, node: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some(ip.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    /// The same pod, not Ready.
    pub fn unready(mut pod: Pod) -> Pod {
        if let Some(c) = pod.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            c[0].status = "False".into();
        }
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{pod, unready};
    use super::*;

    #[test]
    fn memory_quantities_read_as_bytes() {
        assert_eq!(quantity_bytes("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(quantity_bytes("2Gi"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(quantity_bytes("1G"), Some(1_000_000_000));
        assert_eq!(quantity_bytes("128974848"), Some(128_974_848));
        assert_eq!(quantity_bytes("129e6"), Some(129_000_000));
        assert_eq!(quantity_bytes("3Xi"), None);
    }

    #[test]
    fn ordinals_come_only_from_this_statefulsets_pod_names() {
        assert_eq!(ordinal("redis-cluster", "redis-cluster-0"), Some(0));
        assert_eq!(ordinal("redis-cluster", "redis-cluster-12"), Some(12));
        for other in [
            "redis-cluster",
            "redis-cluster-",
            "redis-cluster-x1",
            "redis-cluster-foo-0",
            "redis-cluster-01",
            "redis-0",
        ] {
            assert_eq!(ordinal("redis-cluster", other), None, "{other}");
        }
    }

    #[test]
    fn pods_are_sorted_by_ordinal_with_node_and_zone() {
        let zones = BTreeMap::from([("n1".to_string(), "eu-1a".to_string())]);
        let pods = Pods::from_objects(
            "rc",
            6379,
            &[
                pod("rc-10", "10.0.0.10", "n2"),
                pod("rc-2", "10.0.0.2", "n1"),
                pod("other-0", "10.0.0.99", "n1"),
            ],
            &zones,
        );
        let names: Vec<&str> = pods.members.iter().map(|m| m.pod.as_str()).collect();
        assert_eq!(names, ["rc-2", "rc-10"]);
        assert_eq!(pods.members[0].domain(), "eu-1a");
        assert_eq!(pods.members[1].domain(), "n2");
        assert_eq!(pods.by_ip("10.0.0.10").map(|m| m.ordinal), Some(10));
        assert_eq!(
            pods.endpoints(),
            vec![
                Endpoint::new("10.0.0.2", 6379),
                Endpoint::new("10.0.0.10", 6379)
            ]
        );
    }

    #[test]
    fn missing_unready_and_ipless_pods_are_each_named() {
        let mut no_ip = pod("rc-2", "", "n1");
        no_ip.status.as_mut().unwrap().pod_ip = None;
        let pods = Pods::from_objects(
            "rc",
            6379,
            &[
                pod("rc-0", "10.0.0.1", "n1"),
                unready(pod("rc-1", "10.0.0.2", "n1")),
                no_ip,
            ],
            &BTreeMap::new(),
        );
        assert_eq!(
            pods.not_ready(4),
            vec![
                "rc-1 is not Ready",
                "rc-2 has no IP yet",
                "rc-3 does not exist yet"
            ]
        );
        assert!(pods.not_ready(1).is_empty());
    }

    #[test]
    fn a_pod_being_deleted_is_not_ready() {
        let mut p = pod("rc-0", "10.0.0.1", "n1");
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        let pods = Pods::from_objects("rc", 6379, &[p], &BTreeMap::new());
        assert!(!pods.members[0].ready);
    }
}
