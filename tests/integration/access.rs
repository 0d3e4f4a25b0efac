//! How the test's own clients (the plugin, `redis-cli`, the redis-rs cluster client) reach
//! secured nodes: a password, an ACL user, TLS files. TLS files are made per test with the
//! `openssl` CLI: a CA, one node certificate carrying every node IP as a subjectAltName (the
//! nodes use it as server and as client among themselves), a client certificate, and a
//! second, unrelated CA to prove that a wrong CA is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use redis::cluster::ClusterClientBuilder;

use crate::certs::CertDir;
use crate::harness::PLUGIN;

/// Credentials and TLS files for every client of one test cluster. The default is a plain,
/// open cluster.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// ACL user (`--user`), if not `default`.
    pub user: Option<String>,
    /// The password, handed over as `REDISCLI_AUTH`.
    pub password: Option<String>,
    /// TLS files, when the nodes only speak TLS.
    pub tls: Option<TlsFiles>,
}

impl Access {
    /// `requirepass`: the default user with `password`.
    pub fn password(password: &str) -> Self {
        Self {
            password: Some(password.into()),
            ..Self::default()
        }
    }

    /// The ACL user `user` with `password`.
    pub fn user(user: &str, password: &str) -> Self {
        Self {
            user: Some(user.into()),
            password: Some(password.into()),
            tls: None,
        }
    }

    /// TLS with the files in `tls`, no password.
    pub fn tls(tls: &TlsFiles) -> Self {
        Self {
            tls: Some(tls.clone()),
            ..Self::default()
        }
    }

    /// The same access with another password (a wrong one, say).
    pub fn with_password(&self, password: Option<&str>) -> Self {
        Self {
            password: password.map(Into::into),
            ..self.clone()
        }
    }

    /// Client flags, the same for the plugin and `redis-cli`: `--user`, `--tls --cacert
    /// --cert --key`.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(user) = &self.user {
            flags.extend(["--user".into(), user.clone()]);
        }
        if let Some(tls) = &self.tls {
            flags.extend(tls.flags(&tls.ca()));
        }
        flags
    }

    /// Runs the plugin with these flags first, the password in `REDISCLI_AUTH`, and no
    /// terminal.
    pub fn plugin(&self, args: &[&str]) -> Output {
        self.command(PLUGIN, &self.flags())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the plugin")
    }

    /// A `program` command with `flags`, the password in `REDISCLI_AUTH` (never on argv).
    pub fn command(&self, program: &str, flags: &[String]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(flags)
            .env_remove("REDISCLI_AUTH")
            .env_remove("VALKEYCLI_AUTH");
        if let Some(password) = &self.password {
            // valkey-cli reads VALKEYCLI_AUTH; the plugin and redis-cli read REDISCLI_AUTH.
            cmd.env("REDISCLI_AUTH", password)
                .env("VALKEYCLI_AUTH", password);
        }
        cmd
    }

    /// `redis-cli` with these flags.
    pub fn redis_cli(&self) -> Command {
        self.cli(&crate::engine::engine())
    }

    /// `engine`'s CLI (`redis-cli` or `valkey-cli`) with these flags.
    pub fn cli(&self, engine: &crate::engine::Engine) -> Command {
        self.command(&engine.cli.to_string_lossy(), &self.flags())
    }

    /// A redis-rs cluster client seeded at `seed`, with these credentials and TLS files.
    pub fn cluster_client(&self, seed: &str) -> redis::cluster::ClusterClient {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let mut builder = ClusterClientBuilder::new(vec![format!("{scheme}://{seed}")]);
        if let Some(user) = &self.user {
            builder = builder.username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.password(password);
        }
        if let Some(tls) = &self.tls {
            let read = |p: PathBuf| std::fs::read(p).expect("read a TLS file");
            builder = builder.certs(redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: read(tls.path("client.crt")),
                    client_key: read(tls.path("client.key")),
                }),
                root_cert: Some(read(tls.ca())),
            });
        }
        builder.build().expect("cluster client")
    }
}

/// A CA, a node certificate for given IPs, a client certificate, and an unrelated CA, in a
/// temp dir that lives as long as any clone.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    certs: CertDir,
}

impl TlsFiles {
    /// Generates the files; the node certificate names every IP in `ips` and [`Self::DNS_NAME`].
    pub fn generate(ips: &[&str]) -> Self {
        let files = Self {
            certs: CertDir::new(),
        };
        files.certs.make_ca("ca");
        files.certs.make_ca("other-ca");
        let mut sans: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
        sans.push(format!("DNS:{}", Self::DNS_NAME));
        files.certs.make_leaf(
            "node",
            "ca",
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth,clientAuth\n",
                sans.join(",")
            ),
        );
        files
            .certs
            .make_leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
        files
    }

    /// The DNS name the node certificate carries besides the IPs (what `--tls-server-name`
    /// checks against).
    pub const DNS_NAME: &str = "redis-cluster.tls.test";

    /// A file in the dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.certs.path(name)
    }

    /// The CA that signed the node and client certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// A CA that signed nothing here.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.crt")
    }

    /// Client flags trusting `ca`: `--tls --cacert CA --cert client.crt --key client.key`.
    pub fn flags(&self, ca: &Path) -> Vec<String> {
        let p = |name: &str| self.path(name).to_string_lossy().into_owned();
        vec![
            "--tls".into(),
            "--cacert".into(),
            ca.to_string_lossy().into_owned(),
            "--cert".into(),
            p("client.crt"),
            "--key".into(),
            p("client.key"),
        ]
    }

    /// redis-server config making `port` its only (TLS) port, with TLS on the cluster bus
    /// and for replication; clients must show a certificate from the CA.
    pub fn server_args(&self, port: u16) -> Vec<String> {
        let p = |name: &str| self.path(name).to_string_lossy().into_owned();
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &p("node.crt"),
            "--tls-key-file",
            &p("node.key"),
            "--tls-ca-cert-file",
            &p("ca.crt"),
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
        ]
        .map(String::from)
        .to_vec()
    }
}
