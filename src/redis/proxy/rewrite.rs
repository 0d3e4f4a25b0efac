//! What the proxy changes in replies: every address a node gives a client (MOVED and ASK
//! redirections, `CLUSTER SLOTS`, `CLUSTER SHARDS`, `CLUSTER NODES` and its `REPLICAS`
//! form) becomes the local listener of the node it names. Pure: which reply a request gets
//! is tracked by [`Requests`], and the mapping from a node's address to its listener is a
//! function the caller passes in.

use super::frame::Frame;

/// How the reply to one request is to be treated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Passed through (MOVED and ASK are still rewritten: they name themselves).
    Pass,
    /// `CLUSTER SLOTS`.
    Slots,
    /// `CLUSTER SHARDS`.
    Shards,
    /// `CLUSTER NODES`, `CLUSTER REPLICAS`, `CLUSTER SLAVES`: lines of text.
    Nodes,
    /// `EXEC`: one reply per queued command.
    Exec(Vec<Expect>),
}

/// Follows a client's requests to know what each reply will be. A client that subscribes,
/// monitors or turns replies off gets replies that answer no request: from then on nothing
/// is tracked and only redirections are rewritten.
#[derive(Debug, Default)]
pub struct Requests {
    /// Inside MULTI: the treatment each queued command's reply will get in EXEC's array.
    queued: Option<Vec<Expect>>,
    /// Replies no longer match requests one to one.
    pub untracked: bool,
}

impl Requests {
    /// The treatment of the reply to the request `name sub ...` (lowercased), or `None`
    /// once replies are untracked.
    pub fn request(&mut self, name: &[u8], sub: Option<&[u8]>) -> Option<Expect> {
        if self.untracked {
            return None;
        }
        let expect = match (name, sub) {
            (b"cluster", Some(b"slots")) => Expect::Slots,
            (b"cluster", Some(b"shards")) => Expect::Shards,
            (b"cluster", Some(b"nodes" | b"replicas" | b"slaves")) => Expect::Nodes,
            (b"subscribe" | b"psubscribe" | b"ssubscribe" | b"monitor", _)
            | (b"client", Some(b"reply")) => {
                self.untracked = true;
                return None;
            }
            (b"multi", _) => {
                self.queued = Some(Vec::new());
                return Some(Expect::Pass);
            }
            (b"exec", _) => return Some(Expect::Exec(self.queued.take().unwrap_or_default())),
            (b"discard" | b"reset", _) => {
                self.queued = None;
                return Some(Expect::Pass);
            }
            _ => Expect::Pass,
        };
        match &mut self.queued {
            // Queued: the reply now is +QUEUED; the real one comes in EXEC's array.
            Some(queued) => {
                queued.push(expect);
                Some(Expect::Pass)
            }
            None => Some(expect),
        }
    }
}

/// Where a client reaches a node: the local listener for the node announced at `host:port`,
/// `None` when the proxy has none (yet).
pub type Local<'a> = &'a dyn Fn(&str, u16) -> Option<(String, u16)>;

/// `frame` rewritten for `expect`: `None` when nothing in it changes. `unknown` collects the
/// addresses it names that `local` does not know, left as they were.
pub fn rewrite(
    expect: &Expect,
    frame: &Frame,
    local: Local<'_>,
    unknown: &mut Vec<(String, u16)>,
) -> Option<Frame> {
    let mut out = frame.clone();
    let changed = rewrite_in(expect, &mut out, local, unknown);
    changed.then_some(out)
}

