//! Command-line definitions (clap derive). Raw input only: [`crate::settings`] turns it into
//! validated settings once, and each subcommand's options live with its `exec` in [`crate::cmd`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd::add_node::AddNodeOpts;
use crate::cmd::cli::CliOpts;
use crate::cmd::completion::CompletionOpts;
use crate::cmd::del_node::DelNodeOpts;
use crate::cmd::deploy::DeployOpts;
use crate::cmd::destroy::DestroyOpts;
use crate::cmd::failover::FailoverOpts;
use crate::cmd::fix::FixOpts;
use crate::cmd::init::InitOpts;
use crate::cmd::rebalance::RebalanceOpts;
use crate::cmd::reshard::ReshardOpts;
use crate::cmd::scale::ScaleOpts;
use crate::cmd::status::StatusOpts;
use crate::output::{ColorChoice, OutputFormat};

/// Run a Redis or Valkey Cluster on Kubernetes (or on plain hosts with --seed): create,
/// inspect, scale, reshard and heal it, each in one safe command.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-redis_cluster",
    bin_name = "kubectl redis-cluster",
    version,
    propagate_version = true,
    after_help = "Without Kubernetes, name any node with --seed HOST:PORT, e.g.\n  kubectl-redis_cluster --seed 127.0.0.1:7000 status"
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

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
    #[arg(long, global = true, value_name = "PORT")]
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

    /// Print the plan and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Seconds to wait for the cluster to converge after each phase.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,

    /// Seconds to wait for a connection to a node and its first answer.
    #[arg(long, global = true, default_value_t = 5, value_name = "SECONDS")]
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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a cluster from empty nodes: slots, meet, replicas, then wait until healthy.
    Init(InitOpts),
    /// Show every node, its role, slots, keys and memory, and list what is wrong.
    #[command(alias = "check")]
    Status(StatusOpts),
    /// Run one command on a node (pod name, node id or IP:PORT) and print the reply.
    Cli(CliOpts),
    /// Create the StatefulSet, Services, ConfigMap and PodDisruptionBudget (server-side apply).
    Deploy(DeployOpts),
    /// Delete what deploy created; the volumes only with --delete-pvcs.
    Destroy(DestroyOpts),
    /// Print a shell completion script.
    Completion(CompletionOpts),
    /// Give every master its weighted share of the slots, moving keys with them.
    Rebalance(RebalanceOpts),
    /// Move N slots, with their keys, from some masters to one.
    Reshard(ReshardOpts),
    /// Add an empty node as a master or a replica.
    AddNode(AddNodeOpts),
    /// Remove a node for good (draining its slots first with --drain).
    DelNode(DelNodeOpts),
    /// Promote a replica to master.
    Failover(FailoverOpts),
    /// Heal open slots, uncovered slots, and nodes that came back at new addresses.
    Fix(FixOpts),
    /// Scale the StatefulSet to N masters with R replicas each, moving slots safely.
    Scale(ScaleOpts),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-redis_cluster").chain(args.iter().copied()))
    }

    #[test]
    fn scripts_forms_parse() {
        let cli = parse(&[
            "init",
            "--nodes",
            "127.0.0.1:7000,127.0.0.1:7001",
            "--replicas-per-master",
            "0",
            "--yes",
        ])
        .unwrap();
        let Command::Init(opts) = cli.command else {
            panic!("init expected")
        };
        assert_eq!(opts.nodes.len(), 2);
        assert!(cli.global.yes);
        for args in [
            &["--seed", "127.0.0.1:7000", "status", "-o", "json"][..],
            &["status", "--seed", "127.0.0.1:7000", "-o", "json"][..],
            &["check", "--seed", "127.0.0.1:7000"][..],
        ] {
            let cli = parse(args).unwrap();
            assert!(matches!(cli.command, Command::Status(_)), "{args:?}");
            assert_eq!(cli.global.seed.as_deref(), Some("127.0.0.1:7000"));
        }
    }

    #[test]
    fn mistakes_are_rejected_by_kind() {
        use clap::error::ErrorKind;
        for (args, kind) in [
            (&["status", "-o", "yaml"][..], ErrorKind::InvalidValue),
            (&["frobnicate"][..], ErrorKind::InvalidSubcommand),
            (
                &["init", "--replicas-per-master", "x"][..],
                ErrorKind::ValueValidation,
            ),
            (&[][..], ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand),
        ] {
            assert_eq!(
                parse(args).map(|_| ()).unwrap_err().kind(),
                kind,
                "{args:?}"
            );
        }
    }

    #[test]
    fn tls_files_need_tls_a_cert_needs_its_key_and_no_flag_takes_a_password() {
        use clap::error::ErrorKind;
        let cli = parse(&[
            "--tls", "--cacert", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--user", "admin",
            "status",
        ])
        .unwrap();
        assert!(cli.global.tls && !cli.global.insecure);
        assert_eq!(cli.global.user.as_deref(), Some("admin"));
        assert!(
            parse(&["status", "--tls", "--insecure"])
                .unwrap()
                .global
                .insecure
        );
        for (args, kind) in [
            (
                &["--cacert", "ca.pem", "status"][..],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["--tls", "--cert", "c.pem", "status"][..],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["--insecure", "status"][..],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["--tls", "--insecure", "--cacert", "ca.pem", "status"][..],
                ErrorKind::ArgumentConflict,
            ),
            (
                &["--tls-secret", "redis-tls", "status"][..],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &[
                    "--tls",
                    "--tls-secret",
                    "redis-tls",
                    "--cacert",
                    "ca.pem",
                    "status",
                ][..],
                ErrorKind::ArgumentConflict,
            ),
            (
                &["--tls-server-name", "redis.svc", "status"][..],
                ErrorKind::MissingRequiredArgument,
            ),
            (
                &["--password", "hunter2", "status"][..],
                ErrorKind::UnknownArgument,
            ),
            (&["-a", "hunter2", "status"][..], ErrorKind::UnknownArgument),
        ] {
            assert_eq!(
                parse(args).map(|_| ()).unwrap_err().kind(),
                kind,
                "{args:?}"
            );
        }
    }
}
