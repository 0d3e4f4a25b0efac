//! Typed errors of the Redis effects layer. Callers branch on them (auth versus unreachable
//! versus a refused command); the binary adds context and prints the chain.

use crate::topology::Endpoint;

use super::connector::ConnectError;

/// A failure talking to one node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No stream could be opened.
    #[error("cannot connect to {endpoint}")]
    Connect {
        /// The node.
        endpoint: Endpoint,
        /// Why.
        #[source]
        source: ConnectError,
    },
    /// The node refused our credentials, or wants some and we have none.
    #[error("authentication to {endpoint} failed ({origin}): {reason}")]
    Auth {
        /// The node.
        endpoint: Endpoint,
        /// Where the password came from, or that there was none.
        origin: String,
        /// The server's answer in a few words (never the password).
        reason: String,
    },
    /// A command failed.
    #[error("{endpoint} refused `{command}`")]
    Command {
        /// The node.
        endpoint: Endpoint,
        /// The command, without its arguments' values beyond the subcommand.
        command: String,
        /// The server's or transport's error.
        #[source]
        source: ::redis::RedisError,
    },
    /// A reply had an unexpected shape.
    #[error("{endpoint} sent an unexpected reply to `{command}`: {detail}")]
    Reply {
        /// The node.
        endpoint: Endpoint,
        /// The command.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// The server does not run with `cluster-enabled yes`.
    #[error("{endpoint} is not in cluster mode: start the server with `cluster-enabled yes`")]
    NotClusterEnabled {
        /// The node.
        endpoint: Endpoint,
    },
    /// The server is older than the oldest release the plugin supports.
    #[error(
        "{endpoint} runs {engine}, older than the oldest release this plugin supports ({oldest}): upgrade its image (for example to redis:7.2 or valkey/valkey:8), then run the command again"
    )]
    Unsupported {
        /// The node.
        endpoint: Endpoint,
        /// What it runs.
        engine: crate::topology::Engine,
        /// The oldest supported release of that engine.
        oldest: crate::topology::Engine,
    },
    /// The node that answered at this address says it is at another one: the connection
    /// reached a node that has moved (a pod recreated at another IP, reached through a
    /// port-forward opened for its old address), so its answer is not about this address.
    #[error("{endpoint} was answered by node {id} ({route}), which says it is at {says}")]
    Elsewhere {
        /// The address dialled.
        endpoint: Endpoint,
        /// How the connection got there.
        route: String,
        /// The node that answered.
        id: String,
        /// Where it says it is.
        says: String,
    },
    /// A look at the node (INFO, CLUSTER NODES) got no answer in time.
    #[error("{endpoint} did not answer within {waited:?}")]
    Silent {
        /// The node.
        endpoint: Endpoint,
        /// How long we waited.
        waited: std::time::Duration,
    },
}

impl NodeError {
    /// The node the error concerns.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Self::Connect { endpoint, .. }
            | Self::Auth { endpoint, .. }
            | Self::Command { endpoint, .. }
            | Self::Reply { endpoint, .. }
            | Self::NotClusterEnabled { endpoint }
            | Self::Unsupported { endpoint, .. }
            | Self::Elsewhere { endpoint, .. }
            | Self::Silent { endpoint, .. } => endpoint,
        }
    }

    /// The server's error code (`BUSYKEY`, `ASK`, `ERR`, ...) for a refused command.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Self::Command { source, .. } => source.code(),
            _ => None,
        }
    }

    /// The connection itself failed (could not open, timed out, dropped, I/O), as opposed to
    /// a node that answered with an error: what the pool and connector remember about the
    /// node is not worth reusing.
    pub fn is_transport(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Command { source, .. } => {
                source.is_timeout() || source.is_connection_dropped() || source.is_io_error()
            }
            Self::Silent { .. } | Self::Elsewhere { .. } => true,
            _ => false,
        }
    }

    /// The error in one line, causes included, for tables and JSON.
    pub fn one_line(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            // redis-rs errors repeat their I/O cause in their own text; say it once.
            let line = c.to_string();
            if !text.ends_with(&line) {
                text.push_str(": ");
                text.push_str(&line);
            }
            cause = c.source();
        }
        text
    }
}

/// A failure while applying a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The cluster did not converge in time.
    #[error(transparent)]
    Timeout(#[from] super::wait::WaitTimedOut),
}