fn rewrite_in(
    expect: &Expect,
    frame: &mut Frame,
    local: Local<'_>,
    unknown: &mut Vec<(String, u16)>,
) -> bool {
    if let Frame::Line(b'-', text) = frame {
        return redirection(text, local, unknown);
    }
    match (expect, frame) {
        (Expect::Slots, Frame::Many(_, Some(ranges))) => ranges
            .iter_mut()
            .map(|range| slot_range(range, local, unknown))
            .fold(false, |a, b| a | b),
        (Expect::Shards, Frame::Many(_, Some(shards))) => shards
            .iter_mut()
            .map(|shard| shard_nodes(shard, local, unknown))
            .fold(false, |a, b| a | b),
        (Expect::Nodes, Frame::Bulk(kind, Some(body))) => {
            // A verbatim string (`=`, RESP3) starts with its format: `txt:`.
            let skip = if *kind == b'=' { 4.min(body.len()) } else { 0 };
            let text = String::from_utf8_lossy(&body[skip..]).into_owned();
            let lines = node_lines(&text, local, unknown);
            if lines == text {
                return false;
            }
            body.truncate(skip);
            body.extend_from_slice(lines.as_bytes());
            true
        }
        (Expect::Exec(each), Frame::Many(_, Some(replies))) => each
            .iter()
            .zip(replies.iter_mut())
            .map(|(expect, reply)| rewrite_in(expect, reply, local, unknown))
            .fold(false, |a, b| a | b),
        _ => false,
    }
}

/// `MOVED slot host:port` / `ASK slot host:port`, pointed at the local listener.
fn redirection(text: &mut Vec<u8>, local: Local<'_>, unknown: &mut Vec<(String, u16)>) -> bool {
    let line = String::from_utf8_lossy(text).into_owned();
    let mut words = line.splitn(3, ' ');
    let (Some(kind @ ("MOVED" | "ASK")), Some(slot), Some(addr)) =
        (words.next(), words.next(), words.next())
    else {
        return false;
    };
    let Some((host, port)) = split_addr(addr) else {
        return false;
    };
    match local(host, port) {
        Some((h, p)) => {
            *text = format!("{kind} {slot} {h}:{p}").into_bytes();
            true
        }
        None => {
            unknown.push((host.to_string(), port));
            false
        }
    }
}

/// `host:port`, the host possibly an IPv6 literal (the port is after the last colon).
fn split_addr(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((
        host.trim_start_matches('[').trim_end_matches(']'),
        port.parse().ok()?,
    ))
}

/// One `CLUSTER SLOTS` entry: `[start, end, node, node...]`, each node `[host, port, id,
/// {metadata}]`.
fn slot_range(range: &mut Frame, local: Local<'_>, unknown: &mut Vec<(String, u16)>) -> bool {
    let Frame::Many(_, Some(items)) = range else {
        return false;
    };
    let mut changed = false;
    for node in items.iter_mut().skip(2) {
        let Frame::Many(_, Some(fields)) = node else {
            continue;
        };
        let (Some(host), Some(port)) = (
            fields
                .first()
                .and_then(Frame::text)
                .map(|t| String::from_utf8_lossy(t).into_owned()),
            fields.get(1).and_then(Frame::integer),
        ) else {
            continue;
        };
        let Some((h, p)) = lookup(&host, port, local, unknown) else {
            continue;
        };
        fields[0] = with_text(&fields[0], &h);
        fields[1] = Frame::Line(b':', p.to_string().into_bytes());
        // Networking metadata (Redis 7): ip and hostname name the listener too.
        if let Some(Frame::Many(_, Some(meta))) = fields.get_mut(3) {
            for pair in meta.chunks_mut(2) {
                if let [key, value] = pair
                    && matches!(key.text(), Some(b"ip" | b"hostname"))
                {
                    *value = with_text(value, &h);
                }
            }
        }
        changed = true;
    }
    changed
}

/// One `CLUSTER SHARDS` entry: a map with `slots` and `nodes`, each node a map with `id`,
/// `port`, `tls-port`, `ip`, `endpoint`, `hostname`, `role`, ...
fn shard_nodes(shard: &mut Frame, local: Local<'_>, unknown: &mut Vec<(String, u16)>) -> bool {
    let Frame::Many(_, Some(fields)) = shard else {
        return false;
    };
    let mut changed = false;
    for pair in fields.chunks_mut(2) {
        let [key, Frame::Many(_, Some(nodes))] = pair else {
            continue;
        };
        if key.text() != Some(b"nodes") {
            continue;
        }
        for node in nodes.iter_mut() {
            changed |= shard_node(node, local, unknown);
        }
    }
    changed
}

