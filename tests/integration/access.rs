//! How the test's own clients (the plugin, `redis-cli`, the redis-rs cluster client) reach
//! secured nodes: a password, an ACL user, TLS files. TLS files are made per test with the
//! `openssl` CLI: a CA, one node certificate carrying every node IP as a subjectAltName (the
//! nodes use it as server and as client among themselves), a client certificate, and a
//! second, unrelated CA to prove that a wrong CA is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use redis::cluster::ClusterClientBuilder;

use crate::harness::{PLUGIN, require};

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
        cmd.args(flags).env_remove("REDISCLI_AUTH");
        if let Some(password) = &self.password {
            cmd.env("REDISCLI_AUTH", password);
        }
        cmd
    }

    /// `redis-cli` with these flags.
    pub fn redis_cli(&self) -> Command {
        require("redis-cli");
        self.command("redis-cli", &self.flags())
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
    dir: Arc<tempfile::TempDir>,
}

impl TlsFiles {
    /// Generates the files; the node certificate names every IP in `ips` and [`Self::DNS_NAME`].
    pub fn generate(ips: &[&str]) -> Self {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`openssl` is not installed; `apt-get install openssl`"
        );
        let files = Self {
            dir: Arc::new(tempfile::tempdir().expect("temp dir for certificates")),
        };
        files.make_ca("ca");
        files.make_ca("other-ca");
        let mut sans: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
        sans.push(format!("DNS:{}", Self::DNS_NAME));
        files.make_leaf(
            "node",
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth,clientAuth\n",
                sans.join(",")
            ),
        );
        files.make_leaf("client", "extendedKeyUsage=clientAuth\n");
        files
    }

    /// The DNS name the node certificate carries besides the IPs (what `--tls-server-name`
    /// checks against).
    pub const DNS_NAME: &str = "redis-cluster.tls.test";

    /// A file in the dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
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

    /// A self-signed CA `name.crt` with its key.
    fn make_ca(&self, name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=redis-cluster-test-{name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// `name.crt` and `name.key`, signed by `ca`, with the X.509 extensions in `ext`.
    fn make_leaf(&self, name: &str, ext: &str) {
        let ext_file = self.path(&format!("{name}.ext"));
        std::fs::write(
            &ext_file,
            format!("{ext}basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"),
        )
        .expect("write the extensions file");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN=redis-cluster-test-{name}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }

    /// Runs `openssl` in the dir and asserts it succeeds.
    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
