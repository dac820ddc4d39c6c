//! The top-level modules of `core/src` form layers: every `crate::` import points to the same
//! layer or one below, and no set of modules imports itself in a cycle. This test reads the
//! sources as text (comments and string literals removed), so the layering cannot erode
//! without a red test that names the offending edges. The layers are drawn in
//! docs/architecture.md; a new top-level module must be placed in [`LAYERS`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom first. A module may import modules of its own layer or of any layer below it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "json",
            "url",
            "time",
            "lru",
            "http_util",
            "body",
            "limits",
            "router",
            "xml",
            "yaml",
            "bucket",
            "sort",
            "float",
        ],
    ),
    ("engines", &["cel", "jose", "json_schema"]),
    ("ports", &["platform"]),
    ("config", &["config", "encoding", "rss"]),
    (
        "runtime",
        &[
            "guard",
            "proxy",
            "render",
            "builtin",
            "compression",
            "telemetry",
        ],
    ),
    ("pipeline", &["pipeline"]),
    ("gateway", &["gateway"]),
];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn core_modules_form_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, mods))| mods.iter().map(move |m| (*m, i)))
        .collect();

    let mut problems = Vec::new();
    for module in graph.keys() {
        if !layer_of.contains_key(module.as_str()) {
            problems.push(format!(
                "module `{module}` is in no layer (add it to LAYERS and docs/architecture.md)"
            ));
        }
    }
    for (from, edges) in &graph {
        for (to, sites) in edges {
            if let (Some(a), Some(b)) = (layer_of.get(from.as_str()), layer_of.get(to.as_str())) {
                if b > a {
                    problems.push(format!(
                        "`{from}` ({}) imports `{to}` ({}), a higher layer: {}",
                        LAYERS[*a].0,
                        LAYERS[*b].0,
                        sites.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    for cycle in cycles(&graph) {
        let edges: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                graph[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(*to))
                    .map(move |(to, sites)| {
                        let site = sites.iter().next().cloned().unwrap_or_default();
                        format!("{from} -> {to} ({site})")
                    })
            })
            .collect();
        problems.push(format!("import cycle: {}", edges.join("; ")));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut g = Graph::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
        g.entry(b.into()).or_default();
    };
    edge("a", "b");
    edge("b", "c");
    edge("c", "a");
    edge("c", "d");
    assert_eq!(
        cycles(&g),
        vec![BTreeSet::from(["a".into(), "b".into(), "c".into()])]
    );
}

#[test]
fn imports_are_read_from_use_groups_paths_and_super() {
    let text = r#"
        use crate::{json::Value, url};
        use crate::platform::{self, Clock};
        // crate::commented_out
        let s = "crate::in_a_string";
        fn f() { crate::time::now(); super::super::lru::Lru::new(); }
    "#;
    let found = imports(&clean(text), &["proxy".to_owned(), "x".to_owned()]);
    assert_eq!(
        found,
        BTreeSet::from(["json", "url", "platform", "time", "lru"].map(String::from))
    );
}

/// Every top-level module (a file or folder in `src`) → the modules it imports, with the files
/// that do.
fn import_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let module_path = module_path(rel);
        let Some(top) = module_path.first().cloned() else {
            continue; // lib.rs: the root only declares modules and re-exports
        };
        let text = clean(&fs::read_to_string(&file).unwrap());
        let entry = graph.entry(top.clone()).or_default();
        for target in imports(&text, &module_path) {
            if target != top && is_module(src, &target) {
                entry
                    .entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// `proxy/stack.rs` → `["proxy", "stack"]`, `proxy/mod.rs` → `["proxy"]`, `lib.rs` → `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn is_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).exists() || src.join(name).join("mod.rs").exists()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The first path segment after `crate::` (or after enough `super::` to reach the root) of
/// every path in `text`, including each member of a `use crate::{a, b::c}` group.
fn imports(text: &str, module_path: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if word_start && text[i..].starts_with("crate::") {
            i += "crate::".len();
            collect_group(text, &mut i, &mut out);
            continue;
        }
        if word_start && text[i..].starts_with("super::") {
            let mut j = i;
            let mut ups = 0;
            while text[j..].starts_with("super::") {
                ups += 1;
                j += "super::".len();
            }
            // From a file at depth d (its module path), `super` ×d reaches the crate root; a
            // `mod tests` inside a file adds one level, which its own `super` undoes.
            if ups == module_path.len() {
                collect_group(text, &mut j, &mut out);
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// At `*i`: an identifier (one module) or a `{...}` group of paths (the first segment of each).
fn collect_group(text: &str, i: &mut usize, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    if bytes.get(*i) == Some(&b'{') {
        let mut depth = 0;
        let mut start = *i + 1;
        for (k, &b) in bytes.iter().enumerate().skip(*i) {
            match b {
                // a nested group belongs to the segment before it
                b'{' => depth += 1,
                b'}' | b',' if depth == 1 => {
                    first_ident(&text[start..k], out);
                    start = k + 1;
                    if b == b'}' {
                        *i = k + 1;
                        return;
                    }
                }
                b'}' => depth -= 1,
                _ => {}
            }
        }
        *i = bytes.len();
    } else {
        let end = bytes[*i..]
            .iter()
            .position(|b| !is_ident(*b))
            .map_or(bytes.len(), |p| *i + p);
        first_ident(&text[*i..end], out);
        *i = end;
    }
}

fn first_ident(segment: &str, out: &mut BTreeSet<String>) {
    let name: String = segment
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !name.is_empty() && name != "self" {
        out.insert(name);
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text without comments, string literals and char literals (their content could look
/// like a path).
fn clean(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            // raw string r#"..."#
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            let open = i + 1 + hashes;
            if b.get(open) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            i = open + 1;
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan), each as a sorted set.
fn cycles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}
