//! `completion SHELL`: the shell completion script, generated from the clap definitions.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::context::Outcome;
use crate::cli::Cli;

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
    /// Prints the script on stdout.
    pub fn exec(self) -> anyhow::Result<Outcome> {
        let mut out = std::io::stdout().lock();
        clap_complete::generate(
            self.shell,
            &mut Cli::command(),
            "kubectl-redis_cluster",
            &mut out,
        );
        Ok(Outcome::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_zsh_and_fish_scripts_complete_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
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
