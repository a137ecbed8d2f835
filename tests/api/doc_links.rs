//! Every relative link of the README, bench/README.md and docs/*.md names
//! a file of the repository and, for a Markdown file, a heading or an
//! `<a id>` it has: documents move and split, and a link that no longer
//! lands is found here rather than by a reader.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The documents checked, relative to the repository.
fn documents() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    found.sort();
    found.insert(0, "bench/README.md".into());
    found.insert(0, "README.md".into());
    found
}

/// The lines outside fenced code blocks, with their numbers (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            if l.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .map(|(n, l)| (n + 1, l))
        .collect()
}

/// A heading's anchor as GitHub makes it: lower case, punctuation other
/// than `-` and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a document has: its headings' (a repeated one numbered as
/// GitHub does) and its `<a id="...">`s.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 0 && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let mut anchor = base.clone();
            let mut n = 0;
            while found.contains(&anchor) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
            found.insert(anchor);
        }
        let mut rest = line;
        while let Some(at) = rest.find("<a id=\"") {
            rest = &rest[at + "<a id=\"".len()..];
            if let Some((id, after)) = rest.split_once('"') {
                found.insert(id.to_string());
                rest = after;
            }
        }
    }
    found
}

/// The targets of a document's `[text](target)` links, with their lines.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find([')', ' ']).unwrap_or(rest.len());
            found.push((n, rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_relative_link_of_the_documents_lands() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            let at = format!("{}:{line}: `{target}`", doc.display());
            if !root().join(&path).exists() {
                broken.push(format!("{at}: no file {}", path.display()));
            } else if !anchor.is_empty()
                && path.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&path)).contains(anchor)
            {
                broken.push(format!("{at}: no heading or id `{anchor}` there"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that do not land:\n{}",
        broken.join("\n")
    );
}

/// The checker itself finds a missing file and a missing anchor, and
/// numbers a repeated heading as GitHub does.
#[test]
fn the_link_checker_sees_what_is_missing() {
    let text = "# Top\n## Two words, and more\n## Top\n<a id=\"kept\"></a>\n```\n## fenced\n```\n";
    let found = anchors(text);
    for anchor in ["top", "two-words-and-more", "top-1", "kept"] {
        assert!(found.contains(anchor), "{anchor}: {found:?}");
    }
    assert!(!found.contains("fenced"), "{found:?}");
    let found = links("see [a](b.md#c) and [d](#e)\n```\n[f](g)\n```\n");
    assert_eq!(
        found,
        vec![(1, "b.md#c".to_string()), (1, "#e".to_string())]
    );
}
