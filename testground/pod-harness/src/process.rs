//! Starting and stopping one host `redis-server` process, with a pid file so that `down.sh` (or the
//! next harness run) can find servers left behind by a harness that was killed.

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running redis-server child.
#[derive(Debug)]
pub struct RedisProcess {
    /// The child process.
    child: Child,
    /// Its pid.
    pub pid: u32,
    /// Pid file written for it.
    pid_file: PathBuf,
    /// When it was started.
    pub started: Instant,
}

/// What to run.
#[derive(Debug)]
pub struct Spawn<'a> {
    /// `redis-server` binary.
    pub program: &'a Path,
    /// Config file path (first argument).
    pub conf_file: &'a Path,
    /// Remaining arguments.
    pub args: &'a [String],
    /// File receiving stdout/stderr (redis logs there too via `--logfile`).
    pub log_file: &'a Path,
    /// Pid file to write.
    pub pid_file: &'a Path,
}

/// Starts redis-server in its own process group (so a terminal's Ctrl-C reaches only the harness,
/// which then stops its children in order), killed if the harness drops it.
pub fn spawn(s: &Spawn<'_>) -> Result<RedisProcess> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.log_file)
        .with_context(|| format!("failed to open log file {}", s.log_file.display()))?;
    let log2 = log.try_clone().context("failed to clone log file handle")?;
    let child = Command::new(s.program)
        .arg(s.conf_file)
        .args(s.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("failed to run {}", s.program.display()))?;
    let pid = child.id().context("redis-server exited immediately")?;
    fs::write(s.pid_file, pid.to_string())
        .with_context(|| format!("failed to write {}", s.pid_file.display()))?;
    Ok(RedisProcess {
        child,
        pid,
        pid_file: s.pid_file.to_path_buf(),
        started: Instant::now(),
    })
}

impl RedisProcess {
    /// Waits until the server accepts TCP connections on `addr`, or fails if it exits first.
    pub async fn wait_listening(&mut self, addr: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("failed to poll redis-server")?
            {
                bail!("redis-server exited during startup ({status})");
            }
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server did not listen on {addr} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGTERM (redis saves and exits), then SIGKILL after `grace`; removes the pid file.
    pub async fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        let pid = i32::try_from(self.pid).context("pid out of range")?;
        if self.child.try_wait()?.is_none() {
            // ESRCH (already gone) is fine.
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(s) => s?,
            Err(_) => {
                self.child.start_kill()?;
                self.child.wait().await?
            }
        };
        let _ = fs::remove_file(&self.pid_file);
        Ok(status)
    }
}

/// Kills redis-servers recorded in `pid_dir` by an earlier harness run (SIGTERM, then SIGKILL),
/// checking the process name so a reused pid is left alone. Returns how many it signalled.
pub async fn kill_stale(pid_dir: &Path) -> Result<usize> {
    let mut killed = Vec::new();
    let Ok(entries) = fs::read_dir(pid_dir) else {
        return Ok(0);
    };
    for e in entries.flatten() {
        let path = e.path();
        let pid = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = fs::remove_file(&path);
        let Some(pid) = pid else { continue };
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "redis-server" && kill(Pid::from_raw(pid), Signal::SIGTERM).is_ok() {
            killed.push(pid);
        }
    }
    // Give them up to 10 s to save and exit, then SIGKILL.
    for _ in 0..100 {
        if killed
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in &killed {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    Ok(killed.len())
}

/// Last `n` lines of a log file (for error messages).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
