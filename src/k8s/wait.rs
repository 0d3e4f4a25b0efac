//! Waiting for a StatefulSet's pods: exactly ordinals `0..n`, each Ready with an IP and
//! answering `PING` (pods are Ready a little before redis-server accepts connections, and a
//! readiness probe may lag). A timeout names every pod still missing and why.

use std::time::Duration;

use super::client::K8s;
use super::error::K8sError;
use super::pods::Pods;
use crate::redis::Pool;
use crate::redis::wait::{Poll, WaitTimedOut, wait_until};

/// Why waiting for pods failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitPodsError {
    /// A request to the API server failed.
    #[error(transparent)]
    K8s(#[from] K8sError),
    /// The pods did not get ready in time.
    #[error(transparent)]
    Timeout(#[from] WaitTimedOut),
}

impl K8s {
    /// Waits until the StatefulSet `name` has exactly the pods `0..replicas` (higher ordinals
    /// gone, after a scale-down), all Ready and answering `PING` through `pool`. Returns them.
    pub async fn wait_members(
        &self,
        name: &str,
        port: u16,
        replicas: u32,
        pool: &Pool,
        timeout: Duration,
    ) -> Result<Pods, WaitPodsError> {
        let what = format!("the {replicas} pods of statefulset {name} are Ready and answer PING");
        wait_until(&what, timeout, || async {
            let pods = self.members(name, port).await?;
            let mut waiting = pods.not_ready(replicas);
            waiting.extend(
                pods.members
                    .iter()
                    .filter(|m| m.ordinal >= replicas)
                    .map(|m| format!("{} is still there", m.pod)),
            );
            if waiting.is_empty() {
                waiting = unanswered(&pods, pool).await;
            }
            Ok::<_, WaitPodsError>(if waiting.is_empty() {
                Poll::Ready(pods)
            } else {
                Poll::NotYet(waiting.join(", "))
            })
        })
        .await
    }
}

/// Pods that do not answer `PING`, each with the error.
async fn unanswered(pods: &Pods, pool: &Pool) -> Vec<String> {
    let checks = pods.members.iter().filter_map(|m| {
        let endpoint = m.endpoint(pods.port)?;
        Some(async move {
            let answer = async {
                let mut node = pool.node(&endpoint).await?;
                pool.bounded_look(&endpoint, node.call::<String>(::redis::cmd("PING")))
                    .await
            }
            .await;
            answer.err().map(|e| {
                // A connection that failed once is reopened on the next round.
                pool.forget(&endpoint);
                format!("{} does not answer PING ({})", m.pod, e.one_line())
            })
        })
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}
