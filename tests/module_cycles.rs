//! No import cycle between the modules of any crate (issue 17).
//!
//! A module here is one source file (`a.rs` or `a/mod.rs` is `a`,
//! `a/b.rs` is `a::b`). Module A depends on module B when A's code names
//! an item of B: a `use` path or an inline path through `crate::`,
//! `super::`, `self::` or a child module's name. A path through a
//! `pub use` re-export is followed to the module that defines the item,
//! so a crate root that re-exports its modules is not a hub, and a
//! re-export alone is not an edge. `mod x;` declarations are not edges,
//! and test code (`#[cfg(test)]` modules, `#[path]` test files) is left
//! out: the rule is about the code that ships.
//!
//! The test fails with every cycle it finds, each as a path of modules,
//! so a new circle is caught at the commit that adds it.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The source roots whose modules must form no cycle.
const CRATE_ROOTS: &[&str] = &[
    "src",
    "crates/core/src",
    "crates/store/src",
    "crates/http/src",
    "crates/notify/src",
    "bench/loadgen/src",
];

struct Module {
    /// Code with comments, strings and test modules removed.
    code: String,
    /// `pub use` re-exports: exported name -> full path it names.
    reexports: BTreeMap<String, Vec<String>>,
}

#[test]
fn no_module_of_any_crate_is_part_of_an_import_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut report = Vec::new();
    for root in CRATE_ROOTS {
        let dir = workspace.join(root);
        assert!(dir.is_dir(), "crate source root {root} is missing");
        for cycle in cycles_in(&dir) {
            report.push(format!("{root}: {}", cycle.join(" -> ")));
        }
    }
    assert!(
        report.is_empty(),
        "import cycles between modules:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle_and_follows_reexports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub use c::Thing;\n",
    )
    .expect("write");
    fs::write(src.join("a.rs"), "use crate::b::f;\npub fn g() { f() }\n").expect("write");
    fs::write(src.join("b.rs"), "pub fn f() { crate::a::g() }\n").expect("write");
    // c uses the root re-export of its own item: not a cycle with the root.
    fs::write(
        src.join("c.rs"),
        "pub struct Thing;\nfn h() -> crate::Thing { Thing }\n",
    )
    .expect("write");
    let cycles = cycles_in(src);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let members: BTreeSet<&str> = cycles[0]
        .iter()
        .map(|m| m.split(' ').next().unwrap_or(m))
        .collect();
    assert_eq!(members, BTreeSet::from(["a", "b"]));

    fs::write(
        src.join("b.rs"),
        "pub fn f() {}\n// crate::a::g() in a comment\n",
    )
    .expect("write");
    assert!(cycles_in(src).is_empty());
}

/// Every cycle among the modules under `src`, one per strongly connected
/// component, as a closed walk of module paths.
fn cycles_in(src: &Path) -> Vec<Vec<String>> {
    let modules = load_modules(src);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, module) in &modules {
        let targets = edges.entry(name.clone()).or_default();
        for path in referenced_paths(name, &module.code, &names) {
            let target = resolve(&path, &modules, 0);
            if &target != name && !target.is_empty() {
                targets.insert(target);
            }
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| walk_of(&component, &edges))
        .collect()
}

