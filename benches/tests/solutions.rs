//! The book's code solutions (`book/solutions/*.patch`) apply to the workspace and pass the
//! check each one names.
//!
//! A patch starts with a few lines of prose, one of them `Check: COMMAND` (`git apply`
//! ignores text before the first `diff`). For each patch the test copies the workspace's
//! tracked files into a scratch directory (`target/solutions/ws`, the same path every time,
//! so that only the patched crates rebuild), applies the patch with `git apply`, and runs
//! COMMAND there with `CARGO_TARGET_DIR=target/solutions/target`. A patch that does not
//! apply, has no `Check:` line, or whose check fails, fails the test. The appendix
//! (`book/src/solutions.md`) and the directory must name the same patches.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Every patch applies to a fresh copy of the workspace and passes its check.
#[test]
fn every_solution_patch_applies_and_passes_its_check() {
    let root = workspace_root();
    let patches = patches(&root);
    assert!(!patches.is_empty(), "no patches in book/solutions");
    let files = tracked_files(&root);
    let base = root.join("target/solutions");
    let scratch = base.join("ws");
    let mut failures = Vec::new();
    for patch in &patches {
        let name = patch.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(patch).unwrap();
        let Some(check) = check_of(&text) else {
            failures.push(format!("{name}: no `Check:` line before the diff"));
            continue;
        };
        let started = Instant::now();
        copy_tree(&root, &scratch, &files);
        let applied = Command::new("git")
            .args(["apply", "--whitespace=nowarn"])
            .arg(patch)
            .current_dir(&scratch)
            .output()
            .expect("run git apply");
        if !applied.status.success() {
            failures.push(format!(
                "{name}: git apply failed: {}",
                String::from_utf8_lossy(&applied.stderr).trim()
            ));
            continue;
        }
        // `git apply` run inside another repository's tree silently skips paths outside the
        // current directory; the scratch copy is its own repository, but check anyway.
        let unchanged: Vec<&str> = touched_paths(&text)
            .into_iter()
            .filter(|p| fs::read(root.join(p)).ok() == fs::read(scratch.join(p)).ok())
            .collect();
        if !unchanged.is_empty() {
            failures.push(format!(
                "{name}: applied, but left unchanged: {unchanged:?}"
            ));
            continue;
        }
        let out = Command::new("sh")
            .arg("-c")
            .arg(&check)
            .current_dir(&scratch)
            .env("CARGO_TARGET_DIR", base.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .expect("run the check");
        let took = started.elapsed().as_secs_f64();
        if out.status.success() {
            say(&format!("ok      {name}: `{check}` ({took:.0}s)"));
        } else {
            say(&format!("FAILED  {name}: `{check}` ({took:.0}s)"));
            failures.push(format!(
                "{name}: `{check}` failed ({})\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
                out.status,
                tail(&String::from_utf8_lossy(&out.stdout), 30),
                tail(&String::from_utf8_lossy(&out.stderr), 30)
            ));
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "{} solution patch(es) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The appendix (`book/src/solutions*.md`) names every patch, and every patch it names exists.
#[test]
fn the_appendix_and_the_patches_agree() {
    let root = workspace_root();
    let mut appendix = String::new();
    for entry in fs::read_dir(root.join("book/src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("solutions") && name.ends_with(".md") {
            appendix.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
    let on_disk: Vec<String> = patches(&root)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let named: Vec<&str> = appendix
        .split("book/solutions/")
        .skip(1)
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| n.ends_with(".patch"))
        .collect();
    for n in &named {
        assert!(
            on_disk.iter().any(|d| d == n),
            "the appendix names book/solutions/{n}, which does not exist"
        );
    }
    for d in &on_disk {
        assert!(
            named.contains(&d.as_str()),
            "book/solutions/{d} is not named in book/src/solutions*.md"
        );
    }
}

/// The files a patch changes, from its `diff --git a/PATH b/PATH` lines.
fn touched_paths(patch: &str) -> Vec<&str> {
    patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .filter_map(|l| l.split(" b/").next())
        .collect()
}

/// The `Check:` line is found before the diff, and only there.
#[test]
fn check_line_is_read_from_the_header() {
    assert_eq!(
        check_of("Why.\nCheck: cargo test -p x\n\ndiff --git a/f b/f\n+Check: no\n").as_deref(),
        Some("cargo test -p x")
    );
    assert_eq!(check_of("diff --git a/f b/f\n+Check: no\n"), None);
    assert_eq!(
        touched_paths("x\ndiff --git a/p/a.rs b/p/a.rs\n--- a/p/a.rs\ndiff --git a/q b/q\n"),
        ["p/a.rs", "q"]
    );
}

fn check_of(patch: &str) -> Option<String> {
    patch
        .lines()
        .take_while(|l| !l.starts_with("diff "))
        .find_map(|l| l.strip_prefix("Check:"))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

fn patches(root: &Path) -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = fs::read_dir(root.join("book/solutions"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "patch"))
                .collect()
        })
        .unwrap_or_default();
    list.sort();
    list
}

/// The files git tracks, as the working tree has them now (local edits included).
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("run git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| root.join(p).is_file())
        .collect()
}

/// A fresh copy of `files` at `to`, made a git repository of its own: it lies inside the
/// workspace's `target/`, and `git apply` in a subdirectory of another repository would
/// apply nothing outside that subdirectory.
fn copy_tree(root: &Path, to: &Path, files: &[PathBuf]) {
    let _ = fs::remove_dir_all(to);
    for f in files {
        let dest = to.join(f);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(root.join(f), &dest).unwrap();
    }
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(to)
        .status()
        .expect("run git init");
    assert!(init.success(), "git init in {} failed", to.display());
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Straight to stderr, past the test harness's capture, so a passing run shows it too.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
