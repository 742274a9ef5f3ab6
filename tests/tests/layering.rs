//! The module graphs of the crates, read from their sources: a module of a
//! crate is a `mod` of its `lib.rs` (a directory module counts as one, with
//! all its files), and it uses another when its code names `crate::other`
//! (outside comments and `#[cfg(test)]` modules; a name re-exported at the
//! crate root, `crate::Pool`, counts as the module it comes from).
//!
//! interp-core and interp-capi have no import circle, and interp-pool's modules use only
//! modules of lower layers (`POOL_LAYERS`, as ARCHITECTURE.md lists them),
//! so it has none either.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Module → the modules it uses, each with the first place (`file:line`)
/// that does.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// interp-pool's modules by layer, lowest first: a module may use those of
/// lower layers only.
const POOL_LAYERS: &[&[&str]] = &[
    &["sync", "handoff", "error", "bell"],
    &["call", "stats", "exit"],
    &["task", "builder"],
    &["wait", "registry", "execute"],
    &["aio"],
    &["worker", "supervisor", "map"],
    &["shutdown"],
    &["pool"],
];

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

/// The text with comment lines and `#[cfg(test)] mod ... { ... }` blocks
/// blanked (kept as empty lines, so line numbers stay).
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let test_module = line == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim().starts_with("mod ") && n.trim().ends_with('{'));
        if test_module {
            // Up to the brace that closes the module.
            out.push("");
            i += 1;
            let mut depth = 0i64;
            while i < lines.len() {
                depth += lines[i].matches('{').count() as i64;
                depth -= lines[i].matches('}').count() as i64;
                out.push("");
                i += 1;
                if depth <= 0 {
                    break;
                }
            }
            continue;
        }
        out.push(if line.starts_with("//") { "" } else { lines[i] });
        i += 1;
    }
    out.join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segment of every item in the use group that starts at
/// `text` (just after its `{`), nested groups included only for their
/// first segment: `a::B, c::{D, e::F}, G}` gives `a`, `c`, `G`.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && is_ident(c) => {
                let name: String = text[at..].chars().take_while(|&c| is_ident(c)).collect();
                for _ in 1..name.chars().count() {
                    chars.next();
                }
                heads.push(name);
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// Every first segment after `crate::` in `code`, with its line (1-based).
fn uses(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        // `interp_crate::x` is another path.
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group).into_iter().map(|h| (h, line)));
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                found.push((name, line));
            }
        }
    }
    found
}

