//! Turns a pod's `redis.conf` (from its ConfigMap) and container args into the config file and
//! command line of a host redis-server: the pod's own settings are kept, while everything that
//! ties the server to this host (bind address, ports, data dir, log file, daemonizing, pid file,
//! the cluster config file path) is set by the harness. A pod that sets a `tls-port` gets a
//! TLS-only server on its client port, and paths into its mounted Secrets (certificates, keys)
//! point to the host copies of those files. Pure functions, unit-tested.

use std::path::{Path, PathBuf};

/// Directives the harness always decides itself; they are dropped from the pod's config file and
/// from its extra args.
/// (`port`/`tls-port`: the harness serves the pod's client port, in plain text or, when the pod
/// sets a non-zero `tls-port`, TLS only.)
const HOST_BOUND: &[&str] = &[
    "bind",
    "bind-source-addr",
    "port",
    "tls-port",
    "dir",
    "daemonize",
    "logfile",
    "pidfile",
    "cluster-config-file",
    "include",
    "supervised",
    "unixsocket",
    "unixsocketperm",
];

/// Directives that the auth env var (`REDIS_PASSWORD`) overrides when it is set.
const AUTH: &[&str] = &["requirepass", "masterauth"];

/// Inputs for one redis-server launch.
#[derive(Debug, Clone)]
pub struct LaunchInput<'a> {
    /// The pod's `redis.conf` text, if it mounts one.
    pub config: Option<&'a str>,
    /// Pod IP to bind to.
    pub ip: &'a str,
    /// Client port.
    pub port: u16,
    /// Host data directory (stands in for the PVC).
    pub data_dir: &'a Path,
    /// Host log file.
    pub log_file: &'a Path,
    /// Where the PVC is mounted in the container (`/data`), to map absolute paths into `data_dir`.
    pub data_mount: Option<&'a str>,
    /// Password from the container's `REDIS_PASSWORD`, if any.
    pub password: Option<&'a str>,
    /// Extra `--option value...` args from the container, already `$(VAR)`-expanded.
    pub extra_args: &'a [String],
    /// Mounted Secret volumes as (mount path in the container, host directory holding the same
    /// files): a config value or arg that is an absolute path inside a mount path is replaced by
    /// the host path of that file (the longest matching mount path wins).
    pub mounted_files: &'a [(String, PathBuf)],
}

/// The config file text and the command-line args (after the config file path) for redis-server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Config file content.
    pub conf_text: String,
    /// Arguments following the config file path.
    pub args: Vec<String>,
    /// The server speaks TLS only (`--port 0 --tls-port <client port>`).
    pub tls: bool,
}

/// First word of a config line, lowercased (`None` for blanks and comments).
fn directive(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    t.split_whitespace().next().map(str::to_ascii_lowercase)
}

/// Maps a container path of the cluster config file to a path relative to the data dir.
fn cluster_config_rel(value: &str, data_mount: Option<&str>) -> String {
    let value = value.trim().trim_matches('"');
    if let Some(mount) = data_mount {
        let base = mount.trim_end_matches('/');
        if let Some(rel) = value.strip_prefix(base).and_then(|r| r.strip_prefix('/'))
            && !rel.is_empty()
        {
            return rel.to_string();
        }
    }
    value.rsplit('/').next().unwrap_or("nodes.conf").to_string()
}

