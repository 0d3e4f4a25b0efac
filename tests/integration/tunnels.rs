//! Membership waits over tunnels that go silent, on real redis-server: what a port-forward does
//! when its pod is deleted under an open connection. The stream stays open, nothing comes
//! back, and only a new forward reaches the pod again. The tunnel here goes silent the moment
//! a `CLUSTER MEET` passes through it (the pod deleted right after the wait looked at it), so
//! the situation is forced every run instead of one run in two.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use kubectl_redis_cluster::redis::connector::{ConnectError, Opened};
use kubectl_redis_cluster::redis::converge::{AnyAddress, wait_for_membership};
use kubectl_redis_cluster::redis::{Connector, DirectConnector, Pool};
use kubectl_redis_cluster::topology::Endpoint;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::harness::*;

/// Dials directly; the first stream through which a MEET is written goes silent for good.
struct SilencedOnMeet {
    direct: DirectConnector,
    /// Set once a stream has gone silent: later streams stay healthy.
    spent: Arc<AtomicBool>,
    /// Streams silenced (the test checks the situation really happened).
    silenced: Arc<AtomicUsize>,
}

impl Connector for SilencedOnMeet {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let opened = self.direct.connect(endpoint).await?;
            Ok(Opened {
                stream: Box::new(Tunnel {
                    inner: opened.stream,
                    silent: false,
                    spent: self.spent.clone(),
                    silenced: self.silenced.clone(),
                }),
                route: "a test tunnel".into(),
            })
        })
    }
}

/// A stream that, once silent, swallows writes and never delivers a byte or an end.
struct Tunnel {
    inner: kubectl_redis_cluster::redis::connector::BoxedStream,
    silent: bool,
    spent: Arc<AtomicBool>,
    silenced: Arc<AtomicUsize>,
}

impl AsyncRead for Tunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.silent {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let meet = buf.windows(4).any(|w| w.eq_ignore_ascii_case(b"MEET"));
        if !self.silent && meet && !self.spent.swap(true, Ordering::SeqCst) {
            self.silent = true;
            self.silenced.fetch_add(1, Ordering::SeqCst);
        }
        if self.silent {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.silent {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn endpoint(node: &RedisNode) -> Endpoint {
    Endpoint::new(node.host.clone(), node.port)
}

#[test]
fn a_meet_into_a_tunnel_gone_silent_costs_one_bounded_look_and_the_next_look_finishes_the_join() {
    // Four masters; node 1 forgets node 3 (and will not relearn it by gossip for 60 s), so
    // the wait must introduce them, through node 1's tunnel, which goes silent at that MEET.
    let nodes = Nodes::start(4);
    nodes.init(0);
    let (one, three) = (&nodes.nodes[1], &nodes.nodes[3]);
    assert_eq!(one.cli(&["cluster", "forget", &three.id()]), "OK");
    assert!(!one.cli(&["cluster", "nodes"]).contains(&three.id()));

    let silenced = Arc::new(AtomicUsize::new(0));
    let connector = SilencedOnMeet {
        direct: DirectConnector {
            timeout: Duration::from_secs(2),
        },
        spent: Arc::new(AtomicBool::new(false)),
        silenced: silenced.clone(),
    };
    // The reply timeout is --timeout's: longer than the whole wait here.
    let pool = Pool::new(
        Arc::new(connector),
        None,
        Duration::from_secs(2),
        Duration::from_secs(90),
    );
    let seeds: Vec<Endpoint> = nodes.nodes.iter().map(endpoint).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let joined = runtime.block_on(wait_for_membership(
        &pool,
        &seeds,
        &AnyAddress,
        "every node knows every node",
        Duration::from_secs(40),
    ));
    assert_eq!(silenced.load(Ordering::SeqCst), 1, "no tunnel went silent");
    let view = joined.expect("the wait finishes once node 1 is dialled afresh");
    assert_eq!(view.reports.len(), 4);
    assert!(one.cli(&["cluster", "nodes"]).contains(&three.id()));
    drop(pool);
}
