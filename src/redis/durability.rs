//! Durability of moved keys: before a target takes a slot, the keys MIGRATE wrote into it
//! must be on every replica connected to it, so that a target killed right after the move
//! (its replica promoted in its place) has lost none of them. MIGRATE deletes the source's
//! copy as soon as the target's RESTORE succeeded; until the target's replicas have the
//! keys, the target's memory is the only copy.
//!
//! `WAIT` cannot say it: it waits for the writes of the connection that sends it, and the
//! RESTOREs come from the source's own connection to the target (seen: on Valkey 8.1 a
//! `WAIT 1 300` returned at once while the replica was stopped). So the target's replication
//! offset is read after the drain, and the replicas' acknowledged offsets are compared with
//! it, asking them to acknowledge at once with a `WAIT` that cannot be satisfied (one more
//! replica than the target has, a few milliseconds), which makes the server send
//! `REPLCONF GETACK` to every replica.
//!
//! The local AOF is not awaited: `WAITAOF` has the same per-connection offset. With
//! `appendfsync always` a RESTORE is written before MIGRATE returns; with `everysec` a crash
//! of the target's machine (not only of the process) within about a second can lose moved
//! keys, as it can lose any acknowledged write (docs/safety.md).

use std::time::{Duration, Instant};

use super::error::NodeError;
use super::pool::Node;
use crate::topology::{Endpoint, InfoFields};

/// How long each acknowledgement request waits before the offsets are read again.
const ACK_POLL: Duration = Duration::from_millis(5);

/// One replica in the target's `INFO replication`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaAck {
    /// `ip:port` the replica announced.
    pub address: String,
    /// `online`, or a sync state (`wait_bgsave`, `send_bulk`) whose offset means nothing yet.
    pub state: String,
    /// The last offset the replica acknowledged.
    pub offset: u64,
}

/// A master's replication offset and its replicas' acknowledgements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replication {
    /// `master_repl_offset`: every write so far, the RESTOREs included.
    pub offset: u64,
    /// Every replica connected to it.
    pub replicas: Vec<ReplicaAck>,
}

impl Replication {
    /// Parses `INFO replication` (Redis' and Valkey's `slaveN:ip=…,port=…,state=…,offset=…`).
    pub fn parse(text: &str) -> Option<Self> {
        let fields = InfoFields::parse(text);
        let offset = fields.number("master_repl_offset")?;
        let mut replicas: Vec<(usize, ReplicaAck)> = fields
            .0
            .iter()
            .filter_map(|(key, value)| {
                let index = key.strip_prefix("slave")?.parse::<usize>().ok()?;
                let field = |name: &str| {
                    value
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                };
                Some((
                    index,
                    ReplicaAck {
                        address: format!("{}:{}", field("ip")?, field("port")?),
                        state: field("state")?.to_string(),
                        offset: field("offset")?.parse().ok()?,
                    },
                ))
            })
            .collect();
        replicas.sort_by_key(|(i, _)| *i);
        Some(Self {
            offset,
            replicas: replicas.into_iter().map(|(_, r)| r).collect(),
        })
    }

    /// The replicas that have not acknowledged `offset` yet.
    pub fn behind(&self, offset: u64) -> Vec<&ReplicaAck> {
        self.replicas
            .iter()
            .filter(|r| r.state != "online" || r.offset < offset)
            .collect()
    }
}

/// A replica of a target did not acknowledge the moved keys in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "{target}: replica {replica} ({state}, {behind} byte(s) behind) has not acknowledged the moved keys within {waited:?}; they are only on {target} until it does. The move stopped before the target took more slots; once the replica has caught up (see `status`), run the same command again"
)]
pub struct ReplicasBehind {
    /// The target master.
    pub target: Endpoint,
    /// The first replica still behind.
    pub replica: String,
    /// Its replication state.
    pub state: String,
    /// How far behind it was.
    pub behind: u64,
    /// How long the mover waited.
    pub waited: Duration,
}

