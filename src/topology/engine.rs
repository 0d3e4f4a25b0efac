//! Which server a node runs, read from its `INFO server`: Redis or Valkey, and the version.
//! Valkey still reports `redis_version:7.2.4` for clients that test it, so `server_name` and
//! `valkey_version` decide. Pure: the observer reads the fields, the checks read the engine.

use std::fmt;

use serde::Serialize;

use super::view::InfoFields;

/// The server software.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Redis (redis.io).
    Redis,
    /// Valkey (valkey.io), the Linux Foundation fork of Redis 7.2.4.
    Valkey,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Redis => "redis",
            Self::Valkey => "valkey",
        })
    }
}

/// `major.minor.patch` of a release (`7.0.15`; a release candidate `4.9.101` stays as is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses `7.0.15`, `9.1.2`, `8.0` (missing parts are 0); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| match parts.next() {
            Some(p) => p.parse::<u32>().ok(),
            None if !required => Some(0),
            None => None,
        };
        let version = Self::new(next(true)?, next(false)?, next(false)?);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A node's server: what it is and which release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Engine {
    /// Redis or Valkey.
    pub kind: EngineKind,
    /// Its own version (Valkey's `valkey_version`, not the `redis_version` it reports for
    /// compatibility).
    pub version: Version,
}

/// The oldest release of each engine the plugin supports: Redis 7.0, the oldest its test
/// suite runs (older releases lack ACL users for `MIGRATE ... AUTH2`, 6.0, or
/// `bind-source-addr`, 7.0, and were never tested), and Valkey's first release, forked from
/// Redis 7.2.4.
pub const OLDEST_SUPPORTED: [Engine; 2] = [
    Engine {
        kind: EngineKind::Redis,
        version: Version::new(7, 0, 0),
    },
    Engine {
        kind: EngineKind::Valkey,
        version: Version::new(7, 2, 0),
    },
];

impl Engine {
    /// The engine an `INFO server` reply describes; `None` when it names no version.
    pub fn from_info(info: &InfoFields) -> Option<Self> {
        let valkey =
            info.get("server_name") == Some("valkey") || info.get("valkey_version").is_some();
        let (kind, field) = if valkey {
            (EngineKind::Valkey, "valkey_version")
        } else {
            (EngineKind::Redis, "redis_version")
        };
        Some(Self {
            kind,
            version: Version::parse(info.get(field)?)?,
        })
    }

    /// The oldest supported release of this engine.
    pub fn oldest_supported(self) -> Self {
        OLDEST_SUPPORTED
            .into_iter()
            .find(|e| e.kind == self.kind)
            .expect("every engine kind has an oldest supported release")
    }

    /// Whether the plugin supports this release.
    pub fn is_supported(self) -> bool {
        self.version >= self.oldest_supported().version
    }

    /// Whether the server has several databases in cluster mode (`cluster-databases`,
    /// Valkey ≥ 9.0).
    pub fn has_cluster_databases(self) -> bool {
        self.kind == EngineKind::Valkey && self.version >= Version::new(9, 0, 0)
    }

    /// Whether the server has atomic slot migration (`CLUSTER MIGRATESLOTS`, Valkey ≥ 9.0).
    /// Redis 8.4's `CLUSTER MIGRATION` is another protocol, not used yet.
    pub fn has_atomic_slot_migration(self) -> bool {
        self.kind == EngineKind::Valkey && self.version >= Version::new(9, 0, 0)
    }

    /// Whether `CLUSTER SETSLOT` on a master is replicated to its replicas (Valkey ≥ 8.0), so
    /// a replica's slot states follow its master's.
    pub fn replicates_setslot(self) -> bool {
        self.kind == EngineKind::Valkey && self.version >= Version::new(8, 0, 0)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.version)
    }
}

/// The oldest supported releases, for messages: `redis 7.0.0, valkey 7.2.0`.
pub fn oldest_supported_text() -> String {
    OLDEST_SUPPORTED
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> InfoFields {
        InfoFields::parse(text)
    }

    #[test]
    fn valkey_is_known_by_its_own_version_not_the_redis_version_it_reports() {
        let valkey = info(
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n",
        );
        assert_eq!(
            Engine::from_info(&valkey),
            Some(Engine {
                kind: EngineKind::Valkey,
                version: Version::new(9, 1, 2)
            })
        );
        let redis = info("# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\n");
        let redis = Engine::from_info(&redis).unwrap();
        assert_eq!(redis.to_string(), "redis 7.0.15");
        assert!(redis.is_supported());
        assert_eq!(Engine::from_info(&info("uptime_in_seconds:4\r\n")), None);
    }

    #[test]
    fn releases_older_than_the_oldest_supported_are_not_supported() {
        // The classic redis-trib workflow's image is a Redis 5 release candidate.
        let rc = Engine::from_info(&info("redis_version:4.9.101\r\n")).unwrap();
        assert_eq!(rc.to_string(), "redis 4.9.101");
        assert!(!rc.is_supported());
        assert_eq!(rc.oldest_supported().to_string(), "redis 7.0.0");
        let six = Engine::from_info(&info("redis_version:6.2.14\r\n")).unwrap();
        assert!(!six.is_supported());
        let valkey8 =
            Engine::from_info(&info("server_name:valkey\r\nvalkey_version:8.1.8\r\n")).unwrap();
        assert!(valkey8.is_supported() && valkey8.replicates_setslot());
        assert!(!rc.replicates_setslot());
        assert_eq!(oldest_supported_text(), "redis 7.0.0, valkey 7.2.0");
    }

    #[test]
    fn versions_parse_with_missing_parts_and_order_numerically() {
        assert_eq!(Version::parse("8.0"), Some(Version::new(8, 0, 0)));
        assert_eq!(Version::parse("7.0.15"), Some(Version::new(7, 0, 15)));
        assert_eq!(Version::parse("7.x"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert!(Version::new(7, 0, 15) > Version::new(7, 0, 9));
        assert!(Version::new(10, 0, 0) > Version::new(9, 9, 9));
    }
}
