//! No import circle inside keyport-store (issue 20, item 3).
//!
//! Every `crate::<name>` in `src/**/*.rs` (a `use` line, a `use` group, or a path in code such
//! as `crate::activations::revoke_in(..)`) is an edge from the file's module to the module
//! `<name>`. A name that `lib.rs` imports from a module (`pub use sessions::{Session, ..}`,
//! `pub use views::*`) counts as that module, so `use crate::{Session}` is an edge to
//! `sessions`. Items defined in `lib.rs` itself (`Store`, `Context`, `new_id`, ...) are the
//! root and make no edge. `src/x.rs` and everything under `src/x/` belong to module `x`.
//! Comments, strings and char literals are skipped; `super::` is not followed (in a flat
//! module it is the root, in `mod tests` the module itself).
//!
//! Run: `cargo test -p keyport-store --test import_cycles`. A failure lists every circle
//! and the lines that tie it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Tokens with their line numbers.
type Toks = Vec<(Tok, usize)>;

/// From module -> to module -> where (`file:line: crate::path`).
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// (module, file relative to `src`, text)
type Source = (String, String, String);

/// A path named after `crate::` (or after `use` in `lib.rs`), one per leaf of a group.
#[derive(Debug)]
struct UsePath {
    segments: Vec<String>,
    alias: Option<String>,
    glob: bool,
    line: usize,
}

