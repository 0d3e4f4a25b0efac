//! krew's plugin manifest and its validation rules.
//!
//! The structural rules follow krew v0.4.3 `internal/index/validation`
//! (`ValidatePlugin`, `validatePlatform`, `validateFiles`,
//! `validateSelector`) and `cmd/validate-krew-manifest` (every platform
//! matches a supported os/arch, no two platforms match the same one, a
//! LICENSE is installed). Conventions of the krew-index that krew does not
//! check itself are marked as such in their messages.

use super::*;

/// Placeholder sha256 of a platform whose archive has not been built yet
/// (see `release/build.sh`). It has the form of a sha256, so krew still
/// accepts the manifest and installs the platforms that were built; the
/// line carrying it is marked [`NOT_BUILT_MARK`].
pub const PLACEHOLDER_SHA256: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";
/// The comment that marks a placeholder sha256 line.
pub const NOT_BUILT_MARK: &str = "NOT BUILT";
/// `<os, arch>` pairs krew knows (`allPlatforms` in validate-krew-manifest).
pub const KREW_PLATFORMS: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];
/// Names krew accepts as a license file (`licenseFiles`).
const LICENSE_NAMES: &[&str] = &[
    "license",
    "license.txt",
    "license.md",
    "licenses",
    "licenses.txt",
    "licenses.md",
    "copying",
    "copying.txt",
];
/// Windows device names krew refuses as plugin names.
const WINDOWS_FORBIDDEN: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];
/// krew's convention for `shortDescription` length.
pub const SHORT_DESCRIPTION_MAX: usize = 50;

/// `index.Plugin`. Unknown fields are rejected: krew would ignore them,
/// which hides typos such as `sha265`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plugin {
    /// Must be `krew.googlecontainertools.github.com/v1alpha2`.
    pub api_version: String,
    /// Must be `Plugin`.
    pub kind: String,
    /// Only `name` is used.
    pub metadata: Metadata,
    /// The plugin proper.
    pub spec: Spec,
}

/// `metadata` of a plugin manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The plugin's name; `kubectl <name>` runs it.
    #[serde(default)]
    pub name: String,
}

/// `index.PluginSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Spec {
    /// `vMAJOR.MINOR.PATCH`.
    pub version: String,
    /// One line for `kubectl krew search`.
    pub short_description: String,
    /// Longer text for `kubectl krew info`.
    pub description: String,
    /// Shown after install.
    pub caveats: String,
    /// Project page.
    pub homepage: String,
    /// One entry per supported os/arch.
    pub platforms: Vec<Platform>,
}

/// `index.Platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Archive download address.
    #[serde(default)]
    pub uri: String,
    /// Lower-case hex sha256 of the archive.
    #[serde(default)]
    pub sha256: String,
    /// Which os/arch this entry is for.
    pub selector: Option<LabelSelector>,
    /// What to copy out of the archive; `None` means everything.
    pub files: Option<Vec<FileOperation>>,
    /// The executable, relative to the installation directory.
    #[serde(default)]
    pub bin: String,
}

/// `index.FileOperation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOperation {
    /// Path or glob in the archive.
    #[serde(default)]
    pub from: String,
    /// Destination directory (or path) in the installation directory.
    #[serde(default)]
    pub to: String,
}

/// Reads and parses `plugin.yaml`.
pub fn plugin_yaml() -> Plugin {
    parse(&load::read("plugin.yaml"))
}

/// Parses a plugin manifest.
pub fn parse(text: &str) -> Plugin {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not a krew plugin manifest: {e}"))
}

/// Every rule `p` breaks, as messages; empty when the manifest is valid.
/// `expected_name` plays the role of the index file name.
pub fn violations(expected_name: &str, p: &Plugin) -> Vec<String> {
    let mut out = Vec::new();
    let mut fail = |msg: String| out.push(msg);
    if p.api_version != "krew.googlecontainertools.github.com/v1alpha2" {
        fail(format!("apiVersion {:?} is not supported", p.api_version));
    }
    if p.kind != "Plugin" {
        fail(format!("kind {:?} is not Plugin", p.kind));
    }
    if !is_safe_plugin_name(&p.metadata.name) {
        fail(format!("plugin name {:?} is not allowed", p.metadata.name));
    }
    if p.metadata.name != expected_name {
        fail(format!(
            "plugin should be named {expected_name:?}, not {:?}",
            p.metadata.name
        ));
    }
    spec_violations(&p.spec, &mut fail);
    for (i, platform) in p.spec.platforms.iter().enumerate() {
        for problem in platform_violations(platform) {
            fail(format!("platform {i}: {problem}"));
        }
    }
    coverage_violations(&p.spec.platforms, &mut fail);
    out
}

/// Rules on the spec's own fields.
fn spec_violations(spec: &Spec, fail: &mut impl FnMut(String)) {
    if spec.short_description.is_empty() {
        fail("should have a short description".into());
    }
    if spec.short_description.contains(['\r', '\n']) {
        fail("should not have line breaks in short description".into());
    }
    if spec.short_description.chars().count() > SHORT_DESCRIPTION_MAX {
        fail(format!(
            "short description is longer than {SHORT_DESCRIPTION_MAX} characters (krew convention)"
        ));
    }
    if spec.platforms.is_empty() {
        fail("should have a platform specified".into());
    }
    if spec.version.is_empty() {
        fail("should have a version specified".into());
    } else if !is_semver_with_v(&spec.version) {
        fail(format!(
            "version {:?} is not v-prefixed semver",
            spec.version
        ));
    }
    if !spec.homepage.starts_with("https://") {
        fail("homepage should be an https:// address (krew-index convention)".into());
    }
}

