//! RESP framing for the proxy: where a frame ends ([`FrameScan`], resumable as bytes arrive,
//! so a large reply streams through without being held or rescanned), and, for the few
//! frames the proxy rewrites, a parsed [`Frame`] that encodes back to RESP. RESP2 and RESP3
//! types are both understood; attributes (`|`) travel with the value they annotate.

/// Why bytes are not RESP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// A type byte RESP does not have (or a streamed string, which servers do not send).
    #[error("not RESP: unexpected type byte {0:?}")]
    Type(char),
    /// A length or count that is not a number.
    #[error("not RESP: bad length {0:?}")]
    Length(String),
}

/// Finds where one frame ends, over a buffer that starts at the frame's first byte and grows
/// between calls; each call resumes where the last one stopped.
#[derive(Debug, Default)]
pub struct FrameScan {
    /// Bytes of the buffer already scanned.
    pos: usize,
    /// Elements still to come in each open aggregate, outermost first.
    open: Vec<u64>,
    /// Bytes of a bulk body (with its CRLF) still to come.
    body: u64,
}

impl FrameScan {
    /// The frame's length once `buf` holds all of it, `None` while more bytes are needed.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        loop {
            if self.body > 0 {
                let here = (buf.len() - self.pos) as u64;
                if here < self.body {
                    self.pos = buf.len();
                    self.body -= here;
                    return Ok(None);
                }
                self.pos += self.body as usize;
                self.body = 0;
                if self.element_done() {
                    return Ok(Some(self.pos));
                }
                continue;
            }
            let Some(len) = line_len(&buf[self.pos..]) else {
                return Ok(None);
            };
            let line = &buf[self.pos..self.pos + len];
            self.pos += len + 2;
            let (&kind, rest) = line.split_first().unwrap_or((&b'?', &[]));
            let complete = match kind {
                b'+' | b'-' | b':' | b',' | b'(' | b'#' | b'_' => true,
                b'$' | b'!' | b'=' => match length(rest)? {
                    n if n < 0 => true,
                    n => {
                        self.body = n as u64 + 2;
                        false
                    }
                },
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = length(rest)?;
                    let n = match kind {
                        b'%' => n.saturating_mul(2),
                        // The attribute's pairs, then the value it annotates.
                        b'|' => n.saturating_mul(2) + 1,
                        _ => n,
                    };
                    if n > 0 {
                        self.open.push(n as u64);
                    }
                    n <= 0
                }
                other => return Err(FrameError::Type(other as char)),
            };
            if complete && self.element_done() {
                return Ok(Some(self.pos));
            }
        }
    }

    /// Whether the frame has ended, now that one element did.
    fn element_done(&mut self) -> bool {
        while let Some(left) = self.open.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.open.pop();
        }
        true
    }

    /// The caller dropped the first `n` scanned bytes from the front of its buffer.
    pub fn consumed(&mut self, n: usize) {
        self.pos -= n;
    }

    /// Bytes of the buffer scanned so far: they belong to this frame.
    pub fn scanned(&self) -> usize {
        self.pos
    }
}

/// The length of the line at the start of `buf` without its CRLF, once the CRLF is there.
fn line_len(buf: &[u8]) -> Option<usize> {
    let lf = buf.iter().position(|&b| b == b'\n')?;
    Some(lf.saturating_sub(1))
}

fn length(text: &[u8]) -> Result<i64, FrameError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| FrameError::Length(String::from_utf8_lossy(text).into_owned()))
}

/// A parsed frame, kept close to the wire so it encodes back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A one-line frame (`+ - : , ( # _`): its type byte and text.
    Line(u8, Vec<u8>),
    /// A bulk frame (`$ ! =`): its type byte and body, `None` for RESP2's null (`$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// An aggregate (`* ~ > % |`): its type byte and elements (a map's keys and values in
    /// turn; an attribute's pairs then its value), `None` for `*-1`.
    Many(u8, Option<Vec<Frame>>),
}

impl Frame {
    /// Parses one complete frame from the start of `buf` (as [`FrameScan`] delimited it).
    pub fn parse(buf: &[u8]) -> Result<(Frame, usize), FrameError> {
        let incomplete = || FrameError::Length("frame ends early".into());
        let len = line_len(buf).ok_or_else(incomplete)?;
        let (&kind, rest) = buf[..len].split_first().unwrap_or((&b'?', &[]));
        let mut at = len + 2;
        let frame = match kind {
            b'+' | b'-' | b':' | b',' | b'(' | b'#' | b'_' => Frame::Line(kind, rest.to_vec()),
            b'$' | b'!' | b'=' => match length(rest)? {
                n if n < 0 => Frame::Bulk(kind, None),
                n => {
                    let end = at + n as usize;
                    let body = buf.get(at..end).ok_or_else(incomplete)?.to_vec();
                    at = end + 2;
                    Frame::Bulk(kind, Some(body))
                }
            },
            b'*' | b'~' | b'>' | b'%' | b'|' => match length(rest)? {
                n if n < 0 => Frame::Many(kind, None),
                n => {
                    let count = match kind {
                        b'%' => n * 2,
                        b'|' => n * 2 + 1,
                        _ => n,
                    };
                    let mut items = Vec::with_capacity(count.min(1024) as usize);
                    for _ in 0..count {
                        let (item, used) = Frame::parse(buf.get(at..).ok_or_else(incomplete)?)?;
                        items.push(item);
                        at += used;
                    }
                    Frame::Many(kind, Some(items))
                }
            },
            other => return Err(FrameError::Type(other as char)),
        };
        if at > buf.len() {
            return Err(incomplete());
        }
        Ok((frame, at))
    }

