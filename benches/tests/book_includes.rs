//! The book's references into the code and into itself are all real.
//!
//! mdBook fails on an `{{#include}}` of a missing file, but a missing *anchor* only gets a
//! warning and an empty listing, and a broken link between chapters is not checked at all.
//! This test walks `book/src` and checks, for every Markdown file:
//!
//! - every `{{#include path}}` / `{{#rustdoc_include path}}` names an existing file and, when
//!   it names an anchor (`path:name`), that file has `ANCHOR: name` and `ANCHOR_END: name`;
//!   a line range (`path:10:20`) starts inside the file;
//! - every relative link or image (`[text](other.md#heading)`, `![chart](results/x.svg)`)
//!   names an existing file, and a `#fragment` on a Markdown target names one of its headings;
//! - every Rust code block typed into the prose is at most 6 lines: longer listings come
//!   from the code through anchors, so text and code cannot drift apart;
//! - every chapter is reachable: listed in `SUMMARY.md` or included by a page that is.
//!
//! Only std: the book check must not pull a Markdown parser into the workspace. The scanning
//! is line-based and knows the few Markdown rules the book uses (fenced code blocks, inline
//! code spans, ATX headings).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Rust blocks typed into the book longer than this are refused (listings use anchors).
const MAX_PASTED_RUST_LINES: usize = 6;

