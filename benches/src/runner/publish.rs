//! Saving a run: the JSON and Markdown kept under `target/bench/`, and with
//! `--publish` the fixed set of files the book includes from `book/src/results/`.
//!
//! The published file set does not depend on which scenarios ran: a scenario left
//! out of this run (the `--c10k` ones, say) still gets its file, saying it was not
//! measured. So a book chapter can include any of them and always build, and a
//! file never survives from an older run to sit beside tables it does not match.

use std::path::{Path, PathBuf};

use super::charts;
use super::output::Results;
use super::scenarios::{self, Scenario};

/// The machine header (CPU, kernel, toolchain, limits, pinning, date).
pub const HEADER: &str = "header.md";
/// One table, a row per phase and a column per scenario.
pub const SUMMARY: &str = "summary.md";
/// Everything: header, summary, and every scenario's table with its title.
pub const FULL: &str = "results.md";
/// The raw numbers, for anyone who wants to plot them differently.
pub const JSON: &str = "results.json";

/// Every scenario that has a published table, whether or not this run measured it.
pub fn published_scenarios() -> Vec<Scenario> {
    scenarios::plan(false, true, None)
}

/// The names of every file `--publish` writes, in `book/src/results/`.
pub fn file_names() -> Vec<String> {
    let mut names: Vec<String> = [HEADER, SUMMARY, FULL, JSON]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(published_scenarios().iter().map(|s| format!("{}.md", s.id)));
    names.extend(charts::FILES.iter().map(|s| s.to_string()));
    names
}

/// Writes `results.json` and `results.md` into `dir` (a run's own directory).
pub fn save(dir: &Path, results: &Results) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write(&dir.join(JSON), &json(results)?)?;
    write(&dir.join(FULL), &results.markdown())
}

/// Writes the whole published set into `dir`; returns the paths written.
pub fn publish(dir: &Path, results: &Results) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), String> {
        let path = dir.join(name);
        write(&path, text)?;
        written.push(path);
        Ok(())
    };
    put(HEADER, &results.header.markdown())?;
    put(SUMMARY, &results.summary_table())?;
    put(FULL, &results.markdown())?;
    put(JSON, &json(results)?)?;
    for s in published_scenarios() {
        let text = match results.scenarios.iter().find(|r| r.id == s.id) {
            Some(measured) => results.scenario_table(measured),
            None => not_measured(&s),
        };
        put(&format!("{}.md", s.id), &text)?;
    }
    for chart in charts::draw_all(results, dir)? {
        written.push(chart);
    }
    Ok(written)
}

/// The stand-in for a scenario this run left out.
fn not_measured(s: &Scenario) -> String {
    let in_default_run = scenarios::plan(false, false, None)
        .iter()
        .any(|d| d.id == s.id);
    let how = if !in_default_run {
        "`just bench --c10k --publish` measures it"
    } else {
        "`just bench --publish` measures it"
    };
    format!(
        "_{} was not measured in the published run: {how}._\n",
        s.title
    )
}

fn json(results: &Results) -> Result<String, String> {
    serde_json::to_string_pretty(results).map_err(|e| format!("cannot encode results: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::tables::tests::sample_results;

    /// `--publish` writes exactly the advertised file set, whatever ran: measured
    /// scenarios get their table, the others say how to measure them, and the
    /// idle-memory chart without data is a placeholder, not a missing file.
    #[test]
    fn publishes_the_whole_file_set() {
        let dir = tempfile::tempdir().unwrap();
        let written = publish(dir.path(), &sample_results()).unwrap();
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut expected = file_names();
        names.sort();
        expected.sort();
        assert_eq!(names, expected);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(read("ingest-10.md").starts_with("| phase |"));
        assert!(read("ingest-1000.md").contains("not measured"));
        assert!(read("idle-10000.md").contains("--c10k"));
        assert!(read("header.md").contains("- pinning: none (test)"));
        assert!(read("results.md").contains("### POST /ingest, 10 keep-alive connections"));
        for chart in charts::FILES {
            assert!(read(chart).starts_with("<svg"), "{chart}");
        }
        assert!(read("idle-memory.svg").contains("Not measured in this run"));
        let json: serde_json::Value = serde_json::from_str(&read(JSON)).unwrap();
        assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    }
}
