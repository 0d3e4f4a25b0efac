//! The PersistentVolumeClaims of a StatefulSet's pods (`<template>-<statefulset>-<ordinal>`):
//! list them by ordinal, delete those of pods that left the cluster.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams};

use super::client::K8s;
use super::error::{K8sError, Op};
use super::pods::ordinal;

/// One claim of one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The claim's name.
    pub name: String,
    /// The pod ordinal it belongs to.
    pub ordinal: u32,
}

/// The claims among `names` that belong to StatefulSet `statefulset` with these volume claim
/// templates, by ordinal then name.
pub fn claims_of(statefulset: &str, templates: &[String], names: &[String]) -> Vec<Claim> {
    let mut claims: Vec<Claim> = names
        .iter()
        .filter_map(|name| {
            templates.iter().find_map(|t| {
                let pod = name.strip_prefix(t.as_str())?.strip_prefix('-')?;
                Some(Claim {
                    name: name.clone(),
                    ordinal: ordinal(statefulset, pod)?,
                })
            })
        })
        .collect();
    claims.sort_by(|a, b| (a.ordinal, &a.name).cmp(&(b.ordinal, &b.name)));
    claims
}

/// The names of a StatefulSet's volume claim templates.
pub fn claim_templates(sts: &StatefulSet) -> Vec<String> {
    sts.spec
        .iter()
        .flat_map(|s| s.volume_claim_templates.iter().flatten())
        .filter_map(|t| t.metadata.name.clone())
        .collect()
}

impl K8s {
    /// Every claim of the StatefulSet's pods, present or past.
    pub async fn claims(&self, sts: &StatefulSet) -> Result<Vec<Claim>, K8sError> {
        let name = sts.metadata.name.clone().unwrap_or_default();
        let names: Vec<String> = self
            .api::<PersistentVolumeClaim>()
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                self.scope
                    .classify(Op::new("list", "persistentvolumeclaims"), e)
            })?
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        Ok(claims_of(&name, &claim_templates(sts), &names))
    }

    /// Deletes claims; one already gone counts as deleted.
    pub async fn delete_claims(&self, claims: &[Claim]) -> Result<(), K8sError> {
        for claim in claims {
            self.delete_claim(&claim.name).await?;
        }
        Ok(())
    }

    /// Deletes the claim `name`; one already gone counts as deleted.
    pub async fn delete_claim(&self, name: &str) -> Result<(), K8sError> {
        let op = Op::new("delete", "persistentvolumeclaims").on("persistentvolumeclaim", name);
        match self
            .api::<PersistentVolumeClaim>()
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.scope.classify(op, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_matched_to_ordinals_by_template_and_statefulset_name() {
        let names: Vec<String> = [
            "data-redis-cluster-10",
            "data-redis-cluster-2",
            "data-redis-cluster-x",
            "data-other-0",
            "logs-redis-cluster-2",
            "unrelated",
        ]
        .map(String::from)
        .to_vec();
        let claims = claims_of("redis-cluster", &["data".into(), "logs".into()], &names);
        let got: Vec<(&str, u32)> = claims
            .iter()
            .map(|c| (c.name.as_str(), c.ordinal))
            .collect();
        assert_eq!(
            got,
            [
                ("data-redis-cluster-2", 2),
                ("logs-redis-cluster-2", 2),
                ("data-redis-cluster-10", 10)
            ]
        );
    }
}
