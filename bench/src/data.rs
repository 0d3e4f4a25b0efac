//! The independent loader and verifier: the redis crate's cluster client (not the code under
//! test) writes keys whose values are derived from the key, and reads every one back.

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use redis::AsyncCommands;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

/// Bytes in flight at most while loading or verifying (bounds the loader's memory for big values).
const IN_FLIGHT_BYTES: usize = 64 << 20;

/// A set of keys `<tag>:<i>`, `i` in `0..count`, the tag cycling through `tags`.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// Key prefixes; a `{...}` hash tag pins keys to one slot, a plain word spreads them.
    pub tags: Vec<String>,
    /// Number of keys.
    pub count: u64,
    /// Bytes per value.
    pub value_size: usize,
}

impl KeySet {
    /// `count` keys spread uniformly over all slots.
    pub fn uniform(count: u64, value_size: usize) -> Self {
        Self {
            tags: vec!["k".to_string()],
            count,
            value_size,
        }
    }

    /// Key number `i`.
    pub fn key(&self, i: u64) -> String {
        format!("{}:{i}", self.tags[i as usize % self.tags.len()])
    }

    /// The value of `key`: the key and a `|`, repeated to `value_size` bytes, so any loss or
    /// mix-up between keys shows.
    pub fn value(&self, key: &str) -> Vec<u8> {
        format!("{key}|")
            .into_bytes()
            .into_iter()
            .cycle()
            .take(self.value_size)
            .collect()
    }

    /// Requests in flight at once.
    fn in_flight(&self) -> usize {
        (IN_FLIGHT_BYTES / self.value_size.max(1)).clamp(1, 1000)
    }

    /// Writes every key through the cluster client seeded at `seed`.
    pub async fn load(&self, seed: &str) -> Result<()> {
        let conn = cluster_conn(seed).await?;
        futures::stream::iter(0..self.count)
            .map(|i| {
                let mut c = conn.clone();
                async move {
                    let key = self.key(i);
                    c.set::<_, _, ()>(&key, self.value(&key))
                        .await
                        .with_context(|| format!("SET {key}"))
                }
            })
            .buffer_unordered(self.in_flight())
            .try_collect::<()>()
            .await
    }

    /// Reads every key back through a fresh cluster client; `Err` names the first few keys
    /// that are missing or changed.
    pub async fn verify(&self, seed: &str) -> Result<std::result::Result<(), String>> {
        let conn = cluster_conn(seed).await?;
        let bad: Vec<String> = futures::stream::iter(0..self.count)
            .map(|i| {
                let mut c = conn.clone();
                async move {
                    let key = self.key(i);
                    let got: Option<Vec<u8>> =
                        c.get(&key).await.with_context(|| format!("GET {key}"))?;
                    anyhow::Ok((got.as_deref() != Some(self.value(&key).as_slice())).then_some(key))
                }
            })
            .buffer_unordered(self.in_flight())
            .try_filter_map(|bad| async move { Ok(bad) })
            .try_collect()
            .await?;
        Ok(if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {} keys missing or changed, e.g. {:?}",
                bad.len(),
                self.count,
                &bad[..bad.len().min(5)]
            ))
        })
    }
}

/// A cluster connection of the redis crate seeded at `seed`.
async fn cluster_conn(seed: &str) -> Result<ClusterConnection> {
    let conn = ClusterClientBuilder::new(vec![format!("redis://{seed}")])
        .build()
        .context("cluster client")?
        .get_async_connection()
        .await
        .with_context(|| format!("connect the cluster client to {seed}"))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_derive_from_the_key_and_have_the_size() {
        let set = KeySet {
            tags: vec!["{a}".into(), "{b}".into()],
            count: 4,
            value_size: 10,
        };
        assert_eq!(set.key(3), "{b}:3");
        assert_eq!(set.value("{b}:3"), b"{b}:3|{b}:".to_vec());
        let values: std::collections::HashSet<_> =
            (0..set.count).map(|i| set.value(&set.key(i))).collect();
        assert_eq!(
            values.len() as u64,
            set.count,
            "different keys get different values"
        );
    }
}
