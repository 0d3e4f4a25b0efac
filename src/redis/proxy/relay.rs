//! One client connection through the proxy: requests go to the node as they are (the proxy
//! only notes what each one will be answered with), replies come back as they are except the
//! ones that name nodes, which [`super::rewrite`] points at the local listeners. Replies
//! stream through without being held, unless they are to be rewritten.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::book::{Proxy, Traffic};
use super::frame::{Frame, FrameScan, request_words};
use super::rewrite::{Expect, Requests, rewrite};
use crate::redis::connector::BoxedStream;

/// How much is read at once.
const READ: usize = 64 * 1024;

/// Relays between `client` and `server` until either side is done.
pub async fn relay<C>(
    client: C,
    server: BoxedStream,
    proxy: Arc<Proxy>,
    traffic: Arc<Traffic>,
) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, mut server_write) = tokio::io::split(server);
    let (expects, expected) = mpsc::unbounded_channel();
    let untracked = Arc::new(AtomicBool::new(false));
    let up = {
        let (untracked, traffic) = (untracked.clone(), traffic.clone());
        async move {
            let sent = requests(
                client_read,
                &mut server_write,
                expects,
                &untracked,
                &traffic,
            )
            .await;
            // The client is done sending: so is the node's side, once it has answered.
            let _ = server_write.shutdown().await;
            sent
        }
    };
    let down = replies(
        server_read,
        client_write,
        expected,
        &untracked,
        &proxy,
        &traffic,
    );
    tokio::pin!(up, down);
    let mut up_done = false;
    loop {
        tokio::select! {
            sent = &mut up, if !up_done => {
                up_done = true;
                sent?;
            }
            answered = &mut down => return answered,
        }
    }
}

/// Client → node: whole requests, each noted in `expects` before it is sent on.
async fn requests(
    mut client: impl AsyncRead + Unpin,
    server: &mut (impl AsyncWrite + Unpin),
    expects: mpsc::UnboundedSender<Expect>,
    untracked: &AtomicBool,
    traffic: &Traffic,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(READ);
    let mut scan = FrameScan::default();
    let mut tracker = Requests::default();
    loop {
        buf.reserve(READ);
        if client.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let mut start = 0;
        while start < buf.len() {
            let end = if buf[start] == b'*' {
                scan.scan(&buf[start..]).map_err(invalid)?
            } else {
                // An inline command: one line.
                buf[start..].iter().position(|&b| b == b'\n').map(|i| i + 1)
            };
            let Some(len) = end else { break };
            let (name, sub) = request_words(&buf[start..start + len]);
            if !name.is_empty() {
                traffic.command();
                match tracker.request(&name, sub.as_deref()) {
                    Some(expect) => {
                        let _ = expects.send(expect);
                    }
                    None => untracked.store(true, Ordering::Relaxed),
                }
            }
            scan = FrameScan::default();
            start += len;
        }
        if start > 0 {
            server.write_all(&buf[..start]).await?;
            traffic.sent(start);
            buf.drain(..start);
        }
    }
}

/// How the reply being read is handled.
enum Current {
    /// Sent on as its bytes arrive.
    Stream,
    /// Held until complete, then rewritten for what it answers.
    Whole(Expect),
}

/// Node → client: replies streamed, or held and rewritten when they name nodes.
async fn replies(
    mut server: impl AsyncRead + Unpin,
    mut client: impl AsyncWrite + Unpin,
    mut expected: mpsc::UnboundedReceiver<Expect>,
    untracked: &AtomicBool,
    proxy: &Proxy,
    traffic: &Traffic,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(READ);
    let mut out = Vec::with_capacity(READ);
    let mut scan = FrameScan::default();
    let mut current = None;
    loop {
        let mut start = 0;
        while start < buf.len() {
            let handling = current.get_or_insert_with(|| {
                let first = buf[start];
                // RESP3 pushes answer no request.
                let expect = if first == b'>' || untracked.load(Ordering::Relaxed) {
                    Expect::Pass
                } else {
                    expected.try_recv().unwrap_or(Expect::Pass)
                };
                if first == b'-' || expect != Expect::Pass {
                    Current::Whole(expect)
                } else {
                    Current::Stream
                }
            });
            let Some(len) = scan.scan(&buf[start..]).map_err(invalid)? else {
                if let Current::Stream = handling {
                    // Send on what arrived of a reply nobody needs whole.
                    let part = scan.scanned();
                    out.extend_from_slice(&buf[start..start + part]);
                    scan.consumed(part);
                    start += part;
                }
                break;
            };
            match handling {
                Current::Stream => out.extend_from_slice(&buf[start..start + len]),
                Current::Whole(expect) => {
                    rewritten(expect, &buf[start..start + len], proxy, &mut out).await;
                }
            }
            start += len;
            scan = FrameScan::default();
            current = None;
        }
        buf.drain(..start);
        if !out.is_empty() {
            client.write_all(&out).await?;
            traffic.received(out.len());
            out.clear();
        }
        buf.reserve(READ);
        if server.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Appends `frame` to `out`, rewritten for `expect`; an address the proxy does not know yet
/// (a node that just joined) makes it look at the cluster again first.
async fn rewritten(expect: &Expect, frame: &[u8], proxy: &Proxy, out: &mut Vec<u8>) {
    let Ok((parsed, _)) = Frame::parse(frame) else {
        out.extend_from_slice(frame);
        return;
    };
    let mut unknown = Vec::new();
    let mut changed = rewrite(expect, &parsed, &|h, p| proxy.local(h, p), &mut unknown);
    if !unknown.is_empty() {
        proxy.learn().await;
        changed = rewrite(expect, &parsed, &|h, p| proxy.local(h, p), &mut Vec::new());
    }
    match changed {
        Some(frame) => frame.encode(out),
        None => out.extend_from_slice(frame),
    }
}

fn invalid(e: super::frame::FrameError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}