/// Why waiting for the replicas stopped.
#[derive(Debug, thiserror::Error)]
pub enum DurabilityError {
    /// The target failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A replica stayed behind.
    #[error(transparent)]
    Behind(#[from] ReplicasBehind),
}

/// Waits until every replica connected to `target` has acknowledged everything the target
/// has received so far (the keys just migrated into it), or `timeout` passes.
pub async fn wait_for_replicas(
    target: &mut Node,
    timeout: Duration,
) -> Result<(), DurabilityError> {
    let started = Instant::now();
    let first = replication(target).await?;
    let wanted = first.offset;
    let mut seen = first;
    loop {
        let behind = seen.behind(wanted);
        let Some(first_behind) = behind.first() else {
            return Ok(());
        };
        if started.elapsed() >= timeout {
            return Err(ReplicasBehind {
                target: target.endpoint.clone(),
                replica: first_behind.address.clone(),
                state: first_behind.state.clone(),
                behind: wanted.saturating_sub(first_behind.offset),
                waited: started.elapsed(),
            }
            .into());
        }
        // One more replica than there are: the WAIT cannot succeed, so it always asks every
        // replica for its offset (REPLCONF GETACK) and returns after ACK_POLL.
        let impossible = seen.replicas.len() + 1;
        let _: i64 = target
            .call(
                ::redis::cmd("WAIT")
                    .arg(impossible)
                    .arg(ACK_POLL.as_millis() as u64)
                    .to_owned(),
            )
            .await?;
        seen = replication(target).await?;
    }
}

/// The target's `INFO replication`.
async fn replication(target: &mut Node) -> Result<Replication, NodeError> {
    let text: String = target
        .call(::redis::cmd("INFO").arg("replication").to_owned())
        .await?;
    Replication::parse(&text).ok_or_else(|| NodeError::Reply {
        endpoint: target.endpoint.clone(),
        command: "INFO replication".into(),
        detail: "no master_repl_offset".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALKEY_9: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=10.0.0.7,port=6379,state=online,offset=241,lag=1,type=replica\r\n\
        slave1:ip=10.0.0.8,port=6379,state=wait_bgsave,offset=0,lag=0,type=replica\r\n\
        replicas_waiting_psync:0\r\nmaster_failover_state:no-failover\r\n\
        master_repl_offset:255\r\nsecond_repl_offset:-1\r\n";

    const REDIS_7_NO_REPLICA: &str =
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n";

    #[test]
    fn the_offset_and_every_replica_are_read_from_info_replication() {
        let r = Replication::parse(VALKEY_9).unwrap();
        assert_eq!(r.offset, 255);
        assert_eq!(
            r.replicas,
            vec![
                ReplicaAck {
                    address: "10.0.0.7:6379".into(),
                    state: "online".into(),
                    offset: 241
                },
                ReplicaAck {
                    address: "10.0.0.8:6379".into(),
                    state: "wait_bgsave".into(),
                    offset: 0
                },
            ]
        );
        assert!(
            Replication::parse(REDIS_7_NO_REPLICA)
                .unwrap()
                .replicas
                .is_empty()
        );
        assert_eq!(Replication::parse("role:master\r\n"), None);
    }

    #[test]
    fn a_replica_is_behind_until_it_is_online_and_acknowledged_the_offset() {
        let r = Replication::parse(VALKEY_9).unwrap();
        let behind = |offset| {
            r.behind(offset)
                .iter()
                .map(|a| a.address.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(behind(255), ["10.0.0.7:6379", "10.0.0.8:6379"]);
        // A replica still syncing is behind whatever its offset says.
        assert_eq!(behind(241), ["10.0.0.8:6379"]);
        assert!(
            Replication::parse(REDIS_7_NO_REPLICA)
                .unwrap()
                .behind(1_000)
                .is_empty()
        );
    }
}
