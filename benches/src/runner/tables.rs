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

/// Peers measured beside the phases, and the heading of the ratio column each gets in
/// the tables where it has a row: a phase's goodput divided by the peer's.
pub const PEER_COLUMNS: [(&str, &str); 2] = [("nginx", "/nginx"), ("axum-ingest", "/axum")];

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// `154451` as `154,451`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < -0.5 {
        out.insert(0, '-');
    }
    out
}

/// A short form for the ends of a spread: `149k`, `1.5k`, `2.1M`, `950`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 10e6 {
        format!("{:.0}M", v / 1e6)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 10e3 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A rate over repetitions: the median, and the min–max when there is more than one,
/// e.g. `154,451 (149k–158k)`. One repetition: just the number.
pub fn rate_cell(values: &[f64]) -> String {
    spread_cell(values, thousands, compact)
}

/// A latency in milliseconds over repetitions: `0.412 (0.389–0.470)`.
pub fn ms_cell(values: &[f64]) -> String {
    spread_cell(values, |v| format!("{v:.3}"), |v| format!("{v:.3}"))
}

/// A percentage over repetitions: `100.00`, or `60.00 (40.00–100.00)` when they differ.
pub fn pct_cell(values: &[f64]) -> String {
    spread_cell(values, |v| format!("{v:.2}"), |v| format!("{v:.2}"))
}

/// A value over repetitions: the median by `main`, and the ends by `end` when they differ.
pub fn spread_cell(
    values: &[f64],
    main: impl Fn(f64) -> String,
    end: impl Fn(f64) -> String,
) -> String {
    let Some(mid) = median(values) else {
        return NONE.into();
    };
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo_s, hi_s) = (end(lo), end(hi));
    if values.len() < 2 || lo_s == hi_s {
        main(mid)
    } else {
        format!("{} ({lo_s}–{hi_s})", main(mid))
    }
}

/// Every repetition's value of `f` for the reports in `reports`.
fn each(reports: &[&Report], f: impl Fn(&Report) -> f64) -> Vec<f64> {
    reports.iter().map(|r| f(r)).collect()
}

/// The closed-loop mean latency by Little's law: C connections each waiting for their
/// answer, `answered/s` answers a second, so each waits C / answered/s on average. It
/// counts the time a starved connection waited, which the histogram of answered
/// requests cannot.
pub fn little_mean_ms(r: &Report) -> f64 {
    if r.answered_per_s > 0.0 {
        1000.0 * r.connections as f64 / r.answered_per_s
    } else {
        f64::INFINITY
    }
}

