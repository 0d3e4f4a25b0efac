//! The architecture, checked: every module imports only modules below it, and no source file
//! grows past a size a reader takes in at once. Read the ranks as the layering of `lib.rs`.

use std::path::{Path, PathBuf};

/// Each top-level module's layer, lowest first. A module may use its own layer and the ones
/// below it; effects (`redis`, then `k8s`, which builds connectors for `redis`) sit on the pure
/// model and planners, `output` renders what they return, and `cmd` wires them all.
const LAYERS: &[(&str, usize)] = &[
    ("exit_codes", 0),
    ("failpoint", 0),
    ("interrupt", 0),
    ("topology", 1),
    ("plan", 2),
    ("redis", 3),
    ("k8s", 4),
    ("output", 5),
    ("settings", 6),
    ("cmd", 7),
    ("cli", 8),
];

/// Longest source file, in lines, tests included.
const MAX_LINES: usize = 600;

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs` and `main.rs`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).unwrap().components().next()?;
    let name = first
        .as_os_str()
        .to_str()?
        .trim_end_matches(".rs")
        .to_owned();
    (!["lib", "main", "layering"].contains(&name.as_str())).then_some(name)
}

/// Every `crate::MODULE` a line of code names (comments are not imports).
fn named_modules(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .map(|(i, _)| {
            let rest = &code[i + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = src();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = owner(&src, file) else {
            continue;
        };
        let own = layer(&module).unwrap_or_else(|| panic!("{module}: give it a layer"));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for named in named_modules(line) {
                let theirs = layer(named).unwrap_or_else(|| panic!("{named}: give it a layer"));
                if theirs > own {
                    upward.push(format!(
                        "{}:{}: {module} uses {named}",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_source_file_is_longer_than_a_reader_takes_in_at_once() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "split these by job:\n{}", long.join("\n"));
}

#[test]
fn the_checks_see_an_upward_import_and_ignore_comments() {
    assert_eq!(named_modules("use crate::output::Reporter;"), ["output"]);
    assert_eq!(
        named_modules("let x = crate::k8s::a(crate::redis::b); // crate::cmd"),
        ["k8s", "redis"]
    );
    assert!(named_modules("/// see [`crate::cmd::context`]").is_empty());
    assert!(layer("redis") > layer("plan") && layer("cmd") > layer("output"));
}