fn shard_node(node: &mut Frame, local: Local<'_>, unknown: &mut Vec<(String, u16)>) -> bool {
    let Frame::Many(_, Some(fields)) = node else {
        return false;
    };
    let field = |name: &[u8]| {
        fields
            .chunks(2)
            .find(|pair| pair[0].text() == Some(name))
            .and_then(|pair| pair.get(1))
            .cloned()
    };
    let host = field(b"ip").and_then(|f| f.text().map(|t| String::from_utf8_lossy(t).into_owned()));
    let port = field(b"port")
        .and_then(|f| f.integer())
        .filter(|&p| p > 0)
        .or_else(|| field(b"tls-port").and_then(|f| f.integer()));
    let (Some(host), Some(port)) = (host, port) else {
        return false;
    };
    let Some((h, p)) = lookup(&host, port, local, unknown) else {
        return false;
    };
    for pair in fields.chunks_mut(2) {
        if let [key, value] = pair {
            match key.text() {
                Some(b"ip" | b"endpoint" | b"hostname") => *value = with_text(value, &h),
                Some(b"port" | b"tls-port") => {
                    *value = Frame::Line(b':', p.to_string().into_bytes())
                }
                _ => {}
            }
        }
    }
    true
}

fn lookup(
    host: &str,
    port: i64,
    local: Local<'_>,
    unknown: &mut Vec<(String, u16)>,
) -> Option<(String, u16)> {
    let port = u16::try_from(port).ok()?;
    let found = local(host, port);
    if found.is_none() && !host.is_empty() && host != "?" {
        unknown.push((host.to_string(), port));
    }
    found
}

/// A string frame of the same kind with `text`.
fn with_text(frame: &Frame, text: &str) -> Frame {
    match frame {
        Frame::Line(kind, _) => Frame::Line(*kind, text.as_bytes().to_vec()),
        Frame::Bulk(kind, _) => Frame::Bulk(*kind, Some(text.as_bytes().to_vec())),
        other => other.clone(),
    }
}

