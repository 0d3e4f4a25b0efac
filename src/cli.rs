//! Command-line definitions (clap derive). Raw input only: [`crate::settings`] turns it into
//! validated settings once, and each subcommand's options live with its `exec` in [`crate::cmd`].

use clap::{Parser, Subcommand};

use crate::cmd::add_node::AddNodeOpts;
use crate::cmd::announce::AnnounceHostnamesOpts;
use crate::cmd::apply::ApplyOpts;
use crate::cmd::cli::CliOpts;
use crate::cmd::completion::CompletionOpts;
use crate::cmd::del_node::DelNodeOpts;
use crate::cmd::deploy::DeployOpts;
use crate::cmd::destroy::DestroyOpts;
use crate::cmd::drain_prep::DrainPrepOpts;
use crate::cmd::failover::FailoverOpts;
use crate::cmd::fix::FixOpts;
use crate::cmd::init::InitOpts;
use crate::cmd::proxy::ProxyOpts;
use crate::cmd::rebalance::RebalanceOpts;
use crate::cmd::rebalance_primaries::RebalancePrimariesOpts;
use crate::cmd::rebalance_replicas::RebalanceReplicasOpts;
use crate::cmd::reshard::ReshardOpts;
use crate::cmd::rollout::{RollingRestartOpts, UpgradeOpts};
use crate::cmd::scale::ScaleOpts;
use crate::cmd::status::StatusOpts;
use crate::cmd::unlock::UnlockOpts;
pub use crate::settings::GlobalOpts;

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
    /// Run a plan saved with `--dry-run -o json` (reshard, rebalance, scale), refused if the
    /// cluster changed since it was made.
    Apply(ApplyOpts),
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
    /// Re-point replicas so that no shard sits entirely in one failure domain (Kubernetes
    /// node, or zone).
    RebalanceReplicas(RebalanceReplicasOpts),
    /// Fail masters over to replicas in the failure domains with fewest masters (failback
    /// after failovers).
    RebalancePrimaries(RebalancePrimariesOpts),
    /// Before `kubectl drain NODE`: hand every master on that Kubernetes node to an in-sync
    /// replica on another node.
    DrainPrep(DrainPrepOpts),
    /// Restart every pod one at a time, replicas first, failing each master over to an
    /// in-sync replica before its pod goes.
    RollingRestart(RollingRestartOpts),
    /// Move every pod to a new image, one at a time, like rolling-restart.
    Upgrade(UpgradeOpts),
    /// Make every node announce a stable DNS name (<pod>.<headless service>...) instead of
    /// its pod IP, live and then in the pod template, one pod at a time.
    AnnounceHostnames(AnnounceHostnamesOpts),
    /// Every node on a local port, with the addresses nodes give clients rewritten to them,
    /// so any cluster client works from this machine (runs until Ctrl-C).
    Proxy(ProxyOpts),
    /// Remove the lock a run that is gone left on the cluster (each changing command holds
    /// one while it runs).
    Unlock(UnlockOpts),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command's `--help`, as a reader gets it (snapshot: `src/snapshots/`).
    #[test]
    fn every_command_s_help() {
        let mut cli = Cli::command().term_width(100);
        cli.build();
        let mut text = format!("{}\n", cli.render_long_help());
        // The global options are in the first help; each command's shows its own.
        let globals: Vec<clap::Id> = cli
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().clone())
            .collect();
        for sub in cli.get_subcommands() {
            let mut sub = sub.clone().term_width(100);
            for id in &globals {
                if sub.get_arguments().any(|a| a.get_id() == id) {
                    sub = sub.mut_arg(id.clone(), |a| a.hide(true));
                }
            }
            let name = sub.get_name().to_string();
            text.push_str(&format!(
                "\n=== {name} --help ===\n{}\n",
                sub.render_long_help()
            ));
        }
        insta::assert_snapshot!("help", text);
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

    #[test]
    fn bash_zsh_and_fish_scripts_complete_the_subcommands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "kubectl-redis_cluster",
                &mut out,
            );
            let text = String::from_utf8(out).unwrap();
            for word in ["deploy", "destroy", "delete-pvcs", "statefulset"] {
                assert!(text.contains(word), "{shell}: {word} missing");
            }
        }
    }
}
