//! Validated settings, built once from the raw [`GlobalOpts`] and the process environment
//! (passed in as [`Environment`], so tests never touch real environment variables).

mod flags;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::k8s::ConfigSource;
use crate::output::{OutputFormat, Styles};
use crate::redis::Credentials;
use crate::redis::TlsConfig;
use crate::redis::tls::{ClientIdentity, Pem, ServerTrust, TlsMaterial, TlsSetupError};
use crate::topology::Endpoint;
use crate::topology::endpoint::EndpointParseError;

pub use flags::GlobalOpts;

/// Facts about the process the settings depend on.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// stdout is a terminal.
    pub stdout_tty: bool,
    /// stderr is a terminal.
    pub stderr_tty: bool,
    /// stdin is a terminal (prompts are possible).
    pub stdin_tty: bool,
    /// `NO_COLOR` is set.
    pub no_color: bool,
    /// `REDISCLI_AUTH`, the password redis-cli also reads.
    pub rediscli_auth: Option<String>,
    /// `KUBECONFIG`: kubeconfig files, separated like `PATH`.
    pub kubeconfig: Option<OsString>,
    /// `HOME`, for `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` is set: we run inside a pod.
    pub in_cluster: bool,
}

impl Environment {
    /// Reads the real process environment.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        Self {
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            stdin_tty: std::io::stdin().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            rediscli_auth: std::env::var("REDISCLI_AUTH")
                .ok()
                .filter(|v| !v.is_empty()),
            kubeconfig: std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// How the plugin reaches the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Plain addresses, no Kubernetes: the cluster `seed` belongs to.
    Seed(Endpoint),
    /// Through the Kubernetes API.
    Kubernetes(KubeTarget),
}

/// Where the StatefulSet lives and how to reach its pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeTarget {
    /// Kubeconfig files, `--context` and `-n`.
    pub source: ConfigSource,
    /// `--statefulset`; `None` lets discovery find it ([`crate::k8s::locate`]).
    pub statefulset: Option<String>,
    /// `--port`; `None` lets discovery read it from the pod spec.
    pub port: Option<u16>,
    /// `--direct`.
    pub direct: bool,
}

impl KubeTarget {
    /// The StatefulSet's name: as given, or as discovery found it once the command connected,
    /// else the plugin's own (`deploy`, `destroy`).
    pub fn statefulset_name(&self) -> &str {
        self.statefulset
            .as_deref()
            .unwrap_or(crate::k8s::locate::DEFAULT_STATEFULSET)
    }

    /// The client port: as given or found, else 6379.
    pub fn client_port(&self) -> u16 {
        self.port.unwrap_or(crate::k8s::locate::DEFAULT_PORT)
    }
}

