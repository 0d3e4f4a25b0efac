//! The flags every command takes (clap derive), raw: [`super::Settings`] validates them once.

use std::path::PathBuf;

use clap::Args;

use crate::output::{ColorChoice, OutputFormat};

/// Options shared by every command; they may appear before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Work on the cluster that HOST:PORT belongs to, without Kubernetes.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub seed: Option<String>,

    /// Kubernetes namespace (default: the context's namespace).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,

    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,

    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Name of the cluster's StatefulSet [default: redis-cluster, else the only StatefulSet of the
    /// namespace that runs redis or valkey].
    #[arg(long, global = true, value_name = "NAME")]
    pub statefulset: Option<String>,

    /// Client port in the pods [default: the port the redis container declares, else 6379].
    #[arg(long, global = true, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Dial pod IPs directly instead of port-forwarding through the API server (default when
    /// running inside the cluster).
    #[arg(long, global = true)]
    pub direct: bool,

    /// Output format of the result on stdout.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t)]
    pub output: OutputFormat,

    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// When another run holds the cluster's lock, wait (up to --timeout) for it instead of
    /// stopping at once.
    #[arg(long, global = true)]
    pub wait_lock: bool,

    /// Print the plan and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Seconds to wait for the cluster to converge after each phase.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Seconds to wait for a connection to a node and its first answer.
    #[arg(long, global = true, default_value_t = 5, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout: u64,

    /// ACL user to authenticate as; the password comes from REDISCLI_AUTH, as for redis-cli.
    ///
    /// Passwords are never taken from the command line, where `ps` and shell history show them.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// Kubernetes Secret holding the password: NAME[/KEY] (key defaults to `password`).
    ///
    /// Without it (and without REDISCLI_AUTH), the Secret the StatefulSet's redis container
    /// reads REDIS_PASSWORD or REDISCLI_AUTH from is used.
    #[arg(long, global = true, value_name = "NAME[/KEY]")]
    pub password_secret: Option<String>,

    /// Talk TLS to the nodes (their tls-port); needs --cacert or --tls-secret, or --insecure.
    ///
    /// Without any TLS flag, a StatefulSet whose redis container has its client port as
    /// --tls-port is reached over TLS with the Secret its certificate files are mounted from,
    /// checked against its first pod's DNS name; these flags override all of that.
    #[arg(long, global = true)]
    pub tls: bool,

    /// CA certificate(s) in PEM that signed the nodes' certificates (with --tls).
    ///
    /// Node certificates must name the node's IP in a subjectAltName (nodes are addressed by
    /// IP), or the name given with --tls-server-name.
    #[arg(long, global = true, value_name = "FILE", requires = "tls")]
    pub cacert: Option<PathBuf>,

    /// Kubernetes Secret with the TLS material (with --tls): the CA in `ca.crt`, and the
    /// client certificate in `tls.crt` and `tls.key` when present, as cert-manager writes them.
    #[arg(long, global = true, value_name = "NAME", requires = "tls",
          conflicts_with_all = ["cacert", "cert", "key"])]
    pub tls_secret: Option<String>,

    /// Check every node's certificate against this name (and send it as SNI) instead of the
    /// node's IP: for certificates that name the pods' DNS names, e.g. a wildcard
    /// `*.redis-cluster.NAMESPACE.svc.cluster.local` checked as
    /// `redis-cluster-0.redis-cluster.NAMESPACE.svc.cluster.local`.
    #[arg(long, global = true, value_name = "NAME", requires = "tls")]
    pub tls_server_name: Option<String>,

    /// Client certificate in PEM, for nodes with tls-auth-clients (with --tls and --key).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,

    /// Private key in PEM of the client certificate (with --tls and --cert).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,

    /// Do not verify the nodes' certificates (with --tls): still encrypted, but anyone on the
    /// path can pose as a node.
    #[arg(long, global = true, requires = "tls", conflicts_with = "cacert")]
    pub insecure: bool,
}
