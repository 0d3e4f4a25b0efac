//! What every command runs with: settings, the connection pool, progress output, stdout and
//! the confirmation prompt.

use std::io::Write;
use std::sync::Arc;

use anyhow::bail;

use crate::output::Reporter;
use crate::output::prompt::{NotConfirmed, confirm};
use crate::redis::{DirectConnector, Pool};
use crate::settings::{Access, Settings};
use crate::topology::Endpoint;

/// How a command ended, when it did not fail outright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and the cluster is healthy.
    Success,
    /// Done, but the cluster is unhealthy.
    Unhealthy,
}

/// A command's environment.
pub struct Ctx {
    /// Validated settings.
    pub settings: Settings,
    /// Connections to nodes.
    pub pool: Pool,
    /// Progress on stderr.
    pub reporter: Reporter,
    /// Nodes to start observing from.
    pub seeds: Vec<Endpoint>,
}

impl Ctx {
    /// Builds the context for the settings' access mode.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let seeds = match &settings.access {
            Access::Seed(seed) => vec![seed.clone()],
            Access::Kubernetes(_) => bail!(
                "no --seed given and Kubernetes discovery is not available in this build; pass --seed HOST:PORT (or --nodes for init)"
            ),
        };
        Ok(Self::direct(settings, seeds))
    }

    /// A context over plain TCP, whatever the access mode (for `init --nodes`).
    pub fn direct(settings: Settings, seeds: Vec<Endpoint>) -> Self {
        let connector = Arc::new(DirectConnector {
            timeout: settings.connect_timeout,
        });
        // MIGRATE and big CLUSTER NODES replies need more than redis-rs' 500 ms default.
        let response_timeout = settings.timeout.max(std::time::Duration::from_secs(30));
        let pool = Pool::new(connector, settings.credentials.clone(), response_timeout);
        let reporter = Reporter::new(settings.err_styles, Box::new(std::io::stderr()));
        Self {
            settings,
            pool,
            reporter,
            seeds,
        }
    }

    /// Standard output, where results go.
    pub fn stdout(&self) -> impl Write {
        std::io::stdout().lock()
    }

    /// Asks before a change unless `--yes`. Non-destructive changes proceed without a
    /// terminal; destructive ones are refused there.
    pub fn confirm(&self, question: &str, action: &str, destructive: bool) -> Result<(), NotConfirmed> {
        if !destructive && !self.settings.interactive {
            return Ok(());
        }
        confirm(
            question,
            action,
            self.settings.yes,
            self.settings.interactive,
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )
    }
}
