//! Options every slot-moving command takes.

use std::time::Duration;

use clap::Args;

use crate::redis::mover::MoveOptions;

/// How slots are moved.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Keys per MIGRATE batch (redis-cli's --cluster-pipeline).
    #[arg(long, default_value_t = 1000, value_name = "KEYS", alias = "pipeline")]
    pub batch: usize,

    /// Seconds one MIGRATE may take before the batch is retried smaller.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub migrate_timeout: u64,

    /// Let the source's copy overwrite a different copy of a key already on the target.
    #[arg(long)]
    pub replace: bool,
}

impl MoveArgs {
    /// The mover's options.
    pub fn options(&self) -> MoveOptions {
        MoveOptions {
            batch: self.batch.max(1),
            migrate_timeout: Duration::from_secs(self.migrate_timeout.max(1)),
            replace: self.replace,
            ..MoveOptions::default()
        }
    }
}
