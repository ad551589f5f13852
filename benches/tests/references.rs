//! What the prose says about the tree is true: every repository path named in the book, the
//! README, SPEC.md and the code's comments exists, and every book chapter quoted by title
//! in a comment (the words `the book's chapter`, then the title in double quotes) is a
//! chapter of `book/src/SUMMARY.md`.
//!
//! A comment that names another file or a chapter rots silently when that file moves or the
//! chapter is renamed (STYLE.md, habit 9); this test makes the rot fail CI instead.
//!
//! What counts as a path: a word starting `shared/`, `phases/`, `scripts/`, `book/` or
//! `benches/` (optionally behind `../` steps, resolved from the file's own folder), in a
//! Markdown file, a shell script, the justfile, or a `//` comment of a Rust file. Words with
//! a placeholder (`*`, `<`, `{`) are patterns, not paths, and are left alone.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Top-level folders whose paths are checked.
const ROOTS: &[&str] = &["shared/", "phases/", "scripts/", "book/", "benches/"];

/// Paths that are build outputs, not sources: named on purpose, absent in a fresh clone.
const BUILD_OUTPUTS: &[&str] = &["book/book"];

/// Every path and chapter title named in the real tree exists.
#[test]
fn named_paths_and_chapters_exist() {
    let root = bench::runner::phases::workspace_root().expect("inside the checkout");
    let output = Command::new("git")
        .args(["ls-files"])
        .current_dir(&root)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git ls-files failed");
    let files: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(String::from)
        .collect();
    let problems = check_tree(&root, &files);
    assert!(
        problems.is_empty(),
        "{} stale reference(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The checker finds a missing path, a missing `../` path and an unknown chapter title, and
/// accepts the real ones (so the test above can fail).
#[test]
fn checker_reports_stale_references() {
    let dir = std::env::temp_dir().join(format!("references-selftest-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("book/src")).unwrap();
    fs::create_dir_all(dir.join("phases/p1/src")).unwrap();
    fs::write(
        dir.join("book/src/SUMMARY.md"),
        "# Summary\n\n- [Phase 1: threads](p1.md)\n",
    )
    .unwrap();
    fs::write(
        dir.join("book/src/p1.md"),
        "See `phases/p1/src/lib.rs`, `phases/p9/src/gone.rs` and ../../phases/p1/src.\n\
         Listing: {{#include ../../phases/p1/src/missing.rs:a}}\n",
    )
    .unwrap();
    fs::write(
        dir.join("phases/p1/src/lib.rs"),
        "//! The book's chapter \"Phase 1: threads\"; see scripts/run.sh.\n\
         //! Also the book's chapter \"Phase 1: a thread per connection\".\n\
         // phases/*/src/lib.rs is a pattern.\n\
         let s = \"phases/not/a/comment.rs\";\n",
    )
    .unwrap();
    let files: Vec<String> = [
        "book/src/SUMMARY.md",
        "book/src/p1.md",
        "phases/p1/src/lib.rs",
    ]
    .map(String::from)
    .to_vec();
    let problems = check_tree(&dir, &files);
    let _ = fs::remove_dir_all(&dir);
    let joined = problems.join("\n");
    assert!(joined.contains("phases/p9/src/gone.rs"), "{joined}");
    assert!(joined.contains("missing.rs"), "{joined}");
    assert!(joined.contains("scripts/run.sh"), "{joined}");
    assert!(
        joined.contains("Phase 1: a thread per connection"),
        "{joined}"
    );
    assert_eq!(problems.len(), 4, "{joined}");
}

/// Checks `files` (paths relative to `root`) and returns one line per stale reference.
fn check_tree(root: &Path, files: &[String]) -> Vec<String> {
    let titles = chapter_titles(&root.join("book/src/SUMMARY.md"));
    let mut problems = Vec::new();
    for file in files {
        let scanned = file.ends_with(".rs")
            || file.ends_with(".sh")
            || file == "justfile"
            || (file.ends_with(".md") && (file.starts_with("book/src/") || !file.contains('/')))
            || file == "shared/SPEC.md";
        if !scanned {
            continue;
        }
        let Ok(text) = fs::read_to_string(root.join(file)) else {
            continue;
        };
        let folder = Path::new(file).parent().unwrap_or(Path::new(""));
        for (n, line) in text.lines().enumerate() {
            if file.ends_with(".rs") && !line.trim_start().starts_with("//") {
                continue;
            }
            let at = format!("{file}:{}", n + 1);
            for (ups, path) in paths_in(line) {
                if BUILD_OUTPUTS.contains(&path.as_str()) {
                    continue;
                }
                let target = if ups == 0 {
                    root.join(&path)
                } else {
                    root.join(folder).join("../".repeat(ups)).join(&path)
                };
                if !target.exists() {
                    problems.push(format!(
                        "{at}: names {}{path}, which does not exist",
                        "../".repeat(ups)
                    ));
                }
            }
            for title in quoted_chapters(line) {
                if !titles.contains(&title) {
                    problems.push(format!(
                        "{at}: quotes the book's chapter \"{title}\", which SUMMARY.md does not have"
                    ));
                }
            }
        }
    }
    problems
}

/// The link texts of `SUMMARY.md`: `- [Phase 1: a thread per connection](p1-blocking.md)`.
fn chapter_titles(summary: &Path) -> Vec<String> {
    let text = fs::read_to_string(summary).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().trim_start_matches("- ").strip_prefix('[')?;
            let (title, link) = rest.split_once("](")?;
            link.contains(".md").then(|| title.to_string())
        })
        .collect()
}

/// Repository paths in a line, each with the number of `../` steps in front of it.
fn paths_in(line: &str) -> Vec<(usize, String)> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let step = line[i..].chars().next().map_or(1, char::len_utf8);
        let Some(root) = ROOTS.iter().find(|r| line[i..].starts_with(**r)) else {
            i += step;
            continue;
        };
        // Count `../` steps in front; a path must not continue a longer word (`src/book/x`).
        let mut start = i;
        let mut ups = 0;
        while start >= 3 && &line[start - 3..start] == "../" {
            start -= 3;
            ups += 1;
        }
        let glued = start > 0 && {
            let b = bytes[start - 1];
            b.is_ascii_alphanumeric() || b"_./-".contains(&b)
        };
        let end = line[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_./-*{}<>".contains(c)))
            .map_or(line.len(), |e| i + e);
        let path = line[i..end].trim_end_matches(['.', ',', ':', ';', ')']);
        if !glued && path.len() > root.len() && !path.contains(['*', '{', '}', '<', '>']) {
            found.push((ups, path.to_string()));
        }
        i = end.max(i + step);
    }
    found
}

/// Titles quoted in a line: the word `chapter`, a space, then the title in double quotes.
fn quoted_chapters(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("chapter \"") {
        let after = &rest[at + "chapter \"".len()..];
        match after.find('"') {
            Some(end) => {
                found.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}
