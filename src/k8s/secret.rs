//! The Redis password from Kubernetes: a Secret named with `--password-secret NAME[/KEY]`, or
//! the one the StatefulSet's redis container already reads (`REDIS_PASSWORD` or
//! `REDISCLI_AUTH` from a `secretKeyRef`), found without any flag. The value is only ever
//! handed to the connection pool, never printed.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;

use super::client::K8s;
use super::error::{K8sError, Op};

/// The key used when `--password-secret` names only the Secret.
pub const DEFAULT_KEY: &str = "password";

/// Env variables whose `secretKeyRef` holds the password, in order of preference.
const PASSWORD_ENV: [&str; 2] = ["REDIS_PASSWORD", "REDISCLI_AUTH"];

/// A key of a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKey {
    /// The Secret's name.
    pub name: String,
    /// The key in its data.
    pub key: String,
}

impl SecretKey {
    /// Parses `NAME[/KEY]`.
    pub fn parse(text: &str) -> Self {
        match text.split_once('/') {
            Some((name, key)) => Self {
                name: name.into(),
                key: key.into(),
            },
            None => Self {
                name: text.into(),
                key: DEFAULT_KEY.into(),
            },
        }
    }
}

/// The Secret key the StatefulSet's containers read their password from, if any.
pub fn password_ref(sts: &StatefulSet) -> Option<SecretKey> {
    let containers = &sts.spec.as_ref()?.template.spec.as_ref()?.containers;
    PASSWORD_ENV.iter().find_map(|wanted| {
        containers
            .iter()
            .flat_map(|c| c.env.iter().flatten())
            .filter(|e| e.name == *wanted)
            .find_map(|e| {
                let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
                Some(SecretKey {
                    name: r.name.clone(),
                    key: r.key.clone(),
                })
            })
    })
}

/// Why the password could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The API refused or the Secret does not exist.
    #[error(transparent)]
    Api(#[from] K8sError),
    /// The Secret lacks the key.
    #[error("secret {name} has no key {key}; name it with --password-secret {name}/KEY")]
    MissingKey {
        /// The Secret.
        name: String,
        /// The key.
        key: String,
    },
}

impl K8s {
    /// Reads one key of a Secret in the namespace.
    pub async fn secret_value(&self, wanted: &SecretKey) -> Result<String, SecretError> {
        let op = Op::new("get", "secrets").on("secret", &wanted.name);
        let secret = self
            .api::<Secret>()
            .get(&wanted.name)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        let missing = || SecretError::MissingKey {
            name: wanted.name.clone(),
            key: wanted.key.clone(),
        };
        let bytes = secret
            .data
            .and_then(|mut d| d.remove(&wanted.key))
            .ok_or_else(missing)?;
        Ok(String::from_utf8_lossy(&bytes.0)
            .trim_end_matches(['\r', '\n'])
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(env: serde_json::Value) -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "redis-cluster"},
            "spec": {
                "selector": {}, "serviceName": "x",
                "template": {"spec": {"containers": [{"name": "redis", "env": env}]}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_secret_name_alone_means_its_password_key() {
        assert_eq!(
            SecretKey::parse("auth"),
            SecretKey {
                name: "auth".into(),
                key: "password".into()
            }
        );
        assert_eq!(
            SecretKey::parse("auth/pw"),
            SecretKey {
                name: "auth".into(),
                key: "pw".into()
            }
        );
    }

    #[test]
    fn the_statefulsets_own_secret_reference_is_found() {
        let with = sts(serde_json::json!([
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-cluster-auth", "key": "password"}}}
        ]));
        assert_eq!(
            password_ref(&with),
            Some(SecretKey {
                name: "redis-cluster-auth".into(),
                key: "password".into()
            })
        );
        let literal = sts(serde_json::json!([{"name": "REDIS_PASSWORD", "value": "not-a-ref"}]));
        assert_eq!(password_ref(&literal), None);
        assert_eq!(password_ref(&sts(serde_json::json!([]))), None);
    }
}
