//! The deliberate twins: phase 4's reactor files are phase 3's with mio's types, and the book
//! shows the difference as diffs generated from the code. This test regenerates each diff and
//! compares it byte for byte with the copy committed under `book/src/generated/`, so a change
//! to one phase alone fails here until the other phase (or the book) follows.
//!
//! To accept a change after reading it: `UPDATE_TWINS=1 cargo test -p p4-mio --test twins`
//! (or `scripts/book-outputs.sh diff`, which runs the same `diff` command) rewrites the files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each twin: its path under `src/` in both phases, and the committed diff's file name.
const TWINS: [(&str, &str); 3] = [
    ("reactor.rs", "p3-p4-reactor.diff"),
    ("reactor/accept.rs", "p3-p4-accept.diff"),
    ("connection.rs", "p3-p4-connection.diff"),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `diff -u` of phase 3's and phase 4's copy of `file`, labelled with paths rather than
/// timestamps so that the output depends on the code alone.
fn regenerate(file: &str) -> Vec<u8> {
    let p3 = format!("p3-reactor/src/{file}");
    let p4 = format!("p4-mio/src/{file}");
    let output = Command::new("diff")
        .args(["-u", "--label", &p3, "--label", &p4, &p3, &p4])
        .current_dir(repository().join("phases"))
        .output()
        .expect("cannot run `diff` (diffutils), which this test and scripts/book-outputs.sh need");
    // 0: identical, 1: different (the expected case), 2: trouble.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "diff {p3} {p4} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The first line where two texts differ, for the failure message.
fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let expected = String::from_utf8_lossy(expected);
    let actual = String::from_utf8_lossy(actual);
    let mut lines = expected.lines().zip(actual.lines()).enumerate();
    match lines.find(|(_, (e, a))| e != a) {
        Some((n, (e, a))) => format!("line {}: committed {e:?}, now {a:?}", n + 1),
        None => format!(
            "one is a prefix of the other ({} vs {} lines)",
            expected.lines().count(),
            actual.lines().count()
        ),
    }
}

/// Every committed p3 -> p4 diff in the book equals the diff of the code as it is now.
#[test]
fn book_diffs_match_the_code() {
    let generated = repository().join("book/src/generated");
    let update = std::env::var_os("UPDATE_TWINS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, diff_name) in TWINS {
        let fresh = regenerate(file);
        let path = generated.join(diff_name);
        if update {
            std::fs::write(&path, &fresh).expect("write the regenerated diff");
            continue;
        }
        match std::fs::read(&path) {
            Ok(committed) if committed == fresh => {}
            Ok(committed) => stale.push(format!(
                "book/src/generated/{diff_name} ({file}): {}",
                first_difference(&committed, &fresh)
            )),
            Err(e) => stale.push(format!("book/src/generated/{diff_name}: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "phase 3 and phase 4 changed apart, or the book's diffs are stale:\n  {}\n\
         Make the same change in both phases if it belongs in both; then, after reading the \
         new diffs, rewrite them with\n  UPDATE_TWINS=1 cargo test -p p4-mio --test twins\n\
         (or scripts/book-outputs.sh diff) and commit the rewritten files.",
        stale.join("\n  ")
    );
}
