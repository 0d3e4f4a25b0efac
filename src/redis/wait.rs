//! Waiting for the cluster to converge: poll a condition with a short, growing interval
//! until it holds or the deadline passes. No fixed sleeps anywhere else.

use std::future::Future;
use std::time::{Duration, Instant};

/// A probe's answer.
pub enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the reason is kept for the timeout message.
    NotYet(String),
}

/// The deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting until {what}; last seen: {last}")]
pub struct WaitTimedOut {
    /// What we waited for.
    pub what: String,
    /// How long.
    pub waited: Duration,
    /// Why the last probe said "not yet".
    pub last: String,
}

/// Polls `probe` until it is ready or `timeout` passes. Probe errors end the wait at once.
pub async fn wait_until<T, E, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
    E: From<WaitTimedOut>,
{
    let start = Instant::now();
    let mut interval = Duration::from_millis(10);
    loop {
        let last = match probe().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::NotYet(reason) => reason,
        };
        if start.elapsed() >= timeout {
            return Err(WaitTimedOut {
                what: what.to_string(),
                waited: start.elapsed(),
                last,
            }
            .into());
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(200));
    }
}
