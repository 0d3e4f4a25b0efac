//! Hostname mode in the pod template: each node announces a stable DNS name,
//! `<pod>.<headless service>.<namespace>.svc.<cluster domain>`, and clients are sent to names
//! instead of IPs (`cluster-announce-hostname`, `cluster-preferred-endpoint-type hostname`,
//! Redis ≥ 7.0 and Valkey). The name comes from the pod's own name and namespace (the
//! downward API, `$(POD_NAME)` expanded by the kubelet in the server's command line). Pure:
//! the edit of a container, used by `deploy --announce hostname` and by `announce-hostnames`
//! (which also sets both live, before any pod restarts).

use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector};

/// The option naming the announced hostname.
pub const HOSTNAME_OPTION: &str = "--cluster-announce-hostname";
/// The option telling the server to send clients to names.
pub const PREFERRED_OPTION: &str = "--cluster-preferred-endpoint-type";

/// The name a pod's node announces.
pub fn hostname(pod: &str, service: &str, namespace: &str, domain: &str) -> String {
    format!("{pod}.{service}.{namespace}.svc.{domain}")
}

/// Which list of the container starts the server, and its words once edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edited {
    /// `command`, as it becomes.
    Command(Vec<String>),
    /// `args`, as they become.
    Args(Vec<String>),
}

/// Why a container cannot be edited.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the redis container does not start redis-server or valkey-server itself (it runs `{0}`), so the plugin cannot add the two options to its command line; add `{HOSTNAME_OPTION} $(POD_NAME).SERVICE.$(POD_NAMESPACE).svc.DOMAIN {PREFERRED_OPTION} hostname` (and the POD_NAME and POD_NAMESPACE variables) to it yourself"
)]
pub struct NotDirect(pub String);

/// Whether the container's command line announces hostnames already.
pub fn announces(container: &Container) -> bool {
    let words: Vec<&String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .collect();
    words.iter().any(|w| *w == HOSTNAME_OPTION)
        && words
            .windows(2)
            .any(|w| w[0] == PREFERRED_OPTION && w[1] == "hostname")
}

/// The container edited to announce `$(POD_NAME).service.$(POD_NAMESPACE).svc.domain`: the two
/// options appended to the list that starts the server (replacing any earlier values) and
/// the two variables added to its environment.
pub fn with_hostnames(
    container: &Container,
    service: &str,
    domain: &str,
) -> Result<(Edited, Vec<EnvVar>), NotDirect> {
    let starts_server = |word: &String| {
        let name = word.rsplit('/').next().unwrap_or(word);
        name == "redis-server" || name == "valkey-server"
    };
    let command = container.command.clone().unwrap_or_default();
    let args = container.args.clone().unwrap_or_default();
    let edited = if command.first().is_some_and(starts_server) {
        Edited::Command(appended(&command, service, domain))
    } else if command.is_empty() {
        // The image's entrypoint runs the server with the args (`docker-entrypoint.sh
        // redis-server ...`, or a config path the stock images hand to redis-server).
        Edited::Args(appended(&args, service, domain))
    } else {
        let shown = command.iter().chain(&args).cloned().collect::<Vec<_>>();
        return Err(NotDirect(shown.join(" ")));
    };
    let mut env = container.env.clone().unwrap_or_default();
    for (name, path) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        env.retain(|e| e.name != name);
        env.push(EnvVar {
            name: name.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.to_string(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            }),
        });
    }
    Ok((edited, env))
}

/// `words` without earlier values of the two options, then the two options.
fn appended(words: &[String], service: &str, domain: &str) -> Vec<String> {
    let mut kept = Vec::with_capacity(words.len() + 4);
    let mut skip = false;
    for w in words {
        if std::mem::take(&mut skip) {
            continue;
        }
        if w == HOSTNAME_OPTION || w == PREFERRED_OPTION {
            skip = true;
        } else {
            kept.push(w.clone());
        }
    }
    kept.extend([
        HOSTNAME_OPTION.to_string(),
        hostname("$(POD_NAME)", service, "$(POD_NAMESPACE)", domain),
        PREFERRED_OPTION.to_string(),
        "hostname".to_string(),
    ]);
    kept
}

/// Applies [`with_hostnames`]'s result to `container`.
pub fn apply(container: &mut Container, edited: Edited, env: Vec<EnvVar>) {
    match edited {
        Edited::Command(words) => container.command = Some(words),
        Edited::Args(words) => container.args = Some(words),
    }
    container.env = Some(env);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(command: &[&str], args: &[&str]) -> Container {
        let words = |w: &[&str]| (!w.is_empty()).then(|| w.iter().map(|s| s.to_string()).collect());
        Container {
            name: "redis".into(),
            command: words(command),
            args: words(args),
            ..Container::default()
        }
    }

    #[test]
    fn the_base_command_gets_both_options_after_its_own_and_the_pod_variables() {
        let base = container(
            &[
                "redis-server",
                "/etc/redis/redis.conf",
                "--cluster-announce-ip",
                "$(POD_IP)",
            ],
            &[],
        );
        assert!(!announces(&base));
        let (edited, env) =
            with_hostnames(&base, "redis-cluster-headless", "cluster.local").unwrap();
        assert_eq!(
            edited,
            Edited::Command(
                [
                    "redis-server",
                    "/etc/redis/redis.conf",
                    "--cluster-announce-ip",
                    "$(POD_IP)",
                    "--cluster-announce-hostname",
                    "$(POD_NAME).redis-cluster-headless.$(POD_NAMESPACE).svc.cluster.local",
                    "--cluster-preferred-endpoint-type",
                    "hostname",
                ]
                .map(String::from)
                .to_vec()
            )
        );
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["POD_NAME", "POD_NAMESPACE"]);
        let mut edited_container = base.clone();
        apply(&mut edited_container, edited, env);
        assert!(announces(&edited_container));
        // Editing again replaces, never repeats.
        let (again, env) = with_hostnames(&edited_container, "svc", "example.org").unwrap();
        let Edited::Command(words) = again else {
            panic!("command")
        };
        assert_eq!(words.iter().filter(|w| *w == HOSTNAME_OPTION).count(), 1);
        assert!(words.contains(&"$(POD_NAME).svc.$(POD_NAMESPACE).svc.example.org".to_string()));
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn an_entrypoint_with_args_gets_them_in_its_args_and_a_shell_script_is_refused() {
        let args = container(&[], &["redis-server", "/conf/redis.conf"]);
        let (edited, _) = with_hostnames(&args, "h", "cluster.local").unwrap();
        assert!(matches!(edited, Edited::Args(w) if w.len() == 6 && w[0] == "redis-server"));
        let script = container(
            &["sh", "-c"],
            &["redis-server /conf/redis.conf --port 6379"],
        );
        assert_eq!(
            with_hostnames(&script, "h", "cluster.local"),
            Err(NotDirect(
                "sh -c redis-server /conf/redis.conf --port 6379".into()
            ))
        );
    }

    #[test]
    fn a_pod_announces_its_name_under_the_headless_service() {
        assert_eq!(
            hostname(
                "redis-cluster-0",
                "redis-cluster-headless",
                "cache",
                "cluster.local"
            ),
            "redis-cluster-0.redis-cluster-headless.cache.svc.cluster.local"
        );
    }
}