/// `validatePlatform`, plus the https and bin conventions.
pub fn platform_violations(p: &Platform) -> Vec<String> {
    let mut out = Vec::new();
    if p.uri.is_empty() {
        out.push("`uri` has to be set".into());
    } else if !p.uri.starts_with("https://") {
        out.push(format!(
            "uri {:?} is not https (krew-index convention)",
            p.uri
        ));
    }
    if p.sha256.is_empty() {
        out.push("`sha256` sum has to be set".into());
    } else if !(p.sha256.len() == 64
        && p.sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        out.push(format!(
            "`sha256` value {} is not valid, must match ^[a-f0-9]{{64}}$",
            p.sha256
        ));
    }
    if p.bin.is_empty() {
        out.push("`bin` has to be set".into());
    }
    if let Some(files) = &p.files {
        if files.is_empty() {
            out.push("`files` has to be unspecified or non-empty".into());
        }
        if files.iter().any(|f| f.from.is_empty() || f.to.is_empty()) {
            out.push("`from` and `to` fields have to be set".into());
        }
        if !p.bin.is_empty() && !installs(files, &p.bin) {
            out.push(format!("no `files` entry installs bin {:?}", p.bin));
        }
        if !LICENSE_NAMES.iter().any(|l| installs(files, l)) {
            out.push("no LICENSE file is installed (validate-krew-manifest)".into());
        }
    }
    out.extend(selector_violations(p.selector.as_ref()));
    out
}

/// Whether a `files` entry puts `name` (a file at the archive root) at
/// the root of the installation directory, case-insensitively for
/// license names as krew compares them.
fn installs(files: &[FileOperation], name: &str) -> bool {
    files.iter().any(|f| {
        let from_matches = f.from == "*" || f.from.eq_ignore_ascii_case(name);
        (from_matches && (f.to == "." || f.to == "./"))
            || (f.to.eq_ignore_ascii_case(name) && !f.from.contains('*'))
    })
}

/// `validateSelector`.
fn selector_violations(sel: Option<&LabelSelector>) -> Vec<String> {
    let Some(sel) = sel else {
        return vec!["nil selector is not supported".into()];
    };
    let mut out = Vec::new();
    let expressions = sel.match_expressions.as_deref().unwrap_or_default();
    if sel.match_labels.is_none() && expressions.is_empty() {
        out.push("empty selector is not supported".into());
    }
    let keys = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .chain(expressions.iter().map(|e| &e.key));
    for key in keys.filter(|k| *k != "os" && *k != "arch") {
        out.push(format!("key {key:?} not supported"));
    }
    if sel.match_labels.as_ref().is_some_and(BTreeMap::is_empty) {
        out.push("`matchLabels` specified but empty".into());
    }
    if sel.match_expressions.as_ref().is_some_and(Vec::is_empty) {
        out.push("`matchExpressions` specified but empty".into());
    }
    out
}

/// validate-krew-manifest: every platform matches a pair krew knows, and
/// no pair is matched twice.
fn coverage_violations(platforms: &[Platform], fail: &mut impl FnMut(String)) {
    for (i, p) in platforms.iter().enumerate() {
        if !KREW_PLATFORMS
            .iter()
            .any(|(os, arch)| matches(p.selector.as_ref(), os, arch))
        {
            fail(format!(
                "platform {i}'s selector doesn't match any supported platform"
            ));
        }
    }
    for (os, arch) in KREW_PLATFORMS {
        let hits: Vec<usize> = platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| matches(p.selector.as_ref(), os, arch))
            .map(|(i, _)| i)
            .collect();
        if hits.len() > 1 {
            fail(format!(
                "platforms {hits:?} have overlapping selectors that select {os}/{arch}"
            ));
        }
    }
}

/// Whether `sel` selects the labels `{os, arch}` (Kubernetes label
/// selector semantics). A nil selector selects nothing.
pub fn matches(sel: Option<&LabelSelector>, os: &str, arch: &str) -> bool {
    let Some(sel) = sel else { return false };
    let labels = BTreeMap::from([("os", os), ("arch", arch)]);
    let label = |k: &str| labels.get(k).copied();
    let by_labels = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label(k) == Some(v.as_str()));
    let by_expressions = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = label(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
            "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// `IsSafePluginName`: `^[\w-]+$` (Go's `\w` is ASCII) and not a Windows
/// device name.
fn is_safe_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|w| w.eq_ignore_ascii_case(name))
}

/// krew's `semver.Parse`: a `v` prefix, then Kubernetes' `ParseSemantic`
/// (MAJOR.MINOR.PATCH with optional `-pre` and `+build`).
fn is_semver_with_v(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let (core, _build) = rest.split_once('+').unwrap_or((rest, ""));
    let (core, pre) = core
        .split_once('-')
        .map_or((core, None), |(c, p)| (c, Some(p)));
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| numeric(p)) && pre.is_none_or(|p| !p.is_empty())
}

/// The `os` and `arch` a platform selects through `matchLabels`.
pub fn os_arch(p: &Platform) -> (String, String) {
    let labels = p
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .expect("matchLabels");
    let get = |k: &str| {
        labels
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("selector has no {k}"))
    };
    (get("os"), get("arch"))
}
