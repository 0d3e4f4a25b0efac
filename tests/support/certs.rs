//! Certificates made per test with the `openssl` CLI, in a temp dir that lives as long as any
//! clone: self-signed CAs and leaf certificates signed by one of them. Shared by the
//! integration and e2e suites (each includes this file with `#[path]`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

/// A directory of PEM files: `NAME.crt` and `NAME.key` per CA or leaf.
#[derive(Clone, Debug)]
pub struct CertDir {
    dir: Arc<tempfile::TempDir>,
}

impl CertDir {
    /// An empty directory; fails the test when `openssl` is missing.
    pub fn new() -> Self {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`openssl` is not installed; `apt-get install openssl`"
        );
        Self {
            dir: Arc::new(tempfile::tempdir().expect("temp dir for certificates")),
        }
    }

    /// A file in the dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A self-signed CA `name.crt` with its key.
    pub fn make_ca(&self, name: &str) {
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

    /// `name.crt` and `name.key`, signed by the CA `ca`, with the X.509 extensions in `ext`
    /// (lines such as `subjectAltName=...`).
    pub fn make_leaf(&self, name: &str, ca: &str, ext: &str) {
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
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
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
