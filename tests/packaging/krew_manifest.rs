//! krew: plugin.yaml against krew's rules and this project's release layout.

use super::*;

/// The repository's name for the plugin, as krew-index would file it.
const PLUGIN_NAME: &str = "redis-cluster";
/// The executable krew links as `kubectl-redis_cluster`.
const BIN: &str = "kubectl-redis_cluster";
/// Where release archives are published.
const RELEASES: &str =
    "https://github.com/redis-cluster-plugin/kubectl-redis-cluster/releases/download";

#[test]
fn plugin_yaml_passes_krew_validation() {
    let problems = krew::violations(PLUGIN_NAME, &krew::plugin_yaml());
    assert!(problems.is_empty(), "plugin.yaml: {problems:#?}");
}

#[test]
fn plugin_yaml_covers_linux_and_darwin_on_amd64_and_arm64() {
    let p = krew::plugin_yaml();
    let found: BTreeSet<(String, String)> = p.spec.platforms.iter().map(krew::os_arch).collect();
    let expected: BTreeSet<(String, String)> = [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
    ]
    .iter()
    .map(|(o, a)| ((*o).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn plugin_yaml_version_matches_the_cargo_package() {
    assert_eq!(
        krew::plugin_yaml().spec.version,
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn plugin_yaml_uris_point_at_each_platforms_release_archive() {
    let p = krew::plugin_yaml();
    for platform in &p.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let expected = format!("{RELEASES}/{}/{BIN}-{os}-{arch}.tar.gz", p.spec.version);
        assert_eq!(platform.uri, expected);
    }
}

#[test]
fn plugin_yaml_installs_the_binary_and_the_license() {
    let p = krew::plugin_yaml();
    for platform in &p.spec.platforms {
        assert_eq!(platform.bin, BIN);
        let files: BTreeSet<(&str, &str)> = platform
            .files
            .iter()
            .flatten()
            .map(|f| (f.from.as_str(), f.to.as_str()))
            .collect();
        assert_eq!(files, BTreeSet::from([(BIN, "."), ("LICENSE", ".")]));
    }
    let license = load::read("LICENSE");
    assert!(
        license.contains("Apache License") && license.contains("Version 2.0"),
        "LICENSE is the Apache-2.0 text"
    );
}

#[test]
fn plugin_yaml_describes_itself_within_krew_conventions() {
    let spec = krew::plugin_yaml().spec;
    assert!(spec.short_description.chars().count() <= krew::SHORT_DESCRIPTION_MAX);
    assert!(!spec.description.trim().is_empty());
    assert!(
        spec.caveats.contains("RBAC") && spec.caveats.contains("rbac-plugin-user.yaml"),
        "caveats point at the RBAC a user needs"
    );
    assert!(
        spec.homepage
            .starts_with("https://github.com/redis-cluster-plugin/")
    );
}

#[test]
fn every_platform_is_built_or_a_marked_placeholder() {
    let text = load::read("plugin.yaml");
    let p = krew::parse(&text);
    for platform in &p.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&platform.sha256))
            .collect();
        assert!(
            !lines.is_empty(),
            "{os}/{arch}: sha256 written in an unexpected form"
        );
        if platform.sha256 == krew::PLACEHOLDER_SHA256 {
            assert!(
                lines.iter().all(|l| l.contains(krew::NOT_BUILT_MARK)),
                "{os}/{arch}: placeholder not marked {:?}",
                krew::NOT_BUILT_MARK
            );
        } else {
            assert_eq!(lines.len(), 1, "{os}/{arch}: a real sha256 appears once");
            assert!(
                !lines[0].contains(krew::NOT_BUILT_MARK),
                "{os}/{arch}: a real sha256 marked as not built"
            );
        }
    }
}

/// `@TOKEN@` placeholders (upper case, digits, `_`) left in a template.
fn template_tokens(text: &str) -> Vec<&str> {
    text.split('@')
        .enumerate()
        .filter(|(i, part)| {
            i % 2 == 1
                && !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(_, part)| part)
        .collect()
}

#[test]
fn plugin_yaml_is_the_release_template_rendered() {
    let plugin_text = load::read("plugin.yaml");
    let plugin = krew::parse(&plugin_text);
    let mut rendered =
        load::read("release/plugin.yaml.tmpl").replace("@VERSION@", &plugin.spec.version);
    for platform in &plugin.spec.platforms {
        let (os, arch) = krew::os_arch(platform);
        let token = format!("@SHA256_{}_{}@", os.to_uppercase(), arch.to_uppercase());
        assert!(rendered.contains(&token), "the template has {token}");
        rendered = rendered.replace(&token, &platform.sha256);
    }
    let leftover = template_tokens(&rendered);
    assert!(
        leftover.is_empty(),
        "the template has tokens plugin.yaml does not fill: {leftover:?}"
    );
    let ours: Value = serde_saphyr::from_str(&plugin_text).expect("plugin.yaml parses");
    let theirs: Value = serde_saphyr::from_str(&rendered).expect("the rendered template parses");
    assert_eq!(
        ours, theirs,
        "plugin.yaml differs from release/plugin.yaml.tmpl: edit the template and run release/build.sh --manifest-only"
    );
}

#[test]
fn krew_rules_reject_each_known_defect() {
    let valid = krew::plugin_yaml();
    assert!(
        krew::violations(PLUGIN_NAME, &valid).is_empty(),
        "start from a valid manifest"
    );
    type Mutation = fn(&mut krew::Plugin);
    let cases: &[(&str, Mutation, &str)] = &[
        (
            "apiVersion",
            |p| p.api_version = "krew.googlecontainertools.github.com/v1alpha1".into(),
            "apiVersion",
        ),
        ("kind", |p| p.kind = "Plugins".into(), "kind"),
        (
            "name",
            |p| p.metadata.name = "redis cluster".into(),
            "not allowed",
        ),
        (
            "windows name",
            |p| p.metadata.name = "nul".into(),
            "not allowed",
        ),
        (
            "short description",
            |p| p.spec.short_description.clear(),
            "short description",
        ),
        (
            "long short description",
            |p| p.spec.short_description = "x".repeat(51),
            "longer than 50",
        ),
        (
            "line break",
            |p| p.spec.short_description = "a\nb".into(),
            "line breaks",
        ),
        (
            "version prefix",
            |p| p.spec.version = "0.1.0".into(),
            "semver",
        ),
        (
            "version parts",
            |p| p.spec.version = "v0.1".into(),
            "semver",
        ),
        (
            "no platforms",
            |p| p.spec.platforms.clear(),
            "platform specified",
        ),
        ("uri", |p| p.spec.platforms[0].uri.clear(), "`uri`"),
        (
            "http uri",
            |p| p.spec.platforms[0].uri = "http://example.com/a.tar.gz".into(),
            "https",
        ),
        (
            "sha256 case",
            |p| {
                p.spec.platforms[0].sha256 =
                    p.spec.platforms[0].sha256.to_uppercase().replace('0', "A")
            },
            "sha256",
        ),
        (
            "sha256 length",
            |p| p.spec.platforms[0].sha256 = "abc".into(),
            "sha256",
        ),
        ("bin", |p| p.spec.platforms[0].bin.clear(), "`bin`"),
        (
            "bin not installed",
            |p| p.spec.platforms[0].bin = "kubectl-other".into(),
            "installs bin",
        ),
        (
            "empty files",
            |p| p.spec.platforms[0].files = Some(vec![]),
            "non-empty",
        ),
        (
            "no license",
            |p| {
                p.spec.platforms[0]
                    .files
                    .iter_mut()
                    .flatten()
                    .for_each(|f| {
                        if f.from == "LICENSE" {
                            f.from = "README.md".into()
                        }
                    })
            },
            "LICENSE",
        ),
        (
            "empty from",
            |p| {
                p.spec.platforms[0]
                    .files
                    .iter_mut()
                    .flatten()
                    .for_each(|f| f.from.clear())
            },
            "`from`",
        ),
        (
            "nil selector",
            |p| p.spec.platforms[0].selector = None,
            "nil selector",
        ),
        (
            "empty selector",
            |p| p.spec.platforms[0].selector = Some(LabelSelector::default()),
            "empty selector",
        ),
        (
            "empty matchLabels",
            |p| {
                p.spec.platforms[0].selector = Some(LabelSelector {
                    match_labels: Some(BTreeMap::new()),
                    match_expressions: None,
                })
            },
            "specified but empty",
        ),
        (
            "selector key",
            |p| {
                p.spec.platforms[0].selector.iter_mut().for_each(|s| {
                    s.match_labels
                        .get_or_insert_default()
                        .insert("distro".into(), "debian".into());
                })
            },
            "\"distro\" not supported",
        ),
        (
            "unknown platform",
            |p| {
                p.spec.platforms[0].selector.iter_mut().for_each(|s| {
                    s.match_labels
                        .get_or_insert_default()
                        .insert("os".into(), "plan9".into());
                })
            },
            "doesn't match any supported",
        ),
        (
            "overlap",
            |p| {
                let copy = p.spec.platforms[0].clone();
                p.spec.platforms.push(copy)
            },
            "overlapping",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut p = valid.clone();
        mutate(&mut p);
        let problems = krew::violations(PLUGIN_NAME, &p);
        assert!(
            problems.iter().any(|m| m.contains(expected)),
            "{what}: expected a problem containing {expected:?}, got {problems:#?}"
        );
    }
}

#[test]
fn krew_selector_matching_follows_label_selector_semantics() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let expr = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
    };
    let sel = LabelSelector {
        match_labels: Some(BTreeMap::from([("os".to_owned(), "linux".to_owned())])),
        match_expressions: Some(vec![expr("arch", "In", &["amd64", "arm64"])]),
    };
    assert!(krew::matches(Some(&sel), "linux", "arm64"));
    assert!(!krew::matches(Some(&sel), "linux", "arm"));
    assert!(!krew::matches(Some(&sel), "darwin", "amd64"));
    let not_windows = LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![expr("os", "NotIn", &["windows"])]),
    };
    assert!(krew::matches(Some(&not_windows), "darwin", "arm64"));
    assert!(!krew::matches(None, "linux", "amd64"));
}

#[test]
fn krew_manifest_rejects_unknown_fields() {
    let text = load::read("plugin.yaml").replacen("sha256:", "sha265:", 1);
    let parsed: Result<krew::Plugin, _> = serde_saphyr::from_str(&text);
    assert!(parsed.is_err(), "a misspelled field must not pass silently");
}

#[test]
fn deploy_engine_valkey_renders_the_valkey_overlays_statefulset() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .args(["deploy", "--engine", "valkey", "--dry-run"])
        .output()
        .expect("run the plugin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 YAML");
    let rendered: Vec<StatefulSet> = load::split_documents(&text)
        .iter()
        .filter(|doc| doc.contains("kind: StatefulSet"))
        .map(|doc| serde_saphyr::from_str(doc).expect("a StatefulSet"))
        .collect();
    assert_eq!(rendered, [load::overlay_statefulset("valkey")]);
}
