//! `completion SHELL`: the shell completion script, generated from the clap definitions.

use clap::Args;
use clap_complete::Shell;

use super::context::Outcome;

/// Options of `completion`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl-redis_cluster completion bash > /etc/bash_completion.d/kubectl-redis_cluster\n  kubectl-redis_cluster completion zsh > \"${fpath[1]}/_kubectl-redis_cluster\"\n  kubectl-redis_cluster completion fish > ~/.config/fish/completions/kubectl-redis_cluster.fish"
)]
pub struct CompletionOpts {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

impl CompletionOpts {
    /// Prints the script for `command` (the whole command-line definition) on stdout.
    pub fn exec(self, command: &mut clap::Command) -> anyhow::Result<Outcome> {
        let mut out = std::io::stdout().lock();
        clap_complete::generate(self.shell, command, "kubectl-redis_cluster", &mut out);
        Ok(Outcome::Success)
    }
}