    /// Appends the frame's RESP encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Line(kind, text) => {
                out.push(*kind);
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Bulk(kind, None) => {
                out.push(*kind);
                out.extend_from_slice(b"-1\r\n");
            }
            Frame::Bulk(kind, Some(body)) => {
                out.push(*kind);
                out.extend_from_slice(format!("{}\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Many(kind, None) => {
                out.push(*kind);
                out.extend_from_slice(b"-1\r\n");
            }
            Frame::Many(kind, Some(items)) => {
                let count = match kind {
                    b'%' => items.len() / 2,
                    b'|' => items.len().saturating_sub(1) / 2,
                    _ => items.len(),
                };
                out.push(*kind);
                out.extend_from_slice(format!("{count}\r\n").as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    /// The text of a string frame (simple, bulk or verbatim), if it is one.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Frame::Line(b'+', text) => Some(text),
            Frame::Bulk(_, Some(body)) => Some(body),
            _ => None,
        }
    }

    /// The value of an integer frame.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Frame::Line(b':', text) => std::str::from_utf8(text).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// The first words of a request frame (`*N` of bulk strings, or an inline command line):
/// the command's name and its first argument, lowercased, when present.
pub fn request_words(frame: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let lower = |w: &[u8]| w.to_ascii_lowercase();
    if frame.first() != Some(&b'*') {
        let line = frame.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let name = words.next().map(lower).unwrap_or_default();
        return (name, words.next().map(lower));
    }
    let mut words = Vec::new();
    let mut at = line_len(frame).map_or(frame.len(), |l| l + 2);
    while words.len() < 2 && at < frame.len() {
        let Some(len) = line_len(&frame[at..]) else {
            break;
        };
        let Ok(n) = length(&frame[at + 1..at + len]) else {
            break;
        };
        at += len + 2;
        let Some(word) = frame.get(at..at + n.max(0) as usize) else {
            break;
        };
        words.push(lower(word));
        at += n.max(0) as usize + 2;
    }
    let mut words = words.into_iter();
    (words.next().unwrap_or_default(), words.next())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` one byte at a time; the frame's length once it is all there.
    fn scan_bytewise(wire: &[u8]) -> Option<usize> {
        let mut scan = FrameScan::default();
        for end in 1..=wire.len() {
            if let Some(n) = scan.scan(&wire[..end]).unwrap() {
                return Some(n);
            }
        }
        None
    }

    #[test]
    fn a_frame_ends_where_resp_says_however_the_bytes_arrive() {
        let frames: &[&[u8]] = &[
            b"+OK\r\n",
            b"-MOVED 12 10.0.0.1:6379\r\n",
            b":42\r\n",
            b"$5\r\nhello\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n",
            b"%1\r\n+a\r\n*2\r\n:1\r\n:2\r\n",
            b">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n",
            b"|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n",
            b"=9\r\ntxt:hello\r\n",
            b"_\r\n",
            b"$4\r\na\r\nb\r\n",
        ];
        for &frame in frames {
            let mut wire = frame.to_vec();
            wire.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(scan_bytewise(&wire), Some(frame.len()), "{frame:?}");
            let mut scan = FrameScan::default();
            assert_eq!(scan.scan(&wire).unwrap(), Some(frame.len()), "{frame:?}");
            let (parsed, used) = Frame::parse(&wire).unwrap();
            assert_eq!(used, frame.len());
            let mut again = Vec::new();
            parsed.encode(&mut again);
            assert_eq!(again, frame, "{parsed:?}");
        }
    }

    #[test]
    fn a_scan_resumes_after_the_front_of_the_buffer_was_sent_on() {
        let wire = b"$10\r\n0123456789\r\n";
        let mut scan = FrameScan::default();
        assert_eq!(scan.scan(&wire[..9]).unwrap(), None);
        let sent = scan.scanned();
        scan.consumed(sent);
        assert_eq!(scan.scan(&wire[sent..]).unwrap(), Some(wire.len() - sent));
    }

    #[test]
    fn bytes_that_are_not_resp_are_refused() {
        let mut scan = FrameScan::default();
        assert_eq!(scan.scan(b"hello\r\n"), Err(FrameError::Type('h')));
        assert!(FrameScan::default().scan(b"$x\r\n").is_err());
    }

    #[test]
    fn requests_are_named_by_their_first_two_words() {
        let words = |w: &[u8]| request_words(w);
        assert_eq!(
            words(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n"),
            (b"cluster".to_vec(), Some(b"slots".to_vec()))
        );
        assert_eq!(words(b"*1\r\n$4\r\nPING\r\n"), (b"ping".to_vec(), None));
        assert_eq!(
            words(b"cluster  nodes\r\n"),
            (b"cluster".to_vec(), Some(b"nodes".to_vec()))
        );
    }
}
