//! The Kubernetes executor of plan steps ([`crate::plan::steps::Step`]): `scale_statefulset`
//! (the scale subresource, then the pods `0..to` Ready and answering) and `delete_claim`.
//! Membership steps are [`crate::redis::steps`]'s; slot moves the mover's.

use std::time::Duration;

use super::client::K8s;
use super::wait::WaitPodsError;
use crate::plan::steps::Step;
use crate::redis::Pool;

/// The StatefulSet the steps change, and how to know its pods answer.
pub struct StatefulSetRef<'a> {
    /// Its name.
    pub name: &'a str,
    /// The pods' client port.
    pub port: u16,
    /// How long to wait for its pods.
    pub timeout: Duration,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeStepError {
    /// A request failed, or the pods did not follow in time.
    #[error(transparent)]
    Pods(#[from] WaitPodsError),
    /// The step is not a Kubernetes step.
    #[error("`{0}` is not a Kubernetes step")]
    NotMine(&'static str),
}

impl K8s {
    /// Applies one step to `set`; `pool` reaches its pods.
    pub async fn apply_step(
        &self,
        set: &StatefulSetRef<'_>,
        pool: &Pool,
        step: &Step,
    ) -> Result<(), KubeStepError> {
        match step {
            Step::ScaleStatefulset { to, .. } => {
                self.set_replicas(set.name, *to)
                    .await
                    .map_err(WaitPodsError::from)?;
                self.wait_members(set.name, set.port, *to, pool, set.timeout)
                    .await?;
            }
            Step::DeleteClaim { claim } => {
                self.delete_claim(claim)
                    .await
                    .map_err(WaitPodsError::from)?;
            }
            other => return Err(KubeStepError::NotMine(other.name())),
        }
        Ok(())
    }
}
