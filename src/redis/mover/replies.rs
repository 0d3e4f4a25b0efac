//! Reading the replies the mover gets: errors it tolerates, keys of a slot, config epochs.

use ::redis::Value;

use super::MoveError;
use crate::redis::error::NodeError;
use crate::topology::Endpoint;

/// The text of an error reply (code and message), `None` for any other reply.
pub(in crate::redis) fn error_text(reply: &Value) -> Option<String> {
    match reply {
        Value::ServerError(e) => Some(
            format!("{} {}", e.code(), e.details().unwrap_or(""))
                .trim()
                .to_string(),
        ),
        _ => None,
    }
}

/// Accepts any non-error reply, or an error containing one of `tolerated`.
pub(super) fn check_reply(
    reply: &Value,
    slot: u16,
    endpoint: &Endpoint,
    tolerated: &[&str],
) -> Result<(), MoveError> {
    match error_text(reply) {
        Some(text) if !tolerated.iter().any(|t| text.contains(t)) => {
            Err(MoveError::TopologyChanged {
                slot,
                detail: format!("{endpoint} answered `{text}`"),
            })
        }
        _ => Ok(()),
    }
}

/// The keys of a GETKEYSINSLOT reply.
pub(super) fn keys_of(
    reply: &Value,
    slot: u16,
    endpoint: &Endpoint,
) -> Result<Vec<Vec<u8>>, MoveError> {
    match reply {
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|v| match v {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            })
            .collect()),
        other => Err(MoveError::TopologyChanged {
            slot,
            detail: format!("{endpoint} answered GETKEYSINSLOT with {other:?}"),
        }),
    }
}

/// `cluster_my_epoch` of a `CLUSTER INFO` reply.
pub(super) fn my_epoch(reply: &Value, endpoint: &Endpoint) -> Result<u64, MoveError> {
    let text = match reply {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => format!("{other:?}"),
    };
    crate::topology::InfoFields::parse(&text)
        .number("cluster_my_epoch")
        .ok_or_else(|| {
            MoveError::Node(NodeError::Reply {
                endpoint: endpoint.clone(),
                command: "CLUSTER INFO".into(),
                detail: "no cluster_my_epoch".into(),
            })
        })
}
