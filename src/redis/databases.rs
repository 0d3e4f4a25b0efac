//! The databases a cluster's keys live in. Redis, and Valkey before 9.0, have only database 0
//! in cluster mode; Valkey ≥ 9.0 has `cluster-databases` of them, and GETKEYSINSLOT,
//! COUNTKEYSINSLOT, MIGRATE and DUMP act on the *selected* one only, so every effect that
//! lists, counts or moves the keys of a slot walks every database.
//!
//! Connections are multiplexed: a pipeline that selects another database starts with
//! `SELECT n` and ends with `SELECT 0`, and a pipeline is written in one piece, so no other
//! command on the connection ever runs in a database it did not choose.

use ::redis::{Pipeline, Value};
use futures::future::try_join_all;

use super::error::NodeError;
use super::pool::Pool;
use crate::topology::ClusterView;

/// The number of databases the cluster's masters have: the largest `cluster-databases` of
/// any master that has the setting (Valkey ≥ 9.0), else 1. A master that has the setting
/// but refuses `CONFIG GET` stops the caller: moving keys without knowing every database
/// would strand the others.
pub async fn cluster_databases(pool: &Pool, view: &ClusterView) -> Result<u32, NodeError> {
    let asked = view
        .masters()
        .filter(|r| r.engine().is_some_and(|e| e.has_cluster_databases()))
        .map(|r| r.endpoint.clone());
    let counts = try_join_all(asked.map(|endpoint| async move {
        let reply: Value = pool
            .node(&endpoint)
            .await?
            .call(
                ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("cluster-databases")
                    .to_owned(),
            )
            .await?;
        Ok::<_, NodeError>(config_number(&reply).unwrap_or(1))
    }))
    .await?;
    Ok(counts.into_iter().max().unwrap_or(1).max(1))
}

/// The value of a one-parameter `CONFIG GET` reply (an array, or a map in RESP3).
fn config_number(reply: &Value) -> Option<u32> {
    let text = match reply {
        Value::Array(items) => items.get(1)?,
        Value::Map(pairs) => &pairs.first()?.1,
        _ => return None,
    };
    match text {
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// Adds `SELECT db` to `pipe` when the cluster has several databases; returns how many
/// replies it adds (0 or 1).
pub fn select(pipe: &mut Pipeline, databases: u32, db: u32) -> usize {
    if databases > 1 {
        pipe.cmd("SELECT").arg(db);
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_get_replies_give_the_number_and_an_unknown_setting_gives_none() {
        let reply = Value::Array(vec![
            Value::BulkString(b"cluster-databases".to_vec()),
            Value::BulkString(b"16".to_vec()),
        ]);
        assert_eq!(config_number(&reply), Some(16));
        // Redis 7 and Valkey 8 answer an empty array for a setting they do not have.
        assert_eq!(config_number(&Value::Array(vec![])), None);
    }

    #[test]
    fn one_database_adds_no_select() {
        let mut pipe = ::redis::pipe();
        assert_eq!(select(&mut pipe, 1, 0), 0);
        assert_eq!(select(&mut pipe, 4, 2), 1);
        assert_eq!(pipe.cmd_iter().count(), 1);
    }
}