fn load_modules(src: &Path) -> BTreeMap<String, Module> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let test_files = test_only_files(&files);
    let mut modules = BTreeMap::new();
    for file in files {
        if test_files.contains(&file) {
            continue;
        }
        let Some(name) = module_name(src, &file) else {
            continue;
        };
        let raw = fs::read_to_string(&file).expect("read source");
        let code = without_test_modules(&strip_comments_and_strings(&raw));
        let reexports = reexports_of(&name, &code);
        modules.insert(name, Module { code, reexports });
    }
    modules
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files that are only test modules: `#[path = "x.rs"]` or
/// `mod tests;` declared under `#[cfg(test)]`.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with("#[cfg(test)]") {
                continue;
            }
            let mut path_attr = None;
            for next in lines.iter().skip(i + 1).take(3) {
                if let Some(rest) = next.strip_prefix("#[path = \"") {
                    path_attr = rest.split('"').next().map(str::to_string);
                } else if let Some(rest) = next.strip_prefix("mod ") {
                    if let Some(name) = rest.strip_suffix(';') {
                        let dir = file.parent().expect("parent");
                        let own = file
                            .file_stem()
                            .expect("stem")
                            .to_string_lossy()
                            .to_string();
                        let base = if own == "mod" || own == "lib" || own == "main" {
                            dir.to_path_buf()
                        } else {
                            dir.join(&own)
                        };
                        let target = match &path_attr {
                            Some(p) => dir.join(p),
                            None => base.join(format!("{}.rs", name.trim())),
                        };
                        out.insert(target.clone());
                        out.insert(base.join(name.trim()).join("mod.rs"));
                    }
                    break;
                }
            }
        }
    }
    out
}

fn module_name(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?.to_string();
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return Some(String::new());
    }
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem);
    }
    Some(parts.join("::"))
}