/// `CLUSTER NODES` text with each `ip:port@cport[,hostname]` naming the node's listener
/// (the bus port is kept: clients do not dial it).
fn node_lines(text: &str, local: Local<'_>, unknown: &mut Vec<(String, u16)>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut fields = line.splitn(3, ' ');
        let (Some(id), Some(addr), Some(rest)) = (fields.next(), fields.next(), fields.next())
        else {
            out.push_str(line);
            continue;
        };
        let (endpoint, cport) = addr.split_once('@').unwrap_or((addr, ""));
        let cport = cport.split(',').next().unwrap_or("");
        match split_addr(endpoint).and_then(|(h, p)| lookup(h, i64::from(p), local, unknown)) {
            Some((h, p)) => out.push_str(&format!("{id} {h}:{p}@{cport} {rest}")),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node `10.0.0.N:6379` listens locally on `127.0.0.1:700N`.
    fn listeners(host: &str, port: u16) -> Option<(String, u16)> {
        let n: u16 = host.strip_prefix("10.0.0.")?.parse().ok()?;
        (port == 6379 && n < 5).then(|| ("127.0.0.1".to_string(), 7000 + n))
    }

    fn rewritten(expect: Expect, wire: &[u8]) -> (Vec<u8>, Vec<(String, u16)>) {
        let (frame, _) = Frame::parse(wire).unwrap();
        let mut unknown = Vec::new();
        let out = rewrite(&expect, &frame, &listeners, &mut unknown).unwrap_or(frame);
        let mut bytes = Vec::new();
        out.encode(&mut bytes);
        (bytes, unknown)
    }

    #[test]
    fn redirections_name_the_listener_of_the_node_they_point_at() {
        let (out, _) = rewritten(Expect::Pass, b"-MOVED 3999 10.0.0.2:6379\r\n");
        assert_eq!(out, b"-MOVED 3999 127.0.0.1:7002\r\n");
        let (out, _) = rewritten(Expect::Slots, b"-ASK 12 10.0.0.1:6379\r\n");
        assert_eq!(out, b"-ASK 12 127.0.0.1:7001\r\n");
        let (out, unknown) = rewritten(Expect::Pass, b"-MOVED 1 10.0.0.9:6379\r\n");
        assert_eq!(out, b"-MOVED 1 10.0.0.9:6379\r\n");
        assert_eq!(unknown, vec![("10.0.0.9".to_string(), 6379)]);
        let (out, _) = rewritten(Expect::Pass, b"-ERR MOVED is not here\r\n");
        assert_eq!(out, b"-ERR MOVED is not here\r\n");
    }

    #[test]
    fn cluster_slots_names_listeners_and_keeps_ids_and_ranges() {
        let wire = b"*1\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$8\r\n10.0.0.1\r\n:6379\r\n$2\r\nid\r\n%1\r\n$8\r\nhostname\r\n$5\r\nredis\r\n*3\r\n$8\r\n10.0.0.2\r\n:6379\r\n$3\r\nid2\r\n";
        let (out, unknown) = rewritten(Expect::Slots, wire);
        assert!(unknown.is_empty());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "*1\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n%1\r\n$8\r\nhostname\r\n$9\r\n127.0.0.1\r\n*3\r\n$9\r\n127.0.0.1\r\n:7002\r\n$3\r\nid2\r\n"
        );
    }

    #[test]
    fn cluster_shards_names_listeners_in_ip_endpoint_and_ports() {
        let wire = b"*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nip\r\n$8\r\n10.0.0.3\r\n$4\r\nport\r\n:6379\r\n$8\r\nendpoint\r\n$8\r\n10.0.0.3\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";
        let (out, _) = rewritten(Expect::Shards, wire);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("127.0.0.1").count(), 2, "{text}");
        assert!(text.contains("$4\r\nport\r\n:7003\r\n"), "{text}");
        assert!(!text.contains("10.0.0.3"), "{text}");
    }

    #[test]
    fn cluster_nodes_lines_name_listeners_and_unknown_nodes_are_reported() {
        let text = "aaa 10.0.0.1:6379@16379,redis-0 myself,master - 0 0 1 connected 0-5460\nbbb 10.0.0.7:6379@16379 slave aaa 0 0 1 connected\nccc :0@0 noaddr,master - 0 0 0 disconnected\n";
        let wire = format!("${}\r\n{text}\r\n", text.len());
        let (out, unknown) = rewritten(Expect::Nodes, wire.as_bytes());
        let (frame, _) = Frame::parse(&out).unwrap();
        let out = String::from_utf8(frame.text().unwrap().to_vec()).unwrap();
        assert_eq!(
            out,
            "aaa 127.0.0.1:7001@16379 myself,master - 0 0 1 connected 0-5460\nbbb 10.0.0.7:6379@16379 slave aaa 0 0 1 connected\nccc :0@0 noaddr,master - 0 0 0 disconnected\n"
        );
        assert_eq!(unknown, vec![("10.0.0.7".to_string(), 6379)]);
    }

    #[test]
    fn replies_are_matched_to_requests_through_multi_and_until_a_subscribe() {
        let mut requests = Requests::default();
        let mut ask = |name: &[u8], sub: Option<&[u8]>| requests.request(name, sub);
        assert_eq!(ask(b"get", None), Some(Expect::Pass));
        assert_eq!(ask(b"cluster", Some(b"slots")), Some(Expect::Slots));
        assert_eq!(ask(b"multi", None), Some(Expect::Pass));
        assert_eq!(ask(b"cluster", Some(b"nodes")), Some(Expect::Pass));
        assert_eq!(ask(b"set", Some(b"k")), Some(Expect::Pass));
        assert_eq!(
            ask(b"exec", None),
            Some(Expect::Exec(vec![Expect::Nodes, Expect::Pass]))
        );
        assert_eq!(ask(b"subscribe", Some(b"news")), None);
        assert_eq!(ask(b"cluster", Some(b"slots")), None);
    }

    #[test]
    fn exec_replies_are_rewritten_element_by_element() {
        let text = "aaa 10.0.0.1:6379@16379 myself,master - 0 0 1 connected\n";
        let wire = format!("*2\r\n+OK\r\n${}\r\n{text}\r\n", text.len());
        let (out, _) = rewritten(
            Expect::Exec(vec![Expect::Pass, Expect::Nodes]),
            wire.as_bytes(),
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("127.0.0.1:7001@16379")
        );
    }
}
