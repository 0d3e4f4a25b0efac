//! Pre-flight of rights: asks the API server (SelfSubjectAccessReview, which every
//! authenticated user may create) whether the caller may do each request a command will make,
//! all at once, so that a missing right is reported before the first change instead of
//! halfway through.

use std::fmt;

use futures::future::try_join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;

use super::client::K8s;
use super::error::{K8sError, Op};

/// One request a command makes: a verb on a resource (with subresource) of an API group, in
/// the namespace of the StatefulSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Need {
    /// RBAC verb.
    pub verb: &'static str,
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Resource, with `/subresource` when there is one.
    pub resource: &'static str,
}

impl Need {
    /// A need.
    pub const fn new(verb: &'static str, group: &'static str, resource: &'static str) -> Self {
        Self {
            verb,
            group,
            resource,
        }
    }

    /// The Role rule that grants it, in YAML flow style.
    pub fn rule(&self) -> String {
        format!(
            "{{apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"{}\"]}}",
            self.group, self.resource, self.verb
        )
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)
    }
}

impl K8s {
    /// The needs the caller lacks in the namespace, in the order given.
    pub async fn lacking(&self, needs: &[Need]) -> Result<Vec<Need>, K8sError> {
        let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(self.client.clone());
        let answers = try_join_all(needs.iter().map(|need| {
            let api = api.clone();
            async move {
                let (resource, subresource) = match need.resource.split_once('/') {
                    Some((r, s)) => (r, Some(s.to_string())),
                    None => (need.resource, None),
                };
                let review = SelfSubjectAccessReview {
                    spec: SelfSubjectAccessReviewSpec {
                        resource_attributes: Some(ResourceAttributes {
                            namespace: Some(self.scope.namespace.clone()),
                            verb: Some(need.verb.into()),
                            group: Some(need.group.into()),
                            resource: Some(resource.into()),
                            subresource,
                            ..ResourceAttributes::default()
                        }),
                        ..SelfSubjectAccessReviewSpec::default()
                    },
                    ..SelfSubjectAccessReview::default()
                };
                let op = Op::new("create", "selfsubjectaccessreviews");
                let answer = api
                    .create(&PostParams::default(), &review)
                    .await
                    .map_err(|e| self.scope.classify(op, e))?;
                Ok::<_, K8sError>((*need, answer.status.is_some_and(|s| s.allowed)))
            }
        }))
        .await?;
        Ok(answers
            .into_iter()
            .filter(|(_, allowed)| !allowed)
            .map(|(need, _)| need)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mock::{k8s, route};
    use super::*;

    const REVIEWS: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

    #[test]
    fn a_need_reads_as_its_verb_and_resource_and_as_the_rule_that_grants_it() {
        let need = Need::new("patch", "apps", "statefulsets/scale");
        assert_eq!(need.to_string(), "patch statefulsets/scale");
        assert_eq!(
            need.rule(),
            r#"{apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["patch"]}"#
        );
    }

    #[tokio::test]
    async fn every_denied_need_is_listed() {
        let body = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {}, "status": {"allowed": false},
        });
        let (client, seen) = k8s(vec![route("POST", REVIEWS, 201, body)]);
        let needs = [
            Need::new("patch", "apps", "statefulsets/scale"),
            Need::new("delete", "", "persistentvolumeclaims"),
        ];
        assert_eq!(client.lacking(&needs).await.unwrap(), needs);
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
