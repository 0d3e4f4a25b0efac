//! `HOST:PORT` endpoints as users type them (`--seed`, `--nodes`) and as nodes advertise them.

use std::fmt;
use std::str::FromStr;

/// A Redis node's client address. `host` is an IP in cluster-internal use; users may type a
/// name, which the connector resolves.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Endpoint {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// Client port.
    pub port: u16,
}

impl Endpoint {
    /// Builds an endpoint.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why `HOST:PORT` did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not HOST:PORT (for example 127.0.0.1:7000)")]
pub struct EndpointParseError(pub String);

impl FromStr for Endpoint {
    type Err = EndpointParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || EndpointParseError(s.to_string());
        let (host, port) = s.rsplit_once(':').ok_or_else(err)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(err());
        }
        let port: u16 = port.parse().map_err(|_| err())?;
        if port == 0 {
            return Err(err());
        }
        Ok(Self::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses_and_prints_back() {
        let ep: Endpoint = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(ep, Endpoint::new("127.0.0.1", 7000));
        assert_eq!(ep.to_string(), "127.0.0.1:7000");
        let v6: Endpoint = "[::1]:6379".parse().unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:6379");
    }

    #[test]
    fn missing_or_bad_ports_are_refused() {
        for bad in ["127.0.0.1", "127.0.0.1:", ":7000", "h:70000", "h:0", "h:x"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} should not parse");
        }
    }
}
