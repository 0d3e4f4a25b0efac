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
    assert!(path.exists(), "{} does not exist: run `make cluster-up`", path.display());
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
