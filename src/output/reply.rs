//! Redis replies printed the way `redis-cli` prints them: quoted and numbered for a terminal,
//! raw (one value per line, no quotes) when piped, and always raw for the commands whose
//! replies are text meant for people (`INFO`, `CLUSTER NODES`, `CLUSTER INFO`, ...).

use redis::Value;

/// Whether `redis-cli` prints this command's reply raw even on a terminal.
pub fn always_raw(args: &[String]) -> bool {
    let word = |i: usize| {
        args.get(i)
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default()
    };
    match word(0).as_str() {
        "info" | "lolwut" => true,
        "cluster" => matches!(word(1).as_str(), "nodes" | "info" | "replicas" | "slaves"),
        "client" => word(1) == "list",
        "memory" => matches!(word(1).as_str(), "doctor" | "malloc-stats"),
        _ => false,
    }
}

/// The reply as `redis-cli` shows it on a terminal, ending with a newline.
pub fn format_tty(value: &Value) -> String {
    format_tty_nested(value, "")
}

/// One value; `prefix` is the indentation of nested array entries.
fn format_tty_nested(value: &Value, prefix: &str) -> String {
    match value {
        Value::Nil => "(nil)\n".into(),
        Value::Int(n) => format!("(integer) {n}\n"),
        Value::Double(d) => format!("(double) {d}\n"),
        Value::Boolean(b) => format!("({b})\n"),
        Value::Okay => "OK\n".into(),
        Value::SimpleString(s) => format!("{s}\n"),
        Value::BulkString(bytes) => format!("{}\n", quote(bytes)),
        Value::VerbatimString { text, .. } => format!("{text}\n"),
        Value::ServerError(e) => format!("(error) {}\n", server_error(e)),
        Value::Array(items) | Value::Set(items) => numbered(items, prefix),
        Value::Map(pairs) => {
            let flat: Vec<Value> = pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect();
            numbered(&flat, prefix)
        }
        other => format!("{other:?}\n"),
    }
}

/// `1) ...`, `2) ...`, indices right-aligned, nested entries indented under their parent.
fn numbered(items: &[Value], prefix: &str) -> String {
    if items.is_empty() {
        return "(empty array)\n".into();
    }
    let width = items.len().to_string().len();
    let nested = format!("{prefix}{}", " ".repeat(width + 2));
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        // The parent already wrote the first entry's indentation.
        let lead = if i == 0 { "" } else { prefix };
        out.push_str(&format!("{lead}{:>width$}) ", i + 1));
        out.push_str(&format_tty_nested(item, &nested));
    }
    out
}

/// The reply as `redis-cli` prints it when piped, ending with a newline.
pub fn format_raw(value: &Value) -> String {
    format!("{}\n", raw(value))
}

/// One value, raw; array entries on their own lines.
fn raw(value: &Value) -> String {
    match value {
        Value::Nil => String::new(),
        Value::Int(n) => n.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Boolean(b) => if *b { "1" } else { "0" }.into(),
        Value::Okay => "OK".into(),
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::ServerError(e) => server_error(e),
        Value::Array(items) | Value::Set(items) => {
            items.iter().map(raw).collect::<Vec<_>>().join("\n")
        }
        Value::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [raw(k), raw(v)])
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{other:?}"),
    }
}

/// One reply as JSON, for `cli -o json`: nil is `null`, integers and doubles are numbers,
/// strings (bulk strings lossily as UTF-8) are strings, arrays and sets are arrays, maps are
/// arrays of `[key, value]` pairs (keys need not be strings), an error is
/// `{"error": "CODE message"}`.
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Nil => J::Null,
        Value::Int(n) => J::from(*n),
        Value::Double(d) => J::from(*d),
        Value::Boolean(b) => J::from(*b),
        Value::Okay => J::from("OK"),
        Value::SimpleString(s) => J::from(s.as_str()),
        Value::BulkString(bytes) => J::from(String::from_utf8_lossy(bytes).into_owned()),
        Value::VerbatimString { text, .. } => J::from(text.as_str()),
        Value::ServerError(e) => serde_json::json!({ "error": server_error(e) }),
        Value::Array(items) | Value::Set(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(pairs) => J::Array(
            pairs
                .iter()
                .map(|(k, v)| J::Array(vec![to_json(k), to_json(v)]))
                .collect(),
        ),
        other => J::from(format!("{other:?}")),
    }
}

/// `ERR unknown command ...`.
fn server_error(e: &redis::ServerError) -> String {
    match e.details() {
        Some(details) => format!("{} {details}", e.code()),
        None => e.code().to_string(),
    }
}

/// A bulk string in double quotes, non-printable bytes escaped as `redis-cli` does.
fn quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn terminal_output_quotes_numbers_and_nests_like_redis_cli() {
        assert_eq!(format_tty(&Value::Int(3)), "(integer) 3\n");
        assert_eq!(format_tty(&Value::Nil), "(nil)\n");
        assert_eq!(format_tty(&Value::Okay), "OK\n");
        assert_eq!(format_tty(&bulk("a\"b\n")), "\"a\\\"b\\n\"\n");
        assert_eq!(format_tty(&Value::Array(vec![])), "(empty array)\n");
        let slots = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(5460),
            bulk("10.0.0.1"),
        ])]);
        assert_eq!(
            format_tty(&slots),
            "1) 1) (integer) 0\n   2) (integer) 5460\n   3) \"10.0.0.1\"\n"
        );
        let ten = Value::Array((1..=10).map(Value::Int).collect());
        let text = format_tty(&ten);
        assert!(text.starts_with(" 1) (integer) 1\n 2)"), "{text}");
        assert!(text.ends_with("10) (integer) 10\n"), "{text}");
    }

    #[test]
    fn piped_output_is_raw_one_value_per_line() {
        assert_eq!(
            format_raw(&bulk("cluster_state:ok\r\n")),
            "cluster_state:ok\r\n\n"
        );
        assert_eq!(
            format_raw(&Value::Array(vec![bulk("a"), Value::Int(2), Value::Nil])),
            "a\n2\n\n"
        );
    }

    #[test]
    fn text_replies_are_raw_even_on_a_terminal() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(always_raw(&args("CLUSTER info")));
        assert!(always_raw(&args("info replication")));
        assert!(!always_raw(&args("cluster myid")));
        assert!(!always_raw(&args("get info")));
    }

    #[test]
    fn replies_become_json_values() {
        let reply = Value::Array(vec![bulk("a"), Value::Int(2), Value::Nil]);
        assert_eq!(to_json(&reply), serde_json::json!(["a", 2, null]));
        assert_eq!(to_json(&Value::Okay), serde_json::json!("OK"));
        let map = Value::Map(vec![(bulk("k"), Value::Int(1))]);
        assert_eq!(to_json(&map), serde_json::json!([["k", 1]]));
    }
}