/// The modules `lib.rs` declares, and the root names it re-exports from
/// each (`pub use pool::Pool;` maps `Pool` to `pool`).
fn declared(lib: &str) -> (Vec<String>, HashMap<String, String>) {
    let mut modules = Vec::new();
    let mut roots = HashMap::new();
    for statement in lib.split(';') {
        let s = statement
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        let s = s.trim();
        let s = s
            .strip_prefix("pub(crate) ")
            .or_else(|| s.strip_prefix("pub "))
            .unwrap_or(s);
        if let Some(name) = s.strip_prefix("mod ") {
            if name.chars().all(is_ident) {
                modules.push(name.to_owned());
            }
        } else if let Some(path) = s.strip_prefix("use ") {
            let (module, items) = path.split_once("::").unwrap_or((path, ""));
            for item in items
                .split(|c: char| !is_ident(c))
                .filter(|i| !i.is_empty())
            {
                roots.insert(item.to_owned(), module.to_owned());
            }
        }
    }
    (modules, roots)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> Graph {
    let lib = code(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let (modules, roots) = declared(&lib);
    let mut graph = Graph::new();
    for module in &modules {
        let mut files = Vec::new();
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            files.push(file);
        }
        if src.join(module).is_dir() {
            rust_files(&src.join(module), &mut files);
        }
        assert!(
            !files.is_empty(),
            "no source for module {module} in {}",
            src.display()
        );
        let edges = graph.entry(module.clone()).or_default();
        for file in files {
            let text = code(&std::fs::read_to_string(&file).unwrap());
            for (name, line) in uses(&text) {
                let Some(used) = modules
                    .iter()
                    .find(|m| **m == name)
                    .or_else(|| roots.get(&name))
                else {
                    continue;
                };
                if used != module {
                    let place = file.strip_prefix(src).unwrap().display();
                    edges
                        .entry(used.clone())
                        .or_insert_with(|| format!("{place}:{line}"));
                }
            }
        }
    }
    graph
}

/// A circle of `graph`, as the modules along it with the first module
/// again at the end, if there is one.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut found = path[at..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if done.iter().any(|m| m == module) {
            return None;
        }
        path.push(module.to_owned());
        for used in graph.get(module).into_iter().flat_map(|e| e.keys()) {
            if let Some(found) = visit(graph, used, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.push(module.to_owned());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

/// Fails with the circle of `graph`, each step with where it is taken.
fn assert_no_circle(krate: &str, graph: &Graph) {
    if let Some(found) = circle(graph) {
        let steps: Vec<String> = found
            .windows(2)
            .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("{krate} has an import circle:\n  {}", steps.join("\n  "));
    }
}

#[test]
fn interp_core_has_no_import_circle() {
    let graph = graph(&crate_src("interp-core"));
    assert!(
        graph.len() > 10,
        "modules of interp-core: {:?}",
        graph.keys()
    );
    assert_no_circle("interp-core", &graph);
}

#[test]
fn interp_capi_has_no_import_circle() {
    let graph = graph(&crate_src("interp-capi"));
    assert!(
        graph.len() > 5,
        "modules of interp-capi: {:?}",
        graph.keys()
    );
    assert_no_circle("interp-capi", &graph);
}

#[test]
fn interp_pool_modules_use_only_lower_layers() {
    let graph = graph(&crate_src("interp-pool"));
    assert!(
        graph.len() > 10,
        "modules of interp-pool: {:?}",
        graph.keys()
    );
    let layer = |m: &str| POOL_LAYERS.iter().position(|l| l.contains(&m));
    for (module, edges) in &graph {
        let at = layer(module).unwrap_or_else(|| panic!("add module {module} to POOL_LAYERS"));
        for (used, place) in edges {
            assert!(
                layer(used).is_some_and(|l| l < at),
                "{module} uses {used} ({place}), which is not in a lower layer: {POOL_LAYERS:?}"
            );
        }
    }
    assert_no_circle("interp-pool", &graph);
}

#[test]
fn the_reader_sees_plain_grouped_nested_multiline_and_root_uses() {
    let text = "use crate::a::B;\n// crate::c::D\nuse crate::{e, f::{G, h::I}};\n\
                let x = crate::j::k();\nuse {\n    crate::l::M,\n    crate::N,\n};\n\
                let y = interp_crate::o::p();\n#[cfg(test)]\nmod tests {\n    use crate::q;\n}\n";
    let found: Vec<(String, usize)> = uses(&code(text));
    let expect = [("a", 1), ("e", 3), ("f", 3), ("j", 4), ("l", 6), ("N", 7)];
    assert_eq!(found, expect.map(|(n, l)| (n.to_owned(), l)));
    let (modules, roots) = declared("#[allow(x)]\nmod a;\npub mod b;\npub use b::{N, O};\n");
    assert_eq!(modules, ["a", "b"]);
    assert_eq!(roots.get("N").map(String::as_str), Some("b"));
}

#[test]
fn a_circle_is_found_with_its_places() {
    let mut graph = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), format!("{a}.rs:1"));
    };
    edge(&mut graph, "a", "b");
    edge(&mut graph, "b", "c");
    edge(&mut graph, "c", "d");
    assert_eq!(circle(&graph), None);
    edge(&mut graph, "d", "b");
    assert_eq!(circle(&graph).unwrap(), ["b", "c", "d", "b"]);
    let failure = std::panic::catch_unwind(|| assert_no_circle("x", &graph)).unwrap_err();
    let text = failure.downcast_ref::<String>().unwrap();
    assert!(text.contains("c -> d (c.rs:1)"), "{text}");
}
