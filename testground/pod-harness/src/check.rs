//! Smoke checks of the API server's streaming paths as the plugin uses them, through kube-rs:
//! `check-portforward` sends PING over `Api::<Pod>::portforward` with a redis-rs
//! `MultiplexedConnection` built on the forwarded stream, and `check-exec` runs a command with
//! `Api::<Pod>::exec` and reports its output and exit status.

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use kube::{Api, Client};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// PINGs `ns/pod` on `port` through a kube-rs port-forward and prints what came back.
pub async fn portforward(ns: &str, pod: &str, port: u16, password: Option<&str>) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("failed to create a Kubernetes client")?;
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let mut pf = pods
        .portforward(pod, &[port])
        .await
        .with_context(|| format!("failed to open a port-forward to pod {ns}/{pod}:{port}"))?;
    let stream = pf
        .take_stream(port)
        .context("port-forward returned no stream")?;
    let server_error = pf.take_error(port);
    let mut info = RedisConnectionInfo::default();
    if let Some(pw) = password {
        info = info.set_password(pw);
    }
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    let result = async {
        let (mut conn, driver) = MultiplexedConnection::new_with_config(&info, stream, cfg)
            .await
            .context("failed to set up a redis connection over the forwarded stream")?;
        let driver = tokio::spawn(driver);
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("PING failed")?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .context("INFO failed")?;
        driver.abort();
        Ok::<_, anyhow::Error>((pong, info))
    }
    .await;
    match result {
        Ok((pong, info)) => {
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .unwrap_or("?")
                    .trim()
                    .to_string()
            };
            println!(
                "kube-rs portforward {ns}/{pod}:{port}: PING -> {pong} (redis_version={}, tcp_port={}, process_id={})",
                field("redis_version"),
                field("tcp_port"),
                field("process_id")
            );
            pf.abort();
            Ok(())
        }
        Err(e) => {
            // The server side of the forward may have said why (e.g. nothing listening).
            let why = match server_error {
                Some(f) => tokio::time::timeout(Duration::from_secs(2), f)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            pf.abort();
            match why {
                Some(msg) => Err(e.context(format!("port-forward error channel: {msg}"))),
                None => Err(e),
            }
        }
    }
}

/// Runs `command` in `ns/pod` (container `container`) with kube-rs exec; prints stdout, stderr
/// and the exit status; fails on a non-zero exit.
pub async fn exec(ns: &str, pod: &str, container: Option<&str>, command: &[String]) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("failed to create a Kubernetes client")?;
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let mut ap = AttachParams::default();
    if let Some(c) = container {
        ap = ap.container(c);
    }
    let mut proc = pods
        .exec(pod, command.to_vec(), &ap)
        .await
        .with_context(|| format!("failed to exec {command:?} in pod {ns}/{pod}"))?;
    let status = proc.take_status().context("no status channel")?;
    let mut out = proc.stdout().context("no stdout")?;
    let mut err = proc.stderr().context("no stderr")?;
    let (mut so, mut se) = (String::new(), String::new());
    tokio::try_join!(out.read_to_string(&mut so), err.read_to_string(&mut se))
        .context("failed to read exec output")?;
    let status = status.await;
    proc.join().await.context("exec stream failed")?;
    print!("{so}");
    eprint!("{se}");
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => {
            println!("kube-rs exec {ns}/{pod} {command:?}: exit 0");
            Ok(())
        }
        Some(s) => {
            let code = s
                .details
                .and_then(|d| d.causes)
                .into_iter()
                .flatten()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message);
            bail!(
                "kube-rs exec {ns}/{pod} {command:?}: {} (reason {:?}, exit code {:?}): {}",
                s.status.unwrap_or_default(),
                s.reason,
                code,
                s.message.unwrap_or_default()
            )
        }
        None => bail!("kube-rs exec {ns}/{pod} {command:?}: connection closed without a status"),
    }
}