/// Skips a string literal whose text starts at `i`; a raw string (`raw` = its number of
/// `#`) has no escapes. Returns the index after the closing quote (and hashes).
fn skip_string(c: &[char], mut i: usize, raw: Option<usize>, line: &mut usize) -> usize {
    while let Some(&x) = c.get(i) {
        match x {
            '\n' => {
                *line += 1;
                i += 1;
            }
            '\\' if raw.is_none() => {
                if c.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => {
                let hashes = raw.unwrap_or(0);
                if (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    return i + 1 + hashes;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Identifiers, `::` and punctuation with line numbers; comments, string and char literals
/// and numbers are dropped.
fn tokens(src: &str) -> Toks {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied();
    let mut out = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    while let Some(ch) = at(i) {
        match ch {
            '\n' => {
                line += 1;
                i += 1;
            }
            _ if ch.is_whitespace() => i += 1,
            '/' if at(i + 1) == Some('/') => {
                while at(i).is_some_and(|x| x != '\n') {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0usize;
                while let Some(x) = at(i) {
                    if x == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if x == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if x == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(&c, i + 1, None, &mut line),
            '\'' => {
                if at(i + 1) == Some('\\') {
                    // '\n', '\'', '\\', '\u{..}': skip the escaped character, then to the quote.
                    i += 3;
                    while at(i).is_some_and(|x| x != '\'') {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == Some('\'') {
                    i += 3;
                } else {
                    // A lifetime or a label: its name follows as an identifier.
                    i += 1;
                }
            }
            ':' if at(i + 1) == Some(':') => {
                out.push((Tok::Sep, line));
                i += 2;
            }
            _ if ch.is_alphanumeric() || ch == '_' => {
                // Raw strings (r"..", r#".."#, br#".."#) start like identifiers.
                let raw_start = match (ch, at(i + 1)) {
                    ('r', _) => Some(i + 1),
                    ('b', Some('r')) => Some(i + 2),
                    _ => None,
                };
                if let Some(mut j) = raw_start {
                    let mut hashes = 0;
                    while at(j) == Some('#') {
                        hashes += 1;
                        j += 1;
                    }
                    if at(j) == Some('"') {
                        i = skip_string(&c, j + 1, Some(hashes), &mut line);
                        continue;
                    }
                }
                let start = i;
                while at(i).is_some_and(|x| x.is_alphanumeric() || x == '_') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                if !word.starts_with(|x: char| x.is_ascii_digit()) {
                    out.push((Tok::Ident(word), line));
                }
            }
            _ => {
                out.push((Tok::Punct(ch), line));
                i += 1;
            }
        }
    }
    out
}

/// Reads a use tree (or a path in code) starting at `t[i]`: `a::b::C`, `{A, b::C, D as E}`,
/// `m::*`. Pushes one [`UsePath`] per leaf and returns the index after it.
fn tree(t: &Toks, i: usize, prefix: &[String], out: &mut Vec<UsePath>) -> usize {
    match t.get(i) {
        Some((Tok::Punct('{'), _)) => {
            let mut i = i + 1;
            loop {
                match t.get(i) {
                    Some((Tok::Punct('}'), _)) => return i + 1,
                    None => return i,
                    _ => {}
                }
                let after = tree(t, i, prefix, out);
                match t.get(after) {
                    Some((Tok::Punct(','), _)) => i = after + 1,
                    Some((Tok::Punct('}'), _)) => i = after,
                    _ => return after,
                }
            }
        }
        Some((Tok::Punct('*'), line)) => {
            out.push(UsePath { segments: prefix.to_vec(), alias: None, glob: true, line: *line });
            i + 1
        }
        Some((Tok::Ident(name), line)) => {
            let mut segments = prefix.to_vec();
            segments.push(name.clone());
            match (t.get(i + 1), t.get(i + 2)) {
                (Some((Tok::Sep, _)), Some((Tok::Ident(_) | Tok::Punct('{' | '*'), _))) => {
                    tree(t, i + 2, &segments, out)
                }
                (Some((Tok::Ident(kw), _)), Some((Tok::Ident(alias), _))) if kw == "as" => {
                    out.push(UsePath { segments, alias: Some(alias.clone()), glob: false, line: *line });
                    i + 3
                }
                _ => {
                    out.push(UsePath { segments, alias: None, glob: false, line: *line });
                    i + 1
                }
            }
        }
        _ => i,
    }
}

/// The names a module declares `pub` (for `pub use module::*` in `lib.rs`).
fn public_items(sources: &[Source], module: &str) -> Vec<String> {
    const KINDS: &[&str] = &["struct", "enum", "fn", "type", "const", "static", "trait", "mod", "union"];
    let mut names = Vec::new();
    for (_, _, text) in sources.iter().filter(|(m, _, _)| m == module) {
        let t = tokens(text);
        for w in t.windows(3) {
            if let (Tok::Ident(p), Tok::Ident(kind), Tok::Ident(name)) = (&w[0].0, &w[1].0, &w[2].0)
                && p == "pub"
                && KINDS.contains(&kind.as_str())
            {
                names.push(name.clone());
            }
        }
    }
    names
}

/// The module graph of the sources.
fn graph(sources: &[Source]) -> Graph {
    let modules: BTreeSet<&str> =
        sources.iter().map(|(m, _, _)| m.as_str()).filter(|m| *m != "lib").collect();
    // Names the root imports from a module: `crate::Session` is module `sessions`.
    let mut root_names: BTreeMap<String, String> = BTreeMap::new();
    for (_, _, text) in sources.iter().filter(|(m, _, _)| m == "lib") {
        let t = tokens(text);
        for (k, (tok, _)) in t.iter().enumerate() {
            if !matches!(tok, Tok::Ident(w) if w == "use") {
                continue;
            }
            let mut paths = Vec::new();
            tree(&t, k + 1, &[], &mut paths);
            for p in paths {
                let segs: Vec<&str> = p
                    .segments
                    .iter()
                    .map(String::as_str)
                    .skip_while(|s| *s == "crate" || *s == "self")
                    .collect();
                let Some(&from) = segs.first() else { continue };
                if !modules.contains(from) {
                    continue;
                }
                if p.glob {
                    if segs.len() == 1 {
                        for name in public_items(sources, from) {
                            root_names.insert(name, from.to_owned());
                        }
                    }
                } else if segs.len() >= 2 {
                    let name = p.alias.clone().unwrap_or_else(|| segs[segs.len() - 1].to_owned());
                    root_names.insert(name, from.to_owned());
                }
            }
        }
    }
    let mut graph: Graph = BTreeMap::new();
    for (module, file, text) in sources {
        if module == "lib" {
            continue;
        }
        graph.entry(module.clone()).or_default();
        let t = tokens(text);
        for (k, (tok, _)) in t.iter().enumerate() {
            let is_crate =
                matches!(tok, Tok::Ident(w) if w == "crate") && matches!(t.get(k + 1), Some((Tok::Sep, _)));
            if !is_crate {
                continue;
            }
            let mut paths = Vec::new();
            tree(&t, k + 2, &[], &mut paths);
            for p in paths {
                let Some(first) = p.segments.first() else { continue };
                let target = if modules.contains(first.as_str()) {
                    Some(first.clone())
                } else {
                    root_names.get(first).cloned()
                };
                if let Some(to) = target
                    && to != *module
                {
                    let place = format!("{file}:{}: crate::{}", p.line, p.segments.join("::"));
                    graph.entry(module.clone()).or_default().entry(to).or_default().push(place);
                }
            }
        }
    }
    graph
}

/// The modules reachable from `from` (itself only through a circle).
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(node) = stack.pop() {
        for next in graph.get(&node).into_iter().flat_map(BTreeMap::keys) {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// The circles: groups of two or more modules that reach each other.
fn circles(graph: &Graph) -> Vec<BTreeSet<String>> {
    let reach: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reachable(graph, m))).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for (m, r) in &reach {
        if done.contains(*m) || !r.contains(*m) {
            continue;
        }
        let group: BTreeSet<String> =
            r.iter().filter(|o| reach.get(o).is_some_and(|back| back.contains(*m))).cloned().collect();
        done.extend(group.iter().cloned());
        out.push(group);
    }
    out
}

/// One shortest circle through the first module of a group, e.g. `[a, b, a]`.
fn one_circle(graph: &Graph, group: &BTreeSet<String>) -> Vec<String> {
    let Some(start) = group.iter().next() else { return Vec::new() };
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(&node).into_iter().flat_map(BTreeMap::keys).filter(|n| group.contains(*n)) {
            if next == start {
                let mut back = vec![node.clone()];
                let mut at = node.clone();
                while at != *start {
                    at = parent.get(&at).cloned().unwrap_or_else(|| start.clone());
                    back.push(at.clone());
                }
                back.reverse();
                back.push(start.clone());
                return back;
            }
            if !parent.contains_key(next) {
                parent.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    Vec::new()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<Source>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        if path.is_dir() {
            collect(root, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let Some(first) = relative.components().next() else { continue };
        let first = first.as_os_str().to_string_lossy().into_owned();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((module, relative.display().to_string(), text));
    }
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    collect(&src, &src, &mut out);
    out.sort();
    assert!(out.iter().any(|(m, _, _)| m == "lib"), "no lib.rs under {}", src.display());
    out
}

#[test]
fn the_store_has_no_import_circle() {
    let graph = graph(&sources());
    let edges: usize = graph.values().map(BTreeMap::len).sum();
    // A reader that broke would find nothing and pass: the store has dozens of edges.
    assert!(edges >= 30, "only {edges} edges found: is the reader broken?\n{graph:#?}");
    let circles = circles(&graph);
    let mut report = String::new();
    for group in &circles {
        report.push_str(&format!("\n{}\n", one_circle(&graph, group).join(" -> ")));
        for (from, tos) in graph.iter().filter(|(m, _)| group.contains(*m)) {
            for (to, places) in tos.iter().filter(|(t, _)| group.contains(*t)) {
                report.push_str(&format!("  {from} -> {to}:\n"));
                for place in places {
                    report.push_str(&format!("    {place}\n"));
                }
            }
        }
    }
    assert!(circles.is_empty(), "import circles in keyport-store/src; move the named items down:{report}");
}

#[test]
fn the_reader_sees_groups_paths_and_the_names_the_root_imports() {
    let lib = "mod a; mod b; mod c;\npub use c::{Thing as Renamed};\npub use b::*;\nuse chrono::Utc;\npub struct Store;\n";
    let a = "use crate::{Store, Renamed};\n// crate::b::in_a_comment\nfn f() { let s = \"crate::b::in_a_string\"; crate::b::helper(); }\n";
    let b = "pub fn helper() {}\npub struct Shown;\nfn g<'x>(c: char) -> bool { c == '\"' || c == '{' || c == '\\'' }\n";
    let c = "use crate::{Shown};\npub struct Thing;\nconst RAW: &str = r#\"crate::a::in_a_raw_string\"#;\n";
    let sources: Vec<Source> = [("lib", lib), ("a", a), ("b", b), ("c", c)]
        .map(|(m, t)| (m.to_owned(), format!("{m}.rs"), t.to_owned()))
        .to_vec();
    let g = graph(&sources);
    let edges = |from: &str| g.get(from).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(edges("a"), ["b", "c"]);
    // `Shown` comes from `b` through `pub use b::*`.
    assert_eq!(edges("c"), ["b"]);
    assert_eq!(edges("b"), Vec::<String>::new());
    assert_eq!(g["a"]["b"], ["a.rs:3: crate::b::helper"]);
    assert!(circles(&g).is_empty());
    let mut looped = g.clone();
    // b -> c and c -> b (through `Shown`) close a circle; `a` only points into it.
    looped.entry("b".to_owned()).or_default().entry("c".to_owned()).or_default().push("made up".to_owned());
    let found = circles(&looped);
    assert_eq!(found, [BTreeSet::from(["b".to_owned(), "c".to_owned()])]);
    assert_eq!(one_circle(&looped, &found[0]), ["b", "c", "b"]);
}
