//! Small helpers over Kubernetes types.

use super::*;

/// `matchLabels` of a selector; these manifests use no expressions.
pub fn match_labels(selector: &LabelSelector) -> &BTreeMap<String, String> {
    assert!(
        selector.match_expressions.is_none(),
        "selectors here use matchLabels only"
    );
    selector
        .match_labels
        .as_ref()
        .expect("selector has matchLabels")
}

/// Whether every label of `selector` is among `labels`.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The labels of the StatefulSet's pod template.
pub fn pod_labels(sts: &StatefulSet) -> &BTreeMap<String, String> {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("the pod template has labels")
}

/// The container port with the given name.
pub fn container_port(c: &Container, name: &str) -> i32 {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("container {} has no port named {name}", c.name))
        .container_port
}

/// The env var with the given name.
pub fn env<'a>(c: &'a Container, name: &str) -> Option<&'a EnvVar> {
    c.env.iter().flatten().find(|e| e.name == name)
}

/// The container's full command line (command, then args).
pub fn command_line(c: &Container) -> Vec<&str> {
    c.command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .map(String::as_str)
        .collect()
}

/// The value following `flag` on the command line.
pub fn flag_value<'a>(cmd: &[&'a str], flag: &str) -> Option<&'a str> {
    cmd.iter()
        .position(|a| *a == flag)
        .and_then(|i| cmd.get(i + 1).copied())
}

/// The mount path of the volume `volume` in the container.
pub fn mount_path<'a>(c: &'a Container, volume: &str) -> &'a str {
    &c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume)
        .unwrap_or_else(|| panic!("container {} does not mount {volume}", c.name))
        .mount_path
}

/// The claim template named `name`.
pub fn claim_template<'a>(sts: &'a StatefulSet, name: &str) -> &'a PersistentVolumeClaim {
    sts.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .and_then(|t| t.iter().find(|c| c.metadata.name.as_deref() == Some(name)))
        .unwrap_or_else(|| panic!("no volumeClaimTemplate named {name}"))
}

/// A Kubernetes quantity in base units (cores, bytes), for the suffixes these
/// manifests use.
pub fn quantity(q: &str) -> f64 {
    let suffixes = [
        ("m", 1e-3),
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
    ];
    let (number, factor) = suffixes
        .iter()
        .find_map(|(s, f)| q.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((q, 1.0));
    number
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("unsupported quantity {q:?}"))
        * factor
}

/// `redis.conf` from the ConfigMap, as directive → arguments (comments and
/// blank lines dropped). Panics on a repeated directive: every one used here
/// takes effect once, so a repeat is a mistake.
pub fn redis_conf(docs: &[Document]) -> BTreeMap<String, String> {
    let cm = load::the(docs, APP, Object::as_config_map);
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("redis.conf"))
        .expect("ConfigMap has key redis.conf");
    let mut conf = BTreeMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let previous = conf.insert(key.to_lowercase(), value.trim().to_owned());
        assert!(previous.is_none(), "redis.conf sets {key} twice");
    }
    conf
}

/// The Role's rules as `(apiGroup, resource)` → verbs.
pub fn rule_table(rules: &[PolicyRule]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut table: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                table
                    .entry((group.clone(), resource.clone()))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    table
}

/// The verbs the Role grants on `resource` in `group`.
pub fn verbs(role: &Role, group: &str, resource: &str) -> BTreeSet<String> {
    rule_table(role.rules.as_deref().unwrap_or_default())
        .remove(&(group.to_owned(), resource.to_owned()))
        .unwrap_or_default()
}

/// A set of verbs from a list.
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
