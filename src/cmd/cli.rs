//! `cli NODE -- ARGS...`: one Redis command on one node, through the same connector as every
//! other command (a port-forward from a workstation), with the reply printed like `redis-cli`.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use crate::k8s::target::expand_pod_name;
use crate::output::reply::{always_raw, format_raw, format_tty, to_json};
use crate::redis::observe::observe_cluster;
use crate::topology::Endpoint;
use crate::topology::lookup::{endpoint_of, find_node};

/// Options of `cli`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster cli redis-cluster-0 -- cluster info\n  kubectl redis-cluster cli redis-cluster-3 -- get user:42\n  kubectl-redis_cluster --seed 127.0.0.1:7000 cli 127.0.0.1:7001 -- dbsize\n\nReplaces: kubectl exec -it redis-cluster-0 -- redis-cli cluster info"
)]
pub struct CliOpts {
    /// The node: a pod name, a node id (or a unique prefix of 6+ characters), or IP:PORT.
    pub node: String,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

impl CliOpts {
    /// Runs `cli`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let endpoint = self.endpoint(ctx).await?;
        let mut pipe = ::redis::pipe();
        let cmd = pipe.cmd(&self.args[0]);
        for arg in &self.args[1..] {
            cmd.arg(arg);
        }
        // A pipeline keeps an error reply as a value, so it prints like any other reply.
        let mut replies = ctx.pool.node(&endpoint).await?.pipeline(&pipe).await?;
        let reply = replies.pop().unwrap_or(::redis::Value::Nil);
        let refused = matches!(reply, ::redis::Value::ServerError(_));
        if ctx.settings.output == crate::output::OutputFormat::Json {
            ctx.print_json(
                "cli",
                &CliReply {
                    node: endpoint.to_string(),
                    reply: to_json(&reply),
                },
            )?;
        } else {
            let text = if ctx.settings.stdout_tty && !always_raw(&self.args) {
                format_tty(&reply)
            } else {
                format_raw(&reply)
            };
            let mut out = ctx.stdout();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        if refused {
            bail!("{} answered with an error", self.node);
        }
        Ok(Outcome::Success)
    }

    /// The node's endpoint: a pod's or a typed address at once, a node id after observing
    /// the cluster.
    async fn endpoint(&self, ctx: &Ctx) -> anyhow::Result<Endpoint> {
        let typed = expand_pod_name(ctx.members.as_ref(), &self.node)?;
        if let Ok(endpoint) = typed.parse::<Endpoint>() {
            return Ok(endpoint);
        }
        let view = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster to find the node")?;
        let line = find_node(&view, &typed)?;
        endpoint_of(&view, &line.id)
            .with_context(|| format!("node {} has no known address", line.id.short()))
    }
}

/// `cli -o json`: the node that answered and its reply ([`to_json`]).
#[derive(Debug, serde::Serialize)]
struct CliReply {
    node: String,
    reply: serde_json::Value,
}