/// The host path of container path `value` if it is absolute and inside one of the `mounts`
/// (the longest mount path wins); `None` for other values and for paths with `..` components.
fn host_path(value: &str, mounts: &[(String, PathBuf)]) -> Option<PathBuf> {
    if !value.starts_with('/') || value.split('/').any(|c| c == "..") {
        return None;
    }
    mounts
        .iter()
        .filter_map(|(mount, host)| {
            let base = mount.trim_end_matches('/');
            let rel = match value.strip_prefix(base)? {
                "" => "",
                r => r.strip_prefix('/')?,
            };
            let rel = rel.trim_end_matches('/');
            Some((
                base.len(),
                if rel.is_empty() {
                    host.clone()
                } else {
                    host.join(rel)
                },
            ))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

/// `word` without one pair of surrounding quotes (`"..."` or `'...'`), as redis reads it.
fn unquote(word: &str) -> &str {
    for q in ['"', '\''] {
        if word.len() >= 2
            && let Some(inner) = word.strip_prefix(q).and_then(|w| w.strip_suffix(q))
        {
            return inner;
        }
    }
    word
}

/// `value` as one word of a redis config line (double-quoted and escaped when it has to be).
fn conf_word(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'));
    if plain {
        return value.to_string();
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// A config line with every value that is a path inside a mount replaced by its host path
/// (unchanged, including its spacing, when there is none).
fn map_line_paths(line: &str, mounts: &[(String, PathBuf)]) -> String {
    let mut changed = false;
    let words: Vec<String> = line
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| match host_path(unquote(w), mounts) {
            Some(p) if i > 0 => {
                changed = true;
                conf_word(&p.display().to_string())
            }
            _ => w.to_string(),
        })
        .collect();
    if changed {
        words.join(" ")
    } else {
        line.to_string()
    }
}

/// Whether the pod asks for TLS: the value of its last `tls-port` config line, overridden by a
/// `--tls-port` arg (as redis-server reads them), is set and not 0.
fn wants_tls(config: Option<&str>, extra: &[String]) -> bool {
    let mut tls_port: Option<String> = None;
    for line in config.unwrap_or("").lines() {
        if directive(line).as_deref() == Some("tls-port") {
            tls_port = line
                .split_whitespace()
                .nth(1)
                .map(|v| unquote(v).to_string());
        }
    }
    for (i, a) in extra.iter().enumerate() {
        if a.eq_ignore_ascii_case("--tls-port")
            && let Some(v) = extra.get(i + 1).filter(|v| !v.starts_with("--"))
        {
            tls_port = Some(v.clone());
        }
    }
    tls_port.is_some_and(|v| v.parse::<u64>() != Ok(0))
}

/// Builds the config text and command line for `input`.
pub fn launch(input: &LaunchInput<'_>) -> Launch {
    let tls = wants_tls(input.config, input.extra_args);
    let mut conf_text = String::from("# generated by pod-harness from the pod's redis.conf\n");
    let mut cluster_config = None;
    for line in input.config.unwrap_or("").lines() {
        match directive(line) {
            Some(d) if d == "cluster-config-file" => {
                let value = line.trim_start()["cluster-config-file".len()..].to_string();
                cluster_config = Some(cluster_config_rel(&value, input.data_mount));
                conf_text.push_str(&format!("# (set on the command line) {line}\n"));
            }
            Some(d) if HOST_BOUND.contains(&d.as_str()) => {
                conf_text.push_str(&format!("# (set on the command line) {line}\n"));
            }
            Some(d) if input.password.is_some() && AUTH.contains(&d.as_str()) => {
                conf_text.push_str("# (auth set on the command line from REDIS_PASSWORD)\n");
            }
            _ => {
                conf_text.push_str(&map_line_paths(line, input.mounted_files));
                conf_text.push('\n');
            }
        }
    }
    // Pods on the ground share the host's loopback; a pod in its own network namespace sends
    // from its pod IP. `bind-source-addr` makes the bus and replication connections do the same,
    // so a manifest without `cluster-announce-ip` is seen by its peers at its pod IP, as on
    // real pods (not at 127.0.0.1).
    let mut args: Vec<String> = vec![
        "--bind".into(),
        input.ip.into(),
        "--bind-source-addr".into(),
        input.ip.into(),
    ];
    if tls {
        args.extend([
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            input.port.to_string(),
        ]);
    } else {
        args.extend(["--port".into(), input.port.to_string()]);
    }
    args.extend([
        "--dir".into(),
        input.data_dir.display().to_string(),
        "--daemonize".into(),
        "no".into(),
        "--logfile".into(),
        input.log_file.display().to_string(),
    ]);
    if let Some(rel) = cluster_config {
        args.extend(["--cluster-config-file".into(), rel]);
    }
    if let Some(pw) = input.password {
        args.extend([
            "--requirepass".into(),
            pw.into(),
            "--masterauth".into(),
            pw.into(),
        ]);
    }
    args.extend(
        filter_extra_args(input.extra_args, input.password.is_some())
            .into_iter()
            .map(|a| match host_path(&a, input.mounted_files) {
                Some(p) => p.display().to_string(),
                None => a,
            }),
    );
    Launch {
        conf_text,
        args,
        tls,
    }
}

/// Drops `--option values...` groups for host-bound options (and auth ones when the env sets it).
fn filter_extra_args(extra: &[String], auth_from_env: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut keep = true;
    for a in extra {
        if let Some(name) = a.strip_prefix("--") {
            let name = name.to_ascii_lowercase();
            let host_bound = HOST_BOUND.contains(&name.as_str());
            let auth = auth_from_env && AUTH.contains(&name.as_str());
            keep = !(host_bound || auth);
        }
        if keep {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "cluster-enabled yes\ncluster-config-file /data/nodes.conf\nbind 0.0.0.0\n\
                        port 6379\ndir /data\nappendonly yes\ncluster-node-timeout 5000\nrequirepass old\n";

    /// Launch input for the manifests' style of config.
    fn input<'a>(password: Option<&'a str>, extra: &'a [String]) -> LaunchInput<'a> {
        LaunchInput {
            config: Some(CONF),
            ip: "127.1.0.4",
            port: 6379,
            data_dir: Path::new("/d/rc/data-redis-0"),
            log_file: Path::new("/l/rc_redis-0.log"),
            data_mount: Some("/data"),
            password,
            extra_args: extra,
            mounted_files: &[],
        }
    }

    /// A TLS-only pod config as in the plugin's TLS manifests (certificates from a Secret at /tls).
    const TLS_CONF: &str = "port 0\ntls-port 6379\ntls-cluster yes\ntls-replication yes\n\
                            tls-auth-clients optional\ntls-cert-file /tls/tls.crt\n\
                            tls-key-file /tls/tls.key\ntls-ca-cert-file /tls/ca.crt\n\
                            cluster-enabled yes\n";

    /// Launch input for `config` and `extra` args, with the Secret at /tls copied to /h/tls.
    fn tls_input<'a>(
        config: &'a str,
        extra: &'a [String],
        mounts: &'a [(String, PathBuf)],
    ) -> LaunchInput<'a> {
        LaunchInput {
            config: Some(config),
            extra_args: extra,
            mounted_files: mounts,
            ..input(None, &[])
        }
    }

    /// The Secret at /tls, copied to /h/tls on the host.
    fn tls_mount() -> Vec<(String, PathBuf)> {
        vec![("/tls".to_string(), PathBuf::from("/h/tls"))]
    }

    /// `--x a b` style args.
    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn host_bound_directives_move_to_the_command_line() {
        let l = launch(&input(None, &[]));
        assert!(l.conf_text.contains("\ncluster-enabled yes\n"));
        assert!(l.conf_text.contains("\nappendonly yes\n"));
        assert!(
            l.conf_text.contains("\nrequirepass old\n"),
            "no env password: keep the file's"
        );
        assert!(!l.conf_text.contains("\nbind 0.0.0.0"));
        assert!(!l.conf_text.contains("\ndir /data"));
        let args = l.args.join(" ");
        assert!(
            args.starts_with(
                "--bind 127.1.0.4 --bind-source-addr 127.1.0.4 --port 6379 --dir /d/rc/data-redis-0 --daemonize no"
            ),
            "{args}"
        );
        assert!(args.contains("--cluster-config-file nodes.conf"));
        assert!(!l.tls, "no tls-port: plain text");
        assert!(!args.contains("--tls-port"));
    }

    #[test]
    fn a_tls_port_in_the_config_makes_the_client_port_tls_only() {
        let mounts = tls_mount();
        let l = launch(&tls_input(TLS_CONF, &[], &mounts));
        assert!(l.tls);
        let args = l.args.join(" ");
        assert!(
            args.starts_with(
                "--bind 127.1.0.4 --bind-source-addr 127.1.0.4 --port 0 --tls-port 6379 --dir "
            ),
            "{args}"
        );
        assert!(
            !l.conf_text.contains("\nport 0"),
            "the pod's port line goes"
        );
        assert!(
            !l.conf_text.contains("\ntls-port"),
            "so does its tls-port line"
        );
        assert!(
            l.conf_text.contains("\ntls-cluster yes\n"),
            "the bus speaks TLS too"
        );
        assert!(l.conf_text.contains("\ntls-replication yes\n"));
        assert!(l.conf_text.contains("\ntls-auth-clients optional\n"));
    }

    #[test]
    fn the_tls_port_is_the_pods_client_port_whatever_the_config_says() {
        let conf = TLS_CONF.replace("tls-port 6379", "tls-port 6380");
        let l = launch(&LaunchInput {
            port: 7000,
            ..tls_input(&conf, &[], &[])
        });
        assert!(l.args.join(" ").contains("--port 0 --tls-port 7000 "));
    }

    #[test]
    fn a_tls_port_arg_makes_the_server_tls_only_too() {
        let extra = strings(&["--tls-port", "6379", "--port", "0", "--tls-cluster", "yes"]);
        let l = launch(&input(None, &extra));
        assert!(l.tls);
        let args = l.args.join(" ");
        assert!(args.contains("--port 0 --tls-port 6379 --dir "), "{args}");
        assert_eq!(args.matches("--tls-port").count(), 1, "{args}");
        assert_eq!(args.matches("--port").count(), 1, "{args}");
        assert!(args.ends_with("--tls-cluster yes"), "{args}");
    }

    #[test]
    fn a_zero_tls_port_keeps_plain_text_and_args_override_the_config() {
        let off = launch(&tls_input("tls-port 0\n", &[], &[]));
        assert!(!off.tls);
        assert!(off.args.join(" ").contains("--port 6379 --dir "));
        let extra = strings(&["--tls-port", "0"]);
        assert!(!launch(&tls_input(TLS_CONF, &extra, &[])).tls);
        let extra = strings(&["--tls-port", "6379"]);
        assert!(launch(&tls_input("tls-port 0\n", &extra, &[])).tls);
    }

    #[test]
    fn paths_inside_a_mounted_secret_point_to_its_host_copy() {
        let conf =
            format!("{TLS_CONF}tls-ca-cert-dir \"/tls/\"\ntls-dh-params-file /etc/ssl/dh.pem\n");
        let extra = strings(&["--tls-client-key-file", "/tls/client.key"]);
        let mounts = tls_mount();
        let l = launch(&tls_input(&conf, &extra, &mounts));
        assert!(l.conf_text.contains("\ntls-cert-file /h/tls/tls.crt\n"));
        assert!(l.conf_text.contains("\ntls-key-file /h/tls/tls.key\n"));
        assert!(l.conf_text.contains("\ntls-ca-cert-file /h/tls/ca.crt\n"));
        assert!(
            l.conf_text.contains("\ntls-ca-cert-dir /h/tls\n"),
            "the mount dir itself, quotes dropped"
        );
        assert!(
            l.conf_text
                .contains("\ntls-dh-params-file /etc/ssl/dh.pem\n"),
            "outside the mounts: unchanged"
        );
        assert!(
            l.args
                .join(" ")
                .ends_with("--tls-client-key-file /h/tls/client.key")
        );
    }

    #[test]
    fn without_mounts_lines_are_kept_verbatim() {
        let l = launch(&tls_input("tls-cert-file   /tls/tls.crt  \n", &[], &[]));
        assert!(l.conf_text.contains("\ntls-cert-file   /tls/tls.crt  \n"));
    }

    #[test]
    fn the_longest_mount_wins_and_only_absolute_paths_inside_a_mount_map() {
        let mounts = vec![
            ("/tls".to_string(), PathBuf::from("/h/0")),
            ("/tls/ca/".to_string(), PathBuf::from("/h/1")),
        ];
        let map = |v: &str| host_path(v, &mounts).map(|p| p.display().to_string());
        assert_eq!(map("/tls/tls.crt").as_deref(), Some("/h/0/tls.crt"));
        assert_eq!(map("/tls/ca/ca.crt").as_deref(), Some("/h/1/ca.crt"));
        assert_eq!(map("/tls/ca").as_deref(), Some("/h/1"));
        assert_eq!(map("/tlsx/tls.crt"), None);
        assert_eq!(map("tls/tls.crt"), None);
        assert_eq!(map("/tls/../etc/passwd"), None);
        assert_eq!(map("yes"), None);
    }

    #[test]
    fn a_host_path_with_spaces_is_quoted_in_the_config_file() {
        let mounts = vec![("/tls".to_string(), PathBuf::from("/my state/tls"))];
        let l = launch(&tls_input("tls-cert-file /tls/tls.crt\n", &[], &mounts));
        assert!(
            l.conf_text
                .contains("\ntls-cert-file \"/my state/tls/tls.crt\"\n"),
            "{}",
            l.conf_text
        );
        assert_eq!(conf_word(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn env_password_overrides_the_files_auth() {
        let l = launch(&input(Some("s3cret"), &[]));
        assert!(!l.conf_text.contains("requirepass old"));
        assert!(
            l.args
                .join(" ")
                .contains("--requirepass s3cret --masterauth s3cret")
        );
    }

    #[test]
    fn extra_args_keep_pod_options_and_drop_host_bound_ones() {
        let extra: Vec<String> = [
            "--cluster-announce-ip",
            "127.1.0.4",
            "--bind",
            "0.0.0.0",
            "::",
            "--maxmemory",
            "10mb",
        ]
        .map(String::from)
        .to_vec();
        let l = launch(&input(None, &extra));
        let args = l.args.join(" ");
        assert!(
            args.ends_with("--cluster-announce-ip 127.1.0.4 --maxmemory 10mb"),
            "{args}"
        );
    }

    #[test]
    fn cluster_config_outside_the_data_mount_keeps_its_file_name() {
        assert_eq!(
            cluster_config_rel(" /data/sub/nodes.conf", Some("/data/")),
            "sub/nodes.conf"
        );
        assert_eq!(
            cluster_config_rel(" /etc/x/nodes-6379.conf", Some("/data")),
            "nodes-6379.conf"
        );
        assert_eq!(cluster_config_rel(" nodes.conf", None), "nodes.conf");
    }
}
