//! End-to-end check of TLS-only pods without Kubernetes: certificates made with `openssl` go
//! through the same steps as a mounted Secret (its files picked and written to host copies), the
//! pod's `redis.conf` through [`launch`], and a real `redis-server` must then answer PING over TLS
//! on the client port (and not in plain text), with a TLS cluster bus on port + 10000 (which
//! accepts a node's certificate).
//! Needs `openssl`, `redis-server` and `redis-cli` in PATH: the test fails without them.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use tokio::process::Command;

use crate::podspec::{FileMount, MountSource};
use crate::process::{self, Spawn};
use crate::redisconf::{LaunchInput, launch};
use crate::supervisor::{VolumeFiles, write_volumes};
use crate::testutil::{TempDir, require_program};

/// The pod IP the server binds to (any 127/8 address works on Linux without setup).
const IP: &str = "127.3.0.7";

/// The pod's redis.conf of a TLS-only StatefulSet, certificates from the Secret at /tls.
const TLS_CONF: &str = "\
port 0
tls-port 6379
tls-cluster yes
tls-replication yes
tls-auth-clients optional
tls-cert-file /tls/tls.crt
tls-key-file /tls/tls.key
tls-ca-cert-file /tls/ca.crt
cluster-enabled yes
cluster-config-file /data/nodes.conf
appendonly no
";

/// Runs `program args` with a 20 s limit and returns its output.
async fn run(program: &Path, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} timed out", program.display()))
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", program.display()))
}

/// Runs `openssl args` in `dir`, which must succeed.
async fn openssl(openssl: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA (`ca.crt`) and a server certificate for [`IP`] signed by it (`tls.crt`,
/// `tls.key`) in `dir`.
async fn make_certs(bin: &Path, dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-new", "-nodes", "-days", "1"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=pod-harness test CA",
    ]);
    openssl(bin, dir, &ca).await;
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=redis",
    ]);
    openssl(bin, dir, &csr).await;
    fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName=IP:{IP}\nextendedKeyUsage=serverAuth,clientAuth\n"),
    )
    .expect("write ext.cnf");
    let sign = [
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "tls.crt",
    ];
    openssl(bin, dir, &sign).await;
}

/// A client port on [`IP`] that is free, and whose bus port (+10000) is free too.
fn free_port() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind((IP, 0)).expect("bind a port on the test IP");
        let port = l.local_addr().expect("local addr").port();
        if let Some(bus) = port.checked_add(10000)
            && TcpListener::bind((IP, bus)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair on {IP}");
}

#[tokio::test]
async fn a_tls_only_pod_answers_over_tls_on_its_client_port_only() {
    let redis_server = require_program("redis-server");
    let redis_cli = require_program("redis-cli");
    let openssl_bin = require_program("openssl");
    let tmp = TempDir::new("tls");
    let certs = tmp.path().join("certs");
    fs::create_dir_all(&certs).expect("certs dir");
    make_certs(&openssl_bin, &certs).await;

    // The Secret `redis-cluster-tls` as the API returns it, mounted at /tls (every key).
    let mount = FileMount {
        source: MountSource::Secret("redis-cluster-tls".into()),
        mount_path: "/tls".into(),
        sub_path: None,
        items: vec![],
        optional: false,
    };
    let data: BTreeMap<String, Vec<u8>> = ["tls.crt", "tls.key", "ca.crt"]
        .into_iter()
        .map(|k| (k.to_string(), fs::read(certs.join(k)).expect("read cert")))
        .collect();
    let files = mount
        .files(&data)
        .expect("all keys present")
        .into_iter()
        .map(|(p, v)| (p, v.to_vec()))
        .collect();
    let pod_dir = tmp.path().join("volumes/rc/redis-tls-0");
    let mounted = write_volumes(
        &pod_dir,
        "uid-1",
        &[VolumeFiles {
            mount: &mount,
            files,
        }],
    )
    .expect("write the secret's host copy");
    let host_key = mounted[0].1.join("tls.key");
    let key_mode = fs::metadata(&host_key).expect("key").permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600);

    let port = free_port();
    let data_dir = tmp.path().join("data");
    fs::create_dir_all(&data_dir).expect("data dir");
    let (conf_file, log_file, pid_file) = (
        tmp.path().join("redis.conf"),
        tmp.path().join("redis.log"),
        tmp.path().join("redis.pid"),
    );
    let l = launch(&LaunchInput {
        config: Some(TLS_CONF),
        ip: IP,
        port,
        data_dir: &data_dir,
        log_file: &log_file,
        data_mount: Some("/data"),
        password: None,
        extra_args: &[],
        mounted_files: &mounted,
    });
    assert!(l.tls);
    assert!(
        l.conf_text
            .contains(&format!("\ntls-key-file {}\n", host_key.display())),
        "{}",
        l.conf_text
    );
    fs::write(&conf_file, &l.conf_text).expect("write conf");

    let mut proc = process::spawn(&Spawn {
        program: &redis_server,
        conf_file: &conf_file,
        args: &l.args,
        log_file: &log_file,
        pid_file: &pid_file,
    })
    .expect("spawn redis-server");
    let addr = format!("{IP}:{port}");
    if let Err(e) = proc.wait_listening(&addr, Duration::from_secs(15)).await {
        panic!(
            "{e:#}; args {:?}; log:\n{}",
            l.args,
            process::log_tail(&log_file, 20)
        );
    }
    let port_s = port.to_string();
    let ca = certs.join("ca.crt");
    let ca_s = ca.to_str().expect("utf-8 path");
    let (cert, key) = (certs.join("tls.crt"), certs.join("tls.key"));
    let (cert_s, key_s) = (
        cert.to_str().expect("utf-8 path"),
        key.to_str().expect("utf-8 path"),
    );

    let tls = run(
        &redis_cli,
        &["--tls", "--cacert", ca_s, "-h", IP, "-p", &port_s, "ping"],
    )
    .await;
    let plain = run(&redis_cli, &["-h", IP, "-p", &port_s, "ping"]).await;
    let bus = run(
        &openssl_bin,
        &[
            "s_client",
            "-connect",
            &format!("{IP}:{}", port + 10000),
            "-CAfile",
            ca_s,
            // The bus always asks for a client certificate; nodes present their own.
            "-cert",
            cert_s,
            "-key",
            key_s,
            "-verify_return_error",
            "-brief",
        ],
    )
    .await;
    let log = process::log_tail(&log_file, 20);
    proc.stop(Duration::from_secs(5)).await.expect("stop");

    assert_eq!(
        String::from_utf8_lossy(&tls.stdout).trim(),
        "PONG",
        "PING over TLS: {tls:?}; log:\n{log}"
    );
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("PONG"),
        "plain-text PING must not be answered: {plain:?}"
    );
    let bus_err = String::from_utf8_lossy(&bus.stderr);
    assert!(
        bus.status.success() && bus_err.contains("Verification: OK"),
        "the cluster bus must speak TLS with the pod's certificate: {bus_err}"
    );
}
