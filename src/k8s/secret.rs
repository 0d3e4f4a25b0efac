//! Credentials from Kubernetes Secrets. The Redis password: a Secret named with
//! `--password-secret NAME[/KEY]`, or the one the StatefulSet's redis container already reads
//! (`REDIS_PASSWORD` or `REDISCLI_AUTH` from a `secretKeyRef`), found without any flag. TLS:
//! the CA and client certificate of `--tls-secret NAME`, under the keys cert-manager and
//! `kubernetes.io/tls` Secrets use. Values are only ever handed to the connection pool, never
//! printed.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;

use super::client::K8s;
use super::error::{K8sError, Op};
use crate::redis::tls::{ClientIdentity, Pem, ServerTrust, TlsMaterial};

/// The key used when `--password-secret` names only the Secret.
pub const DEFAULT_KEY: &str = "password";

/// The key of a TLS Secret holding the CA certificate(s) that signed the nodes' certificates.
pub const CA_KEY: &str = "ca.crt";
/// The key of a TLS Secret holding the client certificate.
pub const CERT_KEY: &str = "tls.crt";
/// The key of a TLS Secret holding the client certificate's private key.
pub const PRIVATE_KEY_KEY: &str = "tls.key";

/// Which key of a TLS Secret holds which PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsKeys {
    /// The CA certificate(s) that signed the nodes' certificates.
    pub ca: String,
    /// The (client) certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

impl Default for TlsKeys {
    /// cert-manager's keys, which `--tls-secret` reads.
    fn default() -> Self {
        Self {
            ca: CA_KEY.into(),
            cert: CERT_KEY.into(),
            key: PRIVATE_KEY_KEY.into(),
        }
    }
}

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
    /// The Secret lacks a key.
    #[error("secret {name} has no key {key}; {hint}")]
    MissingKey {
        /// The Secret.
        name: String,
        /// The key.
        key: String,
        /// What to do about it.
        hint: String,
    },
}

impl K8s {
    /// Reads one key of a Secret in the namespace.
    pub async fn secret_value(&self, wanted: &SecretKey) -> Result<String, SecretError> {
        let bytes = self
            .secret_data(&wanted.name)
            .await?
            .remove(&wanted.key)
            .ok_or_else(|| SecretError::MissingKey {
                name: wanted.name.clone(),
                key: wanted.key.clone(),
                hint: format!("name it with --password-secret {}/KEY", wanted.name),
            })?;
        Ok(String::from_utf8_lossy(&bytes.0)
            .trim_end_matches(['\r', '\n'])
            .to_string())
    }

    /// The TLS material of Secret `name` (`--tls-secret`, or the one the StatefulSet mounts),
    /// under `keys`: see [`tls_material`].
    pub async fn tls_material(
        &self,
        name: &str,
        keys: &TlsKeys,
        insecure: bool,
        server_name: Option<String>,
    ) -> Result<TlsMaterial, SecretError> {
        let data = self.secret_data(name).await?;
        let origin = format!("secret {}/{name}", self.scope.namespace);
        tls_material(&origin, name, keys, data, insecure, server_name)
    }

    /// Every key of a Secret in the namespace.
    async fn secret_data(&self, name: &str) -> Result<BTreeMap<String, ByteString>, K8sError> {
        let op = Op::new("get", "secrets").on("secret", name);
        let secret = self
            .api::<Secret>()
            .get(name)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(secret.data.unwrap_or_default())
    }
}

/// TLS material from a Secret's keys: the CA from `keys.ca` (`ca.crt`; not needed with
/// `--insecure`), the client certificate from `keys.cert` and `keys.key` (`tls.crt`,
/// `tls.key`) when the Secret has them (it must have both or neither). `origin` names the
/// Secret in messages.
pub fn tls_material(
    origin: &str,
    name: &str,
    keys: &TlsKeys,
    mut data: BTreeMap<String, ByteString>,
    insecure: bool,
    server_name: Option<String>,
) -> Result<TlsMaterial, SecretError> {
    let missing = |key: &str, hint: &str| SecretError::MissingKey {
        name: name.into(),
        key: key.into(),
        hint: hint.into(),
    };
    let mut pem = |key: &str| {
        data.remove(key).map(|bytes| Pem {
            text: bytes.0,
            origin: format!("{origin} key {key}"),
        })
    };
    let trust = match (pem(&keys.ca), insecure) {
        (_, true) => ServerTrust::AnyCertificate,
        (Some(ca), false) => ServerTrust::Ca(ca),
        (None, false) => {
            return Err(missing(
                &keys.ca,
                "it must hold the CA that signed the nodes' certificates (or pass --insecure)",
            ));
        }
    };
    let identity = match (pem(&keys.cert), pem(&keys.key)) {
        (Some(cert), Some(key)) => Some(ClientIdentity { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(missing(&keys.key, "a client certificate needs its key"));
        }
        (None, Some(_)) => {
            return Err(missing(&keys.cert, "a private key needs its certificate"));
        }
    };
    Ok(TlsMaterial {
        trust,
        identity,
        server_name,
        origin: origin.into(),
    })
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

    fn data(keys: &[&str]) -> BTreeMap<String, ByteString> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    ByteString(format!("pem of {k}").into_bytes()),
                )
            })
            .collect()
    }

    fn material(keys: &[&str], insecure: bool) -> Result<TlsMaterial, String> {
        tls_material(
            "secret prod/redis-tls",
            "redis-tls",
            &TlsKeys::default(),
            data(keys),
            insecure,
            None,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_tls_secret_gives_the_ca_and_when_present_the_client_certificate() {
        let full = material(&["ca.crt", "tls.crt", "tls.key"], false).unwrap();
        let ServerTrust::Ca(ca) = &full.trust else {
            panic!("the CA must be trusted: {full:?}");
        };
        assert_eq!(ca.origin, "secret prod/redis-tls key ca.crt");
        assert_eq!(ca.text, b"pem of ca.crt");
        let id = full
            .identity
            .expect("tls.crt and tls.key are the client identity");
        assert_eq!(id.cert.origin, "secret prod/redis-tls key tls.crt");
        assert_eq!(id.key.origin, "secret prod/redis-tls key tls.key");

        assert!(material(&["ca.crt"], false).unwrap().identity.is_none());
        let insecure = material(&["tls.crt", "tls.key"], true).unwrap();
        assert!(matches!(insecure.trust, ServerTrust::AnyCertificate));
    }

    #[test]
    fn a_tls_secret_missing_a_key_says_which_and_what_to_do() {
        assert_eq!(
            material(&["tls.crt", "tls.key"], false).unwrap_err(),
            "secret redis-tls has no key ca.crt; it must hold the CA that signed the nodes' certificates (or pass --insecure)"
        );
        assert_eq!(
            material(&["ca.crt", "tls.crt"], false).unwrap_err(),
            "secret redis-tls has no key tls.key; a client certificate needs its key"
        );
        assert_eq!(
            material(&["ca.crt", "tls.key"], false).unwrap_err(),
            "secret redis-tls has no key tls.crt; a private key needs its certificate"
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
