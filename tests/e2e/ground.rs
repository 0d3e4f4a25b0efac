//! Access to the running test ground (see testground/README.md): its kubeconfig and kubectl,
//! and a namespace per test that is deleted when the test ends, even on panic.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The test ground's kubeconfig; `make e2e` sets `TESTGROUND_KUBECONFIG`.
pub fn kubeconfig() -> PathBuf {
    let path = std::env::var_os("TESTGROUND_KUBECONFIG")
        .map(PathBuf::from)
        .expect("TESTGROUND_KUBECONFIG is not set: run the e2e suite with `make e2e`");
    assert!(
        path.exists(),
        "{} does not exist: run `make cluster-up`",
        path.display()
    );
    path
}

/// The test ground's kubectl (v1.36, built with the control plane).
pub fn kubectl_path() -> PathBuf {
    let dir = std::env::var_os("TESTGROUND_BIN")
        .map(PathBuf::from)
        .expect("TESTGROUND_BIN is not set: run the e2e suite with `make e2e`");
    dir.join("kubectl")
}

/// Runs kubectl against the test ground.
pub fn kubectl(args: &[&str]) -> Output {
    Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(args)
        .output()
        .expect("run kubectl")
}

/// Runs kubectl and asserts it succeeded; returns stdout.
pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace owned by one test.
pub struct Namespace {
    /// Its name.
    pub name: String,
}

impl Namespace {
    /// Creates `e2e-<prefix>-<pid>-<n>`.
    pub fn create(prefix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "e2e-{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        kubectl_ok(&["create", "namespace", &name]);
        Self { name }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// The repository root (manifests live there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl apply -k manifests/overlays/<overlay> -n <ns>`.
pub fn apply_overlay(overlay: &str, ns: &str) {
    let dir = repo().join("manifests/overlays").join(overlay);
    kubectl_ok(&["apply", "-k", dir.to_str().expect("utf-8 path"), "-n", ns]);
}

/// What a plugin run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the plugin binary with the test ground's kubeconfig in `KUBECONFIG`, as a kubectl
/// user would have it; `--kubeconfig` in `args` wins over it.
pub fn plugin(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .env_remove("REDISCLI_AUTH")
        .args(args)
        .output()
        .expect("run the plugin");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the plugin like [`plugin`] with `env` added to its environment.
pub fn plugin_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .env_remove("REDISCLI_AUTH")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run the plugin");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts the plugin with `args` like [`plugin`] and SIGKILLs it after `delay`; returns
/// whether it was still running then (false: it finished first, the kill came too late).
pub fn plugin_killed_after(args: &[&str], delay: std::time::Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .env_remove("REDISCLI_AUTH")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the plugin");
    let deadline = std::time::Instant::now() + delay;
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("poll the plugin").is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// A small deterministic random sequence (xorshift64*) for seeded fault moments; the seed
/// comes from `E2E_SEED` when set (to replay a failure), else from the clock, and is printed.
pub struct Seeded(u64);

impl Seeded {
    /// Seeds from `E2E_SEED` or the clock, printing the seed.
    pub fn from_env(what: &str) -> Self {
        let seed = std::env::var("E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock after 1970")
                    .as_nanos() as u64
            });
        eprintln!("{what}: E2E_SEED={seed}");
        Self(seed.max(1))
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// Runs the plugin and asserts it exited 0; returns stdout.
pub fn plugin_ok(args: &[&str]) -> String {
    let run = plugin(args);
    assert_eq!(
        run.code, 0,
        "plugin {args:?} failed:\n{}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

/// The test ground kubeconfig's current context.
pub fn context_name() -> String {
    kubectl_ok(&["config", "current-context"])
        .trim()
        .to_string()
}

/// A kubeconfig next to the test ground's, with the admin's credentials but impersonating
/// users: context `operator` is user `e2e-operator` in group `redis-cluster-operators` (what
/// manifests/base/rbac-plugin-user.yaml binds), context `nobody` is `e2e-nobody` with no rights,
/// context `restricted` is `e2e-restricted`, with whatever a test binds to that user.
pub fn impersonating_kubeconfig(dir: &std::path::Path) -> PathBuf {
    let field = |path: &str| {
        kubectl_ok(&[
            "config",
            "view",
            "--raw",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };
    let server = field(".clusters[0].cluster.server");
    let ca = field(".clusters[0].cluster.certificate-authority");
    let cert = field(".users[0].user.client-certificate");
    let key = field(".users[0].user.client-key");
    let text = format!(
        r#"apiVersion: v1
kind: Config
current-context: operator
clusters:
  - name: ground
    cluster: {{server: "{server}", certificate-authority: "{ca}"}}
users:
  - name: operator
    user: {{client-certificate: "{cert}", client-key: "{key}", as: e2e-operator, as-groups: [redis-cluster-operators]}}
  - name: nobody
    user: {{client-certificate: "{cert}", client-key: "{key}", as: e2e-nobody}}
  - name: restricted
    user: {{client-certificate: "{cert}", client-key: "{key}", as: e2e-restricted}}
contexts:
  - name: operator
    context: {{cluster: ground, user: operator}}
  - name: nobody
    context: {{cluster: ground, user: nobody}}
  - name: restricted
    context: {{cluster: ground, user: restricted}}
"#
    );
    let path = dir.join("impersonating-kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// Applies the plugin user's Role and bindings (an admin's step) to `ns`.
pub fn grant_plugin_role(ns: &str) {
    let rbac = repo().join("manifests/base/rbac-plugin-user.yaml");
    kubectl_ok(&["apply", "-n", ns, "-f", rbac.to_str().expect("utf-8 path")]);
}

/// Polls `probe` every 200 ms until it returns a value; panics after 60 s naming `what`.
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
