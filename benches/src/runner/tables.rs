//! The Markdown the bench prints and the book includes: one table per scenario,
//! a one-table summary, and the full report that strings them together.
//!
//! Every phase gets a row in every table, whatever happened to it: a phase that
//! did not build, start or survive says so in its row instead of vanishing, and a
//! run with rejected or failed requests names them in the `notes` column. A table
//! that hides failures would flatter exactly the phases the book wants to show
//! breaking.

use std::fmt::Write as _;

use super::output::{Results, Row};
use super::scenarios::{Kind, Scenario};
use crate::loadgen::Report;

/// Text for an empty measurement.
const NONE: &str = "–";

/// Makes `text` safe inside a table cell: a `|` would start a new cell and a
/// newline would end the row (server stderr holds both).
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(NONE.to_string(), |v| format!("{v:.digits$}"))
}

/// Non-2xx statuses and failures by kind, e.g. `503 x 9120; reset 12`; empty when
/// every request succeeded.
pub fn notes(r: &Report) -> String {
    let mut parts: Vec<String> = r
        .statuses
        .iter()
        .filter(|(code, _)| !(200..300).contains(*code))
        .map(|(code, n)| format!("{code} x {n}"))
        .collect();
    let o = &r.outcomes;
    for (n, what) in [
        (o.connect_refused, "connect refused"),
        (o.connect_timeout, "connect timeout"),
        (o.connect_other, "connect failed"),
        (o.reset, "reset"),
        (o.timeout, "timeout"),
        (o.bad_response, "bad response"),
    ] {
        if n > 0 {
            parts.push(format!("{what} {n}"));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    if let Some(e) = &r.first_error {
        parts.push(format!("first error: {e}"));
    }
    parts.join("; ")
}

impl Results {
    /// The whole report: machine header, summary, then one table per scenario.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## Machine\n\n");
        out.push_str(&self.header.markdown());
        out.push_str("\n## Summary: requests per second\n\n");
        out.push_str(&self.summary_table());
        for s in &self.scenarios {
            let _ = write!(out, "\n### {}\n\n{}", s.title, self.scenario_table(s));
        }
        out
    }

    /// One table: every phase under scenario `s`.
    pub fn scenario_table(&self, s: &Scenario) -> String {
        let fixed = s.requests_per_connection.is_some();
        let idle = s.kind != Kind::Load;
        let mut head = vec!["phase", "server threads", "connections"];
        if fixed {
            head.push("total requests");
        }
        head.extend([
            "RPS",
            "success %",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "server CPU %",
            "peak RSS MiB",
        ]);
        if idle {
            head.extend(["idle conns held", "bytes / idle conn"]);
        }
        head.extend(["stored == accepted", "notes"]);
        let mut out = format!("| {} |\n|", head.join(" | "));
        for h in &head {
            // Text columns left-aligned, numbers right-aligned.
            let left = matches!(
                *h,
                "phase" | "idle conns held" | "stored == accepted" | "notes"
            );
            out.push_str(if left { "---|" } else { "---:|" });
        }
        out.push('\n');
        for row in self.rows.iter().filter(|r| r.scenario == s.id) {
            let cells = self.row_cells(s, row);
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// The cells of one row, in the order of [`Results::scenario_table`]'s head.
    fn row_cells(&self, s: &Scenario, row: &Row) -> Vec<String> {
        let mut cells = vec![
            cell(&row.phase),
            row.usage
                .peak_threads
                .map_or(NONE.into(), |t| t.to_string()),
            s.connections.to_string(),
        ];
        let mut notes_text = Vec::new();
        match &row.report {
            Some(r) => {
                if let Some(per_conn) = s.requests_per_connection {
                    let expected = per_conn * s.connections as u64;
                    let total = r.outcomes.total();
                    cells.push(if total == expected {
                        total.to_string()
                    } else {
                        format!("{total} of {expected}")
                    });
                }
                cells.extend([
                    format!("{:.0}", r.rps),
                    format!("{:.2}", r.success_pct),
                    format!("{:.3}", r.latency.p50_ms),
                    format!("{:.3}", r.latency.p99_ms),
                    format!("{:.3}", r.latency.p999_ms),
                ]);
                let n = notes(r);
                if !n.is_empty() {
                    notes_text.push(n);
                }
            }
            None => {
                if s.requests_per_connection.is_some() {
                    cells.push(NONE.into());
                }
                cells.push("**failed**".into());
                cells.extend(std::iter::repeat_n(NONE.to_string(), 4));
            }
        }
        cells.push(opt(row.usage.cpu_pct, 0));
        cells.push(opt(row.usage.peak_rss_mib, 1));
        if s.kind != Kind::Load {
            match &row.idle {
                Some(idle) => {
                    cells.push(idle.summary());
                    cells.push(opt(idle.bytes_per_conn, 0));
                    if idle.held < idle.requested {
                        if let Some(e) = &idle.first_error {
                            notes_text.push(format!("idle: {e}"));
                        }
                    }
                }
                None => cells.extend([NONE.to_string(), NONE.to_string()]),
            }
        }
        cells.push(self.stored_cell(&row.phase));
        if let Some(log) = &row.server_log {
            notes_text.push(log.clone());
        }
        if let Some(e) = &row.error {
            notes_text.insert(0, e.clone());
        }
        cells.push(cell(&notes_text.join("; ")));
        cells
    }

    /// `yes`, or why the phase's log does not hold exactly what it accepted.
    fn stored_cell(&self, phase: &str) -> String {
        match self.stops.iter().find(|(p, _)| p == phase) {
            Some((_, c)) if c.ok => "yes".into(),
            Some((_, c)) => cell(&format!("**no**: {}", c.problem.as_deref().unwrap_or("?"))),
            None => NONE.into(),
        }
    }

    /// One line per phase, one column per scenario: the RPS, with the success rate
    /// when it is below 100 %, so the whole run reads at a glance.
    pub fn summary_table(&self) -> String {
        let idle = self.scenarios.iter().any(|s| s.kind != Kind::Load);
        let mut out = String::from("| phase |");
        let mut rule = String::from("|---|");
        for s in &self.scenarios {
            let _ = write!(out, " {} |", s.id);
            rule.push_str("---:|");
        }
        if idle {
            out.push_str(" bytes / idle conn |");
            rule.push_str("---:|");
        }
        let _ = write!(out, " stored == accepted |\n{rule}---|\n");
        for phase in self.phases() {
            let _ = write!(out, "| {} |", cell(&phase));
            for s in &self.scenarios {
                let row = self
                    .rows
                    .iter()
                    .find(|r| r.phase == phase && r.scenario == s.id);
                let text = match row.and_then(|r| r.report.as_ref()) {
                    Some(r) if r.success_pct < 99.995 => {
                        format!("{:.0} ({:.1} % ok)", r.rps, r.success_pct)
                    }
                    Some(r) => format!("{:.0}", r.rps),
                    None if row.is_some() => "**failed**".into(),
                    None => NONE.into(),
                };
                let _ = write!(out, " {text} |");
            }
            if idle {
                let bytes = self
                    .rows
                    .iter()
                    .filter(|r| r.phase == phase)
                    .find_map(|r| r.idle.as_ref()?.bytes_per_conn);
                let _ = write!(out, " {} |", opt(bytes, 0));
            }
            let _ = writeln!(out, " {} |", self.stored_cell(&phase));
        }
        out
    }

    /// Phase names in the order they ran.
    pub fn phases(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for r in &self.rows {
            if !names.contains(&r.phase) {
                names.push(r.phase.clone());
            }
        }
        names
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::loadgen::report::ThreadTally;
    use crate::runner::output::Header;
    use crate::runner::scenarios::plan;
    use crate::runner::server::StopCheck;

    /// A report with `ok` 202s and `rejected` 503s over one second.
    pub(crate) fn report(ok: u64, rejected: u64, connections: usize) -> Report {
        let mut tally = ThreadTally::new();
        for _ in 0..ok {
            tally.record_response(202, Duration::from_micros(300));
        }
        for _ in 0..rejected {
            tally.record_response(503, Duration::from_micros(50));
        }
        Report::merge(vec![tally], Duration::from_secs(1), connections)
    }

    pub(crate) fn row(phase: &str, scenario: &str, report: Option<Report>) -> Row {
        Row {
            phase: phase.into(),
            scenario: scenario.into(),
            report,
            usage: Default::default(),
            idle: None,
            error: None,
            server_log: None,
        }
    }

    fn stop(ok: bool, problem: Option<&str>) -> StopCheck {
        StopCheck {
            exit_code: ok.then_some(0),
            accepted: None,
            stored_lines: None,
            ok,
            problem: problem.map(str::to_string),
        }
    }

    /// Results for the default scenarios: p-good measured ingest-10 and the
    /// 20x50 table (with rejections), p-bad never started.
    pub(crate) fn sample_results() -> Results {
        let scenarios: Vec<_> = plan(false, false, None)
            .into_iter()
            .filter(|s| s.id == "ingest-10" || s.id == "fixed-20x50")
            .collect();
        let mut bad = row("p-bad", "ingest-10", None);
        bad.error = Some("failed to start: boom | second line\nthird".into());
        let mut bad_fixed = row("p-bad", "fixed-20x50", None);
        bad_fixed.error = bad.error.clone();
        Results {
            header: Header::collect("none (test)".into()),
            scenarios,
            rows: vec![
                row("p-good", "ingest-10", Some(report(990, 10, 10))),
                row("p-good", "fixed-20x50", Some(report(900, 99, 20))),
                bad,
                bad_fixed,
            ],
            stops: vec![
                ("p-good".into(), stop(true, None)),
                ("p-bad".into(), stop(false, Some("never ran"))),
            ],
        }
    }

    /// Cells in a Markdown table line: unescaped `|` minus one.
    fn cells(line: &str) -> usize {
        let bytes = line.as_bytes();
        (0..bytes.len())
            .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
            .count()
            - 1
    }

    /// A phase that never started still gets a row, with as many cells as the
    /// head, "failed" where the numbers would be and the reason (its `|` and
    /// newline escaped) in the notes.
    #[test]
    fn failed_phase_row() {
        let results = sample_results();
        let table = results.scenario_table(&results.scenarios[0]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let width = cells(lines[0]);
        assert!(lines.iter().all(|l| cells(l) == width), "{table}");
        let bad = lines[3];
        assert!(bad.starts_with("| p-bad | – | 10 | **failed** |"), "{bad}");
        assert!(
            bad.contains("**no**: never ran | failed to start: boom \\| second line third |"),
            "{bad}"
        );
        let good = lines[2];
        assert!(good.contains("| 99.00 |"), "{good}");
        assert!(good.ends_with("| yes | 503 x 10 |"), "{good}");
    }

    /// The seed-style table has an exact "total requests" column, and says
    /// "N of M" when some requests never ended.
    #[test]
    fn fixed_table_counts_requests() {
        let results = sample_results();
        let table = results.scenario_table(&results.scenarios[1]);
        assert!(
            table.starts_with("| phase | server threads | connections | total requests | RPS |")
        );
        assert!(
            table.contains("| p-good | – | 20 | 999 of 1000 |"),
            "{table}"
        );
        assert!(
            table.contains("| p-bad | – | 20 | – | **failed** |"),
            "{table}"
        );
    }

    /// The summary has one row per phase, RPS with the success rate when below
    /// 100 %, and "failed" for a phase that did not run.
    #[test]
    fn summary_table() {
        let summary = sample_results().summary_table();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(
            lines[0],
            "| phase | ingest-10 | fixed-20x50 | stored == accepted |"
        );
        assert_eq!(
            lines[2],
            "| p-good | 1000 (99.0 % ok) | 999 (90.1 % ok) | yes |"
        );
        assert_eq!(
            lines[3],
            "| p-bad | **failed** | **failed** | **no**: never ran |"
        );
    }
}