/// Everything a command needs to know about how it was invoked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `-o`.
    pub output: OutputFormat,
    /// Styles for stdout.
    pub out_styles: Styles,
    /// stdout is a terminal (replies are printed for people, not scripts).
    pub stdout_tty: bool,
    /// Styles for stderr.
    pub err_styles: Styles,
    /// `--yes`.
    pub yes: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--wait-lock`.
    pub wait_lock: bool,
    /// A person can answer prompts.
    pub interactive: bool,
    /// Convergence timeout.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// How to reach the cluster.
    pub access: Access,
    /// How to authenticate to the nodes.
    pub credentials: Option<Credentials>,
    /// `--user`: the ACL user, also for a password found later (a Kubernetes Secret).
    pub user: Option<String>,
    /// `--password-secret`: the Secret (and key) holding the password, Kubernetes mode.
    pub password_secret: Option<String>,
    /// `--tls` and its files, loaded: every connection is wrapped in TLS when set.
    pub tls: Option<TlsConfig>,
    /// `--tls --tls-secret`: TLS material to read from a Secret once connected to Kubernetes.
    pub tls_secret: Option<TlsSecret>,
}

/// `--tls-secret` and the TLS options that go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSecret {
    /// The Secret's name.
    pub name: String,
    /// `--insecure`: the Secret's `ca.crt` is not needed.
    pub insecure: bool,
    /// `--tls-server-name`.
    pub server_name: Option<String>,
}

/// Why the command line cannot be turned into settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `--seed` is not HOST:PORT.
    #[error(transparent)]
    Endpoint(#[from] EndpointParseError),
    /// `--tls` without a way to check the nodes' certificates.
    #[error(
        "--tls needs --cacert FILE or --tls-secret NAME (the CA that signed the nodes' certificates), or --insecure to skip checking them"
    )]
    TlsWithoutTrust,
    /// `--tls-secret` where there is no Kubernetes to read it from.
    #[error(
        "--tls-secret reads a Kubernetes Secret; with --seed, give the files with --cacert (and --cert, --key)"
    )]
    TlsSecretWithoutKubernetes,
    /// A TLS file is missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

impl Settings {
    /// Validates the raw options.
    pub fn new(g: &GlobalOpts, env: &Environment) -> Result<Self, SettingsError> {
        let styles_for = |tty: bool| {
            let mut s = Styles::default();
            if g.color.should_colorize(tty, env.no_color) && g.output == OutputFormat::Table {
                s.colorize();
            }
            s
        };
        let mut err_styles = Styles::default();
        if g.color.should_colorize(env.stderr_tty, env.no_color) {
            err_styles.colorize();
        }
        let tls_secret = g.tls_secret.as_ref().map(|name| TlsSecret {
            name: name.clone(),
            insecure: g.insecure,
            server_name: g.tls_server_name.clone(),
        });
        if tls_secret.is_some() && g.seed.is_some() {
            return Err(SettingsError::TlsSecretWithoutKubernetes);
        }
        let access = match &g.seed {
            Some(seed) => Access::Seed(seed.parse()?),
            None => Access::Kubernetes(KubeTarget {
                source: config_source(g, env),
                statefulset: g.statefulset.clone(),
                port: g.port,
                direct: g.direct,
            }),
        };
        Ok(Self {
            output: g.output,
            out_styles: styles_for(env.stdout_tty),
            stdout_tty: env.stdout_tty,
            err_styles,
            yes: g.yes,
            dry_run: g.dry_run,
            wait_lock: g.wait_lock,
            interactive: env.stdin_tty && env.stderr_tty,
            timeout: Duration::from_secs(g.timeout),
            connect_timeout: Duration::from_secs(g.connect_timeout),
            access,
            credentials: env.rediscli_auth.as_ref().map(|password| Credentials {
                username: g.user.clone(),
                password: password.clone(),
                origin: "REDISCLI_AUTH".into(),
            }),
            user: g.user.clone(),
            password_secret: g.password_secret.clone(),
            tls: tls_config(g)?,
            tls_secret,
        })
    }
}

/// Reads the TLS files named by `--cacert`, `--cert` and `--key` (clap has already made sure
/// they come with `--tls`, and `--cert` with `--key`); `None` without `--tls`, or when the
/// material comes from `--tls-secret` later.
fn tls_config(g: &GlobalOpts) -> Result<Option<TlsConfig>, SettingsError> {
    if !g.tls || g.tls_secret.is_some() {
        return Ok(None);
    }
    let trust = match (&g.cacert, g.insecure) {
        (Some(path), _) => ServerTrust::Ca(Pem::read("--cacert", path)?),
        (None, true) => ServerTrust::AnyCertificate,
        (None, false) => return Err(SettingsError::TlsWithoutTrust),
    };
    let origin = match &trust {
        ServerTrust::Ca(ca) => ca.origin.clone(),
        ServerTrust::AnyCertificate => "--insecure".to_string(),
    };
    let identity = match (&g.cert, &g.key) {
        (Some(cert), Some(key)) => Some(ClientIdentity {
            cert: Pem::read("--cert", cert)?,
            key: Pem::read("--key", key)?,
        }),
        _ => None,
    };
    let server_name = g.tls_server_name.clone();
    Ok(Some(
        TlsMaterial {
            trust,
            identity,
            server_name,
            origin,
        }
        .client_config()?,
    ))
}

/// Kubeconfig files as kubectl picks them: `--kubeconfig`, else every file in `KUBECONFIG`,
/// else `~/.kube/config`.
fn config_source(g: &GlobalOpts, env: &Environment) -> ConfigSource {
    let (kubeconfigs, explicit) = match (&g.kubeconfig, &env.kubeconfig) {
        (Some(path), _) => (vec![path.clone()], true),
        (None, Some(list)) => (
            std::env::split_paths(list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            true,
        ),
        (None, None) => (
            env.home
                .iter()
                .map(|home| home.join(".kube").join("config"))
                .collect(),
            false,
        ),
    };
    ConfigSource {
        kubeconfigs,
        explicit,
        in_cluster: env.in_cluster,
        context: g.context.clone(),
        namespace: g.namespace.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The global flags alone, as the command line gives them.
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        global: GlobalOpts,
    }

    fn parse(args: &[&str]) -> GlobalOpts {
        Flags::try_parse_from(["kubectl-redis_cluster"].iter().chain(args))
            .unwrap()
            .global
    }

    fn source(args: &[&str], env: &Environment) -> ConfigSource {
        match Settings::new(&parse(args), env).unwrap().access {
            Access::Kubernetes(t) => t.source,
            Access::Seed(_) => panic!("kubernetes access expected"),
        }
    }

    #[test]
    fn kubeconfig_flag_beats_kubeconfig_env_which_beats_home() {
        let env = Environment {
            kubeconfig: Some(OsString::from("/a/one:/a/two")),
            home: Some(PathBuf::from("/home/me")),
            ..Environment::default()
        };
        let flag = source(
            &["--kubeconfig", "/x/kc", "--context", "c", "-n", "ns"],
            &env,
        );
        assert_eq!(
            (flag.kubeconfigs, flag.explicit),
            (vec![PathBuf::from("/x/kc")], true)
        );
        assert_eq!(
            (flag.context.as_deref(), flag.namespace.as_deref()),
            (Some("c"), Some("ns"))
        );
        let listed = source(&[], &env);
        assert_eq!(
            listed.kubeconfigs,
            vec![PathBuf::from("/a/one"), PathBuf::from("/a/two")]
        );
        let home = source(
            &[],
            &Environment {
                in_cluster: true,
                ..Environment {
                    home: Some(PathBuf::from("/home/me")),
                    ..Environment::default()
                }
            },
        );
        assert_eq!(
            (home.kubeconfigs, home.explicit, home.in_cluster),
            (vec![PathBuf::from("/home/me/.kube/config")], false, true)
        );
    }

    fn settings(args: &[&str], env: &Environment) -> Result<Settings, SettingsError> {
        Settings::new(&parse(args), env)
    }

    #[test]
    fn the_password_comes_from_rediscli_auth_with_the_user_and_is_never_shown() {
        let env = Environment {
            rediscli_auth: Some("hunter2-secret".into()),
            ..Environment::default()
        };
        let s = settings(&["--seed", "127.0.0.1:7000", "--user", "admin"], &env).unwrap();
        let c = s.credentials.as_ref().unwrap();
        assert_eq!(
            (
                c.username.as_deref(),
                c.password.as_str(),
                c.origin.as_str()
            ),
            (Some("admin"), "hunter2-secret", "REDISCLI_AUTH")
        );
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        let none = settings(
            &["--seed", "127.0.0.1:7000", "--user", "admin"],
            &Environment::default(),
        )
        .unwrap();
        assert!(none.credentials.is_none());
        assert_eq!(none.user.as_deref(), Some("admin"));
    }

    #[test]
    fn tls_needs_a_ca_or_insecure_and_names_an_unreadable_file() {
        let env = Environment::default();
        let err = settings(&["--tls"], &env).unwrap_err().to_string();
        assert!(err.starts_with("--tls needs --cacert FILE"), "{err}");
        let err = settings(&["--tls", "--cacert", "/nonexistent/ca.pem"], &env)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "cannot read --cacert /nonexistent/ca.pem");
        assert!(
            settings(&["--tls", "--insecure"], &env)
                .unwrap()
                .tls
                .is_some()
        );
        assert!(settings(&[], &env).unwrap().tls.is_none());
    }

    #[test]
    fn a_tls_secret_is_read_later_and_only_in_kubernetes_mode() {
        let env = Environment::default();
        let s = settings(
            &[
                "--tls",
                "--tls-secret",
                "redis-tls",
                "--tls-server-name",
                "redis.svc",
            ],
            &env,
        )
        .unwrap();
        assert!(s.tls.is_none(), "nothing to load before Kubernetes answers");
        assert_eq!(
            s.tls_secret,
            Some(TlsSecret {
                name: "redis-tls".into(),
                insecure: false,
                server_name: Some("redis.svc".into()),
            })
        );
        let err = settings(
            &[
                "--seed",
                "127.0.0.1:7000",
                "--tls",
                "--tls-secret",
                "redis-tls",
            ],
            &env,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--tls-secret reads a Kubernetes Secret; with --seed"),
            "{err}"
        );
    }
}
