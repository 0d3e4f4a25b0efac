//! Options every slot-moving command takes.

use std::time::Duration;

use clap::Args;

use crate::plan::method::Migration;
use crate::redis::mover::MoveOptions;

/// How slots are moved.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Keys per MIGRATE batch (redis-cli's --cluster-pipeline).
    #[arg(long, default_value_t = 1000, value_name = "KEYS", alias = "pipeline", value_parser = super::parse::positive)]
    pub batch: usize,

    /// Seconds one MIGRATE may take before the batch is retried smaller.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub migrate_timeout: u64,

    /// Let the source's copy overwrite a different copy of a key already on the target.
    #[arg(long)]
    pub replace: bool,

    /// How slots move: `atomic` is Valkey 9's CLUSTER MIGRATESLOTS (the server streams the
    /// slots and hands them over), `keys` is MIGRATE key by key, `auto` is atomic where the
    /// source, the target and its replicas all run Valkey >= 9.0.
    #[arg(long, value_enum, default_value_t, value_name = "HOW")]
    pub migration: Migration,
}

impl MoveArgs {
    /// The mover's options.
    pub fn options(&self) -> MoveOptions {
        MoveOptions {
            batch: self.batch.max(1),
            migrate_timeout: Duration::from_secs(self.migrate_timeout.max(1)),
            replace: self.replace,
            migration: self.migration,
            ..MoveOptions::default()
        }
    }
}
