//! Pre-flight of rights: before a changing command takes the lock or changes anything, every
//! Kubernetes request it will make later is checked at once ([`K8s::lacking`]), and all the
//! missing ones are reported together with the Role rules that grant them. The reads that
//! connecting made already (StatefulSet, pods) have proven themselves by then.

use super::context::Ctx;
use super::refusal::Refusal;
use crate::k8s::access::Need;
use crate::settings::Access;

/// The lock every changing command holds ([`super::lock`]).
pub const LOCK: [Need; 4] = [
    Need::new("get", "coordination.k8s.io", "leases"),
    Need::new("create", "coordination.k8s.io", "leases"),
    Need::new("update", "coordination.k8s.io", "leases"),
    Need::new("delete", "coordination.k8s.io", "leases"),
];

/// Reaching the pods through the API server (not with `--direct` or inside the cluster).
pub const PORT_FORWARD: Need = Need::new("create", "", "pods/portforward");

/// What `scale` needs beyond every changing command: resize the StatefulSet, watch its pods,
/// and with `--delete-pvcs` delete the claims of the pods that left.
pub fn scale(delete_pvcs: bool) -> Vec<Need> {
    let mut needs = vec![
        Need::new("get", "apps", "statefulsets/scale"),
        Need::new("patch", "apps", "statefulsets/scale"),
        Need::new("list", "", "pods"),
    ];
    if delete_pvcs {
        needs.push(Need::new("list", "", "persistentvolumeclaims"));
        needs.push(Need::new("delete", "", "persistentvolumeclaims"));
    }
    needs
}

/// What `rolling-restart` and `upgrade` need beyond every changing command: change the
/// StatefulSet's template and strategy, and delete its pods one at a time.
pub fn rollout() -> Vec<Need> {
    vec![
        Need::new("get", "apps", "statefulsets"),
        Need::new("patch", "apps", "statefulsets"),
        Need::new("get", "apps", "statefulsets/scale"),
        Need::new("list", "", "pods"),
        Need::new("delete", "", "pods"),
    ]
}

impl Ctx {
    /// Checks the rights of a changing command that needs `extra` beyond the lock and the
    /// port-forward; refuses with every missing one, or with `--dry-run` only says so.
    pub async fn preflight(&self, extra: &[Need]) -> anyhow::Result<()> {
        let (Some(k8s), Access::Kubernetes(target)) = (&self.k8s, &self.settings.access) else {
            return Ok(());
        };
        let mut needs: Vec<Need> = LOCK.to_vec();
        if !(target.direct || k8s.in_cluster) {
            needs.push(PORT_FORWARD);
        }
        needs.extend_from_slice(extra);
        needs.dedup();
        let missing = k8s.lacking(&needs).await?;
        if missing.is_empty() {
            return Ok(());
        }
        let refusal = Refusal::MissingRights {
            namespace: k8s.scope.namespace.clone(),
            missing,
        };
        if self.settings.dry_run {
            self.reporter.warn(format!("{refusal}; {}", refusal.hint()));
            return Ok(());
        }
        Err(refusal.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_scale_that_deletes_claims_needs_to_delete_them() {
        let delete = Need::new("delete", "", "persistentvolumeclaims");
        assert!(!scale(false).contains(&delete));
        assert!(scale(true).contains(&delete));
        assert!(scale(false).contains(&Need::new("patch", "apps", "statefulsets/scale")));
    }
}
