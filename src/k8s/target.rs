//! Pod names wherever a node is named: a pod of the StatefulSet stands for its node's
//! cluster-internal `ip:port`. Anything else (a node id, an id prefix, `ip:port`) is passed
//! on unchanged to [`crate::topology::lookup::find_node`].
//!
//! Usage: `find_node(&view, &expand_pod_name(ctx.members.as_ref(), typed)?)`.

use super::pods::{Pods, ordinal};

/// A pod was named that cannot stand for a node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PodTargetError {
    /// The pod exists but is not running yet.
    #[error("pod {pod} has no IP yet; wait until it is running")]
    NoIp {
        /// The pod.
        pod: String,
    },
    /// A pod name of this StatefulSet, but no such pod.
    #[error("pod {pod} does not exist; the pods of statefulset {statefulset} are: {pods}")]
    NoSuchPod {
        /// The name typed.
        pod: String,
        /// The StatefulSet.
        statefulset: String,
        /// Its pods, comma-separated.
        pods: String,
    },
}

/// `typed` with a pod name replaced by that pod's `ip:port`.
pub fn expand_pod_name(pods: Option<&Pods>, typed: &str) -> Result<String, PodTargetError> {
    let Some(pods) = pods else {
        return Ok(typed.to_string());
    };
    match pods.by_name(typed) {
        Some(member) => member
            .endpoint(pods.port)
            .map(|e| e.to_string())
            .ok_or_else(|| PodTargetError::NoIp { pod: typed.into() }),
        None if ordinal(&pods.statefulset, typed).is_some() => Err(PodTargetError::NoSuchPod {
            pod: typed.into(),
            statefulset: pods.statefulset.clone(),
            pods: pods
                .members
                .iter()
                .map(|m| m.pod.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        None => Ok(typed.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::pods::fixtures::pod;
    use super::*;

    #[test]
    fn pod_names_become_addresses_and_other_names_pass_through() {
        let mut no_ip = pod("rc-1", "", "n");
        no_ip.status.as_mut().unwrap().pod_ip = None;
        let pods = Pods::from_objects(
            "rc",
            6379,
            &[pod("rc-0", "10.0.0.7", "n"), no_ip],
            &BTreeMap::new(),
        );
        assert_eq!(
            expand_pod_name(Some(&pods), "rc-0").unwrap(),
            "10.0.0.7:6379"
        );
        assert_eq!(
            expand_pod_name(Some(&pods), "07c1a2b3").unwrap(),
            "07c1a2b3"
        );
        assert_eq!(expand_pod_name(None, "rc-0").unwrap(), "rc-0");
        assert_eq!(
            expand_pod_name(Some(&pods), "rc-1")
                .unwrap_err()
                .to_string(),
            "pod rc-1 has no IP yet; wait until it is running"
        );
        assert_eq!(
            expand_pod_name(Some(&pods), "rc-9")
                .unwrap_err()
                .to_string(),
            "pod rc-9 does not exist; the pods of statefulset rc are: rc-0, rc-1"
        );
    }
}