impl Results {
    /// The whole report: machine header, summary, then one table per scenario.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## Machine\n\n");
        out.push_str(&self.header.markdown());
        out.push_str("\n## Summary: ok/s (2xx responses per second)\n\n");
        out.push_str(&self.summary_table());
        for s in &self.scenarios {
            let _ = write!(out, "\n### {}\n\n{}", s.title, self.scenario_table(s));
        }
        out
    }

    /// Every repetition's row of `phase` under scenario `id`, in run order.
    pub fn rows_of(&self, phase: &str, id: &str) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.phase == phase && r.scenario == id)
            .collect()
    }

    /// Every repetition's report of `phase` under scenario `id` (the ones that ran).
    pub fn reports_of(&self, phase: &str, id: &str) -> Vec<&Report> {
        self.rows_of(phase, id)
            .into_iter()
            .filter_map(|r| r.report.as_ref())
            .collect()
    }

    /// The median goodput of `phase` under scenario `id`, if it ran.
    pub fn median_ok_per_s(&self, phase: &str, id: &str) -> Option<f64> {
        median(&each(&self.reports_of(phase, id), |r| r.ok_per_s))
    }

    /// The peers that have a measured row in scenario `s`: their ratio columns. None in an
    /// open-loop table, where ok/s is the rate offered, not a capacity to compare.
    fn peer_columns(&self, s: &Scenario) -> Vec<(&'static str, &'static str)> {
        if s.open_loop.is_some() {
            return Vec::new();
        }
        PEER_COLUMNS
            .into_iter()
            .filter(|(peer, _)| !self.reports_of(peer, &s.id).is_empty())
            .collect()
    }

    /// One table: every phase (and peer) under scenario `s`, each cell the median over
    /// the repetitions with its min–max.
    pub fn scenario_table(&self, s: &Scenario) -> String {
        let fixed = s.requests_per_connection.is_some();
        let idle = s.kind != Kind::Load;
        let peers = self.peer_columns(s);
        let mut head = vec!["phase", "server threads", "connections"];
        if fixed {
            head.push("total requests");
        }
        head.extend(["ok/s", "answered/s", "served %", "success %"]);
        head.extend(peers.iter().map(|(_, h)| *h));
        head.extend([
            "C / answered/s ms",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
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
        for phase in self.phases() {
            let rows = self.rows_of(&phase, &s.id);
            if rows.is_empty() {
                continue;
            }
            let cells = self.row_cells(s, &phase, &rows, &peers);
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// The cells of one phase's row, in the order of [`Results::scenario_table`]'s head.
    fn row_cells(
        &self,
        s: &Scenario,
        phase: &str,
        rows: &[&Row],
        peers: &[(&str, &str)],
    ) -> Vec<String> {
        let reports: Vec<&Report> = rows.iter().filter_map(|r| r.report.as_ref()).collect();
        let threads = rows.iter().filter_map(|r| r.usage.peak_threads).max();
        let mut cells = vec![
            cell(phase),
            threads.map_or(NONE.into(), |t| t.to_string()),
            s.connections.to_string(),
        ];
        let mut notes_text = Vec::new();
        if reports.is_empty() {
            if s.requests_per_connection.is_some() {
                cells.push(NONE.into());
            }
            cells.push("**failed**".into());
            cells.extend(std::iter::repeat_n(NONE.to_string(), 8 + peers.len()));
        } else {
            if let Some(per_conn) = s.requests_per_connection {
                let expected = per_conn * s.connections as u64;
                // The worst repetition: a run that lost requests must not hide behind others.
                let total = reports
                    .iter()
                    .map(|r| r.outcomes.total())
                    .min()
                    .unwrap_or(0);
                cells.push(if total == expected {
                    total.to_string()
                } else {
                    format!("{total} of {expected}")
                });
            }
            let ok = each(&reports, |r| r.ok_per_s);
            cells.extend([
                rate_cell(&ok),
                rate_cell(&each(&reports, |r| r.answered_per_s)),
                pct_cell(&each(&reports, |r| r.served_pct)),
                pct_cell(&each(&reports, |r| r.success_pct)),
            ]);
            let mine = median(&ok);
            for (peer, _) in peers {
                let theirs = self.median_ok_per_s(peer, &s.id);
                cells.push(match (mine, theirs) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                    _ => NONE.into(),
                });
            }
            cells.extend([
                // Little's law needs every connection busy: not so in an open loop.
                if s.open_loop.is_some() {
                    NONE.into()
                } else {
                    ms_cell(&each(&reports, little_mean_ms))
                },
                ms_cell(&each(&reports, |r| r.latency.p50_ms)),
                ms_cell(&each(&reports, |r| r.latency.p99_ms)),
                ms_cell(&each(&reports, |r| r.latency.p999_ms)),
                ms_cell(&each(&reports, |r| r.latency.max_ms)),
            ]);
            for (k, r) in rows.iter().enumerate() {
                let n = r.report.as_ref().map(notes).unwrap_or_default();
                if n.is_empty() {
                    continue;
                }
                notes_text.push(if rows.len() > 1 {
                    format!("run {}: {n}", k + 1)
                } else {
                    n
                });
            }
        }
        let cpu: Vec<f64> = rows.iter().filter_map(|r| r.usage.cpu_pct).collect();
        cells.push(opt(median(&cpu), 0));
        let rss = rows
            .iter()
            .filter_map(|r| r.usage.peak_rss_mib)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        cells.push(opt(rss, 1));
        if s.kind != Kind::Load {
            match rows.iter().find_map(|r| r.idle.as_ref()) {
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
        cells.push(self.stored_cell(phase));
        for (k, r) in rows.iter().enumerate() {
            let run = if rows.len() > 1 {
                format!("run {}: ", k + 1)
            } else {
                String::new()
            };
            if let Some(log) = &r.server_log {
                notes_text.push(format!("{run}{log}"));
            }
            if let Some(e) = &r.error {
                notes_text.insert(0, format!("{run}{e}"));
            }
        }
        notes_text.dedup();
        cells.push(cell(&notes_text.join("; ")));
        cells
    }

    /// `yes`, or why the phase's log does not hold exactly what it accepted (the first
    /// failed check over all its servers); `n/a` for a peer that keeps no log.
    fn stored_cell(&self, phase: &str) -> String {
        let mut checks = self
            .stops
            .iter()
            .filter(|(p, _)| p == phase)
            .map(|(_, c)| c);
        let Some(first) = checks.next() else {
            return NONE.into();
        };
        match std::iter::once(first).chain(checks).find(|c| !c.ok) {
            None => "yes".into(),
            Some(c) => cell(&format!("**no**: {}", c.problem.as_deref().unwrap_or("?"))),
        }
    }

    /// One line per phase, one column per scenario: the median ok/s, with the success
    /// rate when it is below 100 % and the share of connections served when some were
    /// starved, so the whole run reads at a glance.
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
                let rows = self.rows_of(&phase, &s.id);
                let reports = self.reports_of(&phase, &s.id);
                let text = if !reports.is_empty() {
                    let mut text = rate_cell(&each(&reports, |r| r.ok_per_s));
                    let success = median(&each(&reports, |r| r.success_pct)).unwrap_or(0.0);
                    let served = median(&each(&reports, |r| r.served_pct)).unwrap_or(0.0);
                    let mut qualifiers = Vec::new();
                    if success < 99.995 {
                        qualifiers.push(format!("{success:.1} % ok"));
                    }
                    if served < 99.995 {
                        qualifiers.push(format!("{served:.0} % served"));
                    }
                    if !qualifiers.is_empty() {
                        let _ = write!(text, ", {}", qualifiers.join(", "));
                    }
                    text
                } else if !rows.is_empty() {
                    "**failed**".into()
                } else {
                    NONE.into()
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

    /// Phase (and peer) names in the order they first ran.
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
        tally.served_connections = connections as u64;
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
            rep: 0,
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
        assert!(table.starts_with(
            "| phase | server threads | connections | total requests | ok/s | answered/s | served % |"
        ));
        assert!(
            table.contains("| p-good | – | 20 | 999 of 1000 |"),
            "{table}"
        );
        assert!(
            table.contains("| p-bad | – | 20 | – | **failed** |"),
            "{table}"
        );
    }

    /// The summary has one row per phase, ok/s with the success rate when below
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
            "| p-good | 990, 99.0 % ok | 900, 90.1 % ok | yes |"
        );
        assert_eq!(
            lines[3],
            "| p-bad | **failed** | **failed** | **no**: never ran |"
        );
    }

    /// Medians of odd and even counts, and nothing for no values.
    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    /// A rate reads as the median with the min–max in short form; one repetition, or
    /// repetitions that agree, read as the number alone.
    #[test]
    fn spread_formatting() {
        assert_eq!(
            rate_cell(&[149_020.0, 154_451.0, 158_300.0]),
            "154,451 (149k–158k)"
        );
        assert_eq!(rate_cell(&[154_451.0]), "154,451");
        assert_eq!(rate_cell(&[107.0, 96.0, 120.0]), "107 (96–120)");
        assert_eq!(rate_cell(&[1_450.0, 1_520.0]), "1,485 (1.4k–1.5k)");
        assert_eq!(rate_cell(&[]), NONE);
        assert_eq!(ms_cell(&[0.5, 0.4, 0.47]), "0.470 (0.400–0.500)");
        assert_eq!(pct_cell(&[100.0, 100.0, 100.0]), "100.00");
        assert_eq!(pct_cell(&[40.0, 100.0, 60.0]), "60.00 (40.00–100.00)");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(compact(2_345_678.0), "2.3M");
    }

    /// ok/s counts 2xx only, answered/s every response: a phase answering 503 at once
    /// is fast, not good, and the table must say which.
    #[test]
    fn ok_per_s_is_goodput() {
        let mut results = sample_results();
        results.rows[0].report = Some(report(107, 24_310, 10));
        let table = results.scenario_table(&results.scenarios[0]);
        let good = table.lines().nth(2).unwrap();
        assert!(
            good.starts_with("| p-good | – | 10 | 107 | 24,417 | 100.00 | 0.44 |"),
            "{good}"
        );
        assert!(good.contains("503 x 24310"), "{good}");
    }

    /// A client that never got an answer shows in `served %` even when every answered
    /// request succeeded, in the table and in the summary.
    #[test]
    fn starved_connections_show() {
        let mut results = sample_results();
        let mut r = report(5_000, 0, 10);
        r.served_connections = 4;
        r.served_pct = 40.0;
        results.rows[0].report = Some(r);
        let table = results.scenario_table(&results.scenarios[0]);
        let good = table.lines().nth(2).unwrap();
        assert!(
            good.starts_with("| p-good | – | 10 | 5,000 | 5,000 | 40.00 | 100.00 |"),
            "{good}"
        );
        let summary = results.summary_table();
        assert!(
            summary.contains("| p-good | 5,000, 40 % served |"),
            "{summary}"
        );
    }

    /// Repetitions collapse into one row: median with min–max, notes per run, and the
    /// worst total of a fixed-count table.
    #[test]
    fn repetitions_become_median_and_spread() {
        let mut results = sample_results();
        for (rep, ok) in [(1, 1_200), (2, 800)] {
            let mut r = row("p-good", "ingest-10", Some(report(ok, 0, 10)));
            r.rep = rep;
            results.rows.push(r);
        }
        let table = results.scenario_table(&results.scenarios[0]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let good = lines[2];
        assert!(
            good.starts_with("| p-good | – | 10 | 990 (800–1.2k) | 1,000 (800–1.2k) |"),
            "{good}"
        );
        assert!(good.ends_with("| yes | run 1: 503 x 10 |"), "{good}");
    }

    /// Peer columns appear only where a peer has a row, and give each row's goodput
    /// divided by the peer's.
    #[test]
    fn peer_ratio_columns() {
        let mut results = sample_results();
        let without = results.scenario_table(&results.scenarios[0]);
        assert!(!without.contains("/axum"), "{without}");
        results
            .rows
            .push(row("axum-ingest", "ingest-10", Some(report(495, 0, 10))));
        let table = results.scenario_table(&results.scenarios[0]);
        assert!(
            table.contains("| success % | /axum | C / answered/s ms |"),
            "{table}"
        );
        assert!(table.contains("| 99.00 | 2.00× |"), "{table}");
        assert!(table.contains("| 100.00 | 1.00× |"), "{table}");
        let fixed = results.scenario_table(&results.scenarios[1]);
        assert!(!fixed.contains("/axum"), "{fixed}");
    }
}