/// Every include, anchor, link and listing in the real book checks out.
#[test]
fn book_references_resolve() {
    // The tree this test runs in, found from the current directory (never a path fixed at
    // compile time, which would check the original tree from a moved copy).
    let root = bench::runner::phases::workspace_root().expect("inside the checkout");
    let book_src = root.join("book/src");
    assert!(
        book_src.join("SUMMARY.md").is_file(),
        "book/src/SUMMARY.md not found at {}",
        book_src.display()
    );
    let problems = check_book(&book_src);
    assert!(
        problems.is_empty(),
        "{} problem(s) in the book:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The checker itself catches each kind of mistake (so the test above can fail).
#[test]
fn checker_reports_each_kind_of_mistake() {
    let dir = scratch_dir("broken");
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        dir.join("code.rs"),
        "// ANCHOR: present\nfn a() {}\n// ANCHOR_END: present\n// ANCHOR: unclosed\n",
    )
    .unwrap();
    fs::write(src.join("SUMMARY.md"), "# Summary\n\n- [One](one.md)\n").unwrap();
    let seven_lines = "let x = 1;\n".repeat(7);
    fs::write(
        src.join("one.md"),
        format!(
            "# One\n\n## A heading\n\n\
             ```rust\n{{{{#include ../code.rs:present}}}}\n```\n\
             ```rust\n{{{{#include ../code.rs:absent}}}}\n```\n\
             ```rust\n{{{{#include ../code.rs:unclosed}}}}\n```\n\
             ```rust\n{{{{#include ../nowhere.rs}}}}\n```\n\
             ```rust\n{{{{#include ../code.rs:99:100}}}}\n```\n\
             An escaped \\{{{{#include ../nowhere.rs}}}} is text, and `[x](inline.md)` too.\n\n\
             [fine](one.md#a-heading), [bad file](two.md), [bad heading](one.md#no-such),\n\
             ![missing chart](results/none.svg), [web](https://example.com/x.md).\n\n\
             ```rust\n{seven_lines}```\n\
             ```text\n[not a link](nowhere.md)\n```\n"
        ),
    )
    .unwrap();
    fs::write(src.join("orphan.md"), "# Nobody links here\n").unwrap();

    let problems = check_book(&src);
    let expect = [
        "anchor `absent`",
        "no `ANCHOR_END: unclosed`",
        "nowhere.rs",
        "line 99",
        "two.md",
        "#no-such",
        "results/none.svg",
        "7 lines",
        "orphan.md",
    ];
    for needle in expect {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a problem mentioning {needle:?}, got:\n  {}",
            problems.join("\n  ")
        );
    }
    assert_eq!(
        problems.len(),
        expect.len(),
        "unexpected extra problems:\n  {}",
        problems.join("\n  ")
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Heading ids follow mdBook's rule, so `#fragment` links can be checked.
#[test]
fn heading_ids_follow_mdbook() {
    assert_eq!(heading_id("Where it breaks"), "where-it-breaks");
    assert_eq!(
        heading_id("Phase 3: `epoll`, by hand"),
        "phase-3-epoll-by-hand"
    );
    assert_eq!(heading_id("C10K and [memory](x.md)"), "c10k-and-memory");
    assert_eq!(heading_id("Custom {#my-id}"), "my-id");
}

/// Checks every Markdown file under `src`; returns one line per problem found.
fn check_book(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut pages = Vec::new();
    collect_markdown(src, &mut pages);
    pages.sort();

    // Pages reachable from SUMMARY.md, directly or through includes.
    let mut reachable = BTreeSet::new();
    let summary = src.join("SUMMARY.md");
    reachable.insert(normalize(&summary));

    for page in &pages {
        let text = match fs::read_to_string(page) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", rel(src, page)));
                continue;
            }
        };
        let here = page.parent().unwrap_or(src);
        for (line_no, include) in includes(&text) {
            let at = format!("{}:{line_no}", rel(src, page));
            let target = normalize(&here.join(&include.path));
            reachable.insert(target.clone());
            if let Some(problem) = check_include(&include, &target) {
                problems.push(format!("{at}: {problem}"));
            }
        }
        for (line_no, link) in links(&text) {
            let at = format!("{}:{line_no}", rel(src, page));
            let (file, fragment) = match link.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                normalize(&here.join(file))
            };
            if page.ends_with("SUMMARY.md") {
                reachable.insert(target.clone());
            }
            if !target.is_file() {
                problems.push(format!("{at}: link to {link}: no such file"));
                continue;
            }
            if let Some(fragment) = fragment {
                if target.extension().is_some_and(|e| e == "md")
                    && !headings(&target).contains(fragment)
                {
                    problems.push(format!(
                        "{at}: link to {link}: no heading with id #{fragment}"
                    ));
                }
            }
        }
        for (line_no, lines) in long_rust_blocks(&text) {
            problems.push(format!(
                "{}:{line_no}: a Rust block of {lines} lines typed into the book \
                 (at most {MAX_PASTED_RUST_LINES}; include it from the code with an anchor)",
                rel(src, page)
            ));
        }
    }

    for page in &pages {
        // `results/` and `generated/` hold data written by `bench --publish` and
        // `scripts/book-outputs.sh`, included where a chapter needs them; a file no chapter
        // uses yet is not a page anyone can miss.
        let data = page
            .strip_prefix(src)
            .is_ok_and(|p| p.starts_with("results") || p.starts_with("generated"));
        if !data && !reachable.contains(&normalize(page)) {
            problems.push(format!(
                "{}: not reachable (not in SUMMARY.md, not included by any page)",
                rel(src, page)
            ));
        }
    }
    problems
}

/// One `{{#include ...}}` directive.
struct Include {
    /// The file, relative to the including page.
    path: String,
    /// What follows the path: an anchor name, a line range, or nothing.
    selector: Option<String>,
}

/// Checks one include against the file it names; `None` when it resolves.
fn check_include(include: &Include, target: &Path) -> Option<String> {
    let shown = match &include.selector {
        Some(s) => format!("{}:{s}", include.path),
        None => include.path.clone(),
    };
    let Ok(code) = fs::read_to_string(target) else {
        return Some(format!("include {shown}: no such file"));
    };
    let selector = include.selector.as_deref()?;
    if selector.starts_with(|c: char| c.is_ascii_digit() || c == ':') {
        // A line range `start:end`, `start:` or `:end`; the start must be in the file.
        let start: usize = selector.split(':').next()?.parse().unwrap_or(1);
        let lines = code.lines().count();
        return (start > lines).then(|| {
            format!("include {shown}: starts at line {start}, the file has {lines} lines")
        });
    }
    let has = |marker: &str| {
        code.lines()
            .any(|l| anchor_on_line(l, marker) == Some(selector))
    };
    if !has("ANCHOR:") {
        return Some(format!(
            "include {shown}: anchor `{selector}` not found in the file"
        ));
    }
    if !has("ANCHOR_END:") {
        return Some(format!(
            "include {shown}: no `ANCHOR_END: {selector}` in the file"
        ));
    }
    None
}