/// Removes comments, string and char literals (keeping line structure
/// loosely), so that paths named in docs or messages are not edges.
fn strip_comments_and_strings(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (at(i + 1) == '#' || at(i + 1) == '"')
            && !is_ident(at(i.wrapping_sub(1)))
        {
            // raw string r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && at(i) != '"' {
                if at(i) == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (at(i + 2) == '\'' || (at(i + 1) == '\\' && at(i + 3) == '\'')) {
            // char literal; lifetimes are left alone
            i += if at(i + 1) == '\\' { 4 } else { 3 };
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Cuts inline `#[cfg(test)] mod name { ... }` blocks.
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(pos) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        if trimmed.starts_with("mod ")
            && trimmed
                .find('{')
                .is_some_and(|b| trimmed.find(';').is_none_or(|s| b < s))
        {
            let open = after.find('{').expect("brace");
            let mut depth = 0;
            let mut end = after.len();
            for (k, ch) in after.char_indices().skip_while(|(k, _)| *k < open) {
                if ch == '{' {
                    depth += 1;
                } else if ch == '}' {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `use` path expanded from its tree, and the name it binds when the
/// tree renames it (`a::B as C` binds `C`).
struct UsePath {
    public: bool,
    path: Vec<String>,
    alias: Option<String>,
}

/// The `use` trees of `code`, expanded to full paths (segments).
fn use_paths(code: &str) -> Vec<UsePath> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut search = 0;
    while let Some(found) = code[search..].find("use ") {
        let start = search + found;
        search = start + 4;
        let before_ok = start == 0 || !is_ident(bytes[start - 1] as char);
        if !before_ok {
            continue;
        }
        let prefix = code[..start].trim_end();
        let public = prefix.ends_with("pub")
            || prefix.ends_with(')') && prefix.rfind("pub(").is_some_and(|p| prefix.len() - p < 16);
        let Some(end) = code[start..].find(';') else {
            break;
        };
        // One space between words (so ` as ` survives), none around
        // the tree's punctuation.
        let mut tree = code[start + 4..start + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for punct in ["::", "{", "}", ","] {
            tree = tree
                .replace(&format!(" {punct}"), punct)
                .replace(&format!("{punct} "), punct);
        }
        for (path, alias) in expand_tree(&tree) {
            out.push(UsePath {
                public,
                path,
                alias,
            });
        }
        search = start + end;
    }
    out
}

fn expand_tree(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    let tree = tree.trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut out = Vec::new();
        for part in split_top(inner) {
            for (tail, alias) in expand_tree(&part) {
                let mut full = head.clone();
                if tail.first().is_some_and(|t| t == "self") {
                    full.extend(tail.into_iter().skip(1));
                } else {
                    full.extend(tail);
                }
                out.push((full, alias));
            }
        }
        out
    } else {
        let (path, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path, Some(alias.trim().to_string())),
            None => (tree, None),
        };
        let segments = path
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        vec![(segments, alias)]
    }
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Makes a path absolute (module segments from the crate root), or None
/// for a path into another crate.
fn absolute(current: &str, path: &[String], modules: &BTreeSet<String>) -> Option<Vec<String>> {
    let mut base: Vec<String> = if current.is_empty() {
        Vec::new()
    } else {
        current.split("::").map(str::to_string).collect()
    };
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segs.next();
            base.clear();
        }
        Some("self") => {
            segs.next();
        }
        Some("super") => {
            while segs.peek().is_some_and(|s| s.as_str() == "super") {
                segs.next();
                base.pop();
            }
        }
        Some(first) => {
            let mut child = base.clone();
            child.push(first.to_string());
            if !modules.contains(&child.join("::")) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(segs.cloned());
    Some(base)
}

fn reexports_of(name: &str, code: &str) -> BTreeMap<String, Vec<String>> {
    // Module names are not known yet here; keep raw paths and make them
    // absolute lazily in `resolve` (only crate/self/super/child forms).
    let mut out = BTreeMap::new();
    for UsePath {
        public,
        path,
        alias,
    } in use_paths(code)
    {
        if !public {
            continue;
        }
        let Some(bound) = alias.or_else(|| path.last().cloned()) else {
            continue;
        };
        let mut full: Vec<String> = Vec::new();
        full.push(format!("@{name}"));
        full.extend(path.iter().cloned());
        out.insert(bound, full);
    }
    out
}

/// The module that defines what an absolute path names, following
/// `pub use` re-exports.
fn resolve(path: &[String], modules: &BTreeMap<String, Module>, depth: usize) -> String {
    let mut best = 0;
    for len in 0..=path.len() {
        if modules.contains_key(&path[..len].join("::")) {
            best = len;
        }
    }
    let module = path[..best].join("::");
    if depth < 8
        && let (Some(next), Some(m)) = (path.get(best), modules.get(&module))
        && let Some(raw) = m.reexports.get(next)
    {
        let names: BTreeSet<String> = modules.keys().cloned().collect();
        let owner = raw[0].trim_start_matches('@');
        if let Some(mut target) = absolute(owner, &raw[1..], &names) {
            target.extend(path.iter().skip(best + 1).cloned());
            return resolve(&target, modules, depth + 1);
        }
    }
    module
}

/// Every path `code` names: `use` trees that are not re-exports, and
/// inline `crate::`, `super::`, `self::` and child-module paths.
fn referenced_paths(current: &str, code: &str, modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for UsePath { public, path, .. } in use_paths(code) {
        if public {
            continue;
        }
        if let Some(abs) = absolute(current, &path, modules) {
            out.push(abs);
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = is_ident(c) && (i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':');
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut segs = Vec::new();
        loop {
            let s = j;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            segs.push(chars[s..j].iter().collect::<String>());
            if chars.get(j) == Some(&':')
                && chars.get(j + 1) == Some(&':')
                && chars.get(j + 2).is_some_and(|c| is_ident(*c))
            {
                j += 2;
            } else {
                break;
            }
        }
        if segs.len() > 1
            && let Some(abs) = absolute(current, &segs, modules)
        {
            out.push(abs);
        }
        i = j.max(i + 1);
    }
    out
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                let w = w.as_str();
                if !s.edges.contains_key(w) {
                    continue;
                }
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}

/// A closed walk through one component, for the failure message: each
/// module with the members of the component it names.
fn walk_of(component: &[String], edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let members: BTreeSet<&String> = component.iter().collect();
    let mut sorted: Vec<&String> = component.iter().collect();
    sorted.sort();
    sorted
        .into_iter()
        .map(|m| {
            let named: Vec<&str> = edges
                .get(m)
                .into_iter()
                .flatten()
                .filter(|t| members.contains(t))
                .map(|t| if t.is_empty() { "crate" } else { t.as_str() })
                .collect();
            let m = if m.is_empty() { "crate" } else { m.as_str() };
            format!("{m} [names {}]", named.join(", "))
        })
        .collect()
}