/// The anchor name after `marker` on a line (`// ANCHOR: name`), as mdBook reads it.
fn anchor_on_line<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    let rest = line[at + marker.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|name| !name.is_empty())
}

/// Every unescaped include directive, with its line number. mdBook expands them anywhere,
/// code blocks included (that is the point), so this scans every line.
fn includes(text: &str) -> Vec<(usize, Include)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("{{#") {
            let escaped = rest[..at].ends_with('\\');
            let after = &rest[at + 3..];
            let Some(end) = after.find("}}") else { break };
            let body = after[..end].trim();
            rest = &after[end + 2..];
            if escaped {
                continue;
            }
            let Some(arg) = body
                .strip_prefix("include ")
                .or_else(|| body.strip_prefix("rustdoc_include "))
            else {
                continue; // {{#playground}}, {{#title}}: not checked
            };
            let arg = arg.trim();
            let (path, selector) = match arg.split_once(':') {
                Some((path, sel)) => (path.to_string(), Some(sel.to_string())),
                None => (arg.to_string(), None),
            };
            found.push((i + 1, Include { path, selector }));
        }
    }
    found
}

/// Relative link and image targets outside code, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            rest = &after[end + 1..];
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external {
                found.push((i, target.to_string()));
            }
        }
    }
    found
}

/// Rust code blocks typed into the page (not a single include line) longer than allowed:
/// (line of the opening fence, number of lines).
fn long_rust_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, bool, usize)> = None; // (line, is_rust, body lines)
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None if trimmed.starts_with("```") => {
                let lang = trimmed.trim_start_matches('`').trim();
                let is_rust = lang == "rust" || lang.starts_with("rust,");
                open = Some((i + 1, is_rust, 0));
            }
            None => {}
            Some((start, is_rust, lines)) => {
                if trimmed.starts_with("```") {
                    if *is_rust && *lines > MAX_PASTED_RUST_LINES {
                        found.push((*start, *lines));
                    }
                    open = None;
                } else if !trimmed.starts_with("{{#") {
                    *lines += 1;
                }
            }
        }
    }
    found
}

/// The ids of a page's headings, as mdBook generates them.
fn headings(page: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(page).unwrap_or_default();
    let mut ids = BTreeSet::new();
    for (_, line) in prose_lines(&text) {
        let hashes = line.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = heading_id(&line[hashes..]);
            // mdBook disambiguates repeated headings with `-1`, `-2`, ...
            let mut id = base.clone();
            let mut n = 1;
            while ids.contains(&id) {
                id = format!("{base}-{n}");
                n += 1;
            }
            ids.insert(id);
        }
    }
    ids
}

/// mdBook's heading id: an explicit `{#id}`, or the text lower-cased, spaces to dashes,
/// anything but letters, digits, `_` and `-` dropped (link targets and code marks too).
fn heading_id(heading: &str) -> String {
    let heading = heading.trim();
    if let Some(start) = heading.rfind("{#") {
        if let Some(id) = heading[start + 2..].strip_suffix('}') {
            return id.to_string();
        }
    }
    let mut text = String::new();
    let mut rest = heading;
    // Keep a link's text, drop its target.
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at]);
        rest = rest[at..].find(')').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    text.trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// Lines outside fenced code blocks, numbered from 1.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            out.push((i + 1, line));
        }
    }
    out
}

/// The line with inline code spans (`` `like this` ``) blanked out.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// Every `.md` file under `dir`, recursively.
fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// `a/b/../c` to `a/c`, without touching the file system (the file may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the book's `src`, for messages.
fn rel(src: &Path, path: &Path) -> String {
    path.strip_prefix(src).unwrap_or(path).display().to_string()
}

/// A fresh directory under the system's temporary directory, unique to this process.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("book-includes-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}
