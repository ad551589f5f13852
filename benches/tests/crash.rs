//! `bench crash p3-reactor --ack written`, run as a reader would run it: one row, every
//! acknowledged event still in the file after `kill -9`, and the restart recovered.

mod common;
use common::{cells, root, run_bench};

/// Under `--ack written` p3 keeps every event it acknowledged, and its restart recovers.
#[test]
fn crash_p3_written_keeps_every_acknowledged_event() {
    let (ok, stdout, stderr) = run_bench(&root(), &["crash", "p3-reactor", "--ack", "written"]);
    assert!(
        ok,
        "bench crash failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("| phase | ack |"))
        .unwrap_or_else(|| panic!("no table:\n{stdout}"));
    let columns = cells(header);
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .filter(|l| l.starts_with("| p3-reactor |"))
        .map(cells)
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    let row = &rows[0];
    assert_eq!(row.len(), columns.len(), "{row:?}");
    let at = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let number = |name: &str| -> u64 {
        row[at(name)]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {:?} in {row:?}", row[at(name)]))
    };
    assert_eq!(row[at("ack")], "written");
    let acked = number("202s seen (events)");
    assert!(acked > 0, "no event acknowledged before the kill: {row:?}");
    assert!(number("lines stored") >= acked, "{row:?}");
    assert_eq!(number("acknowledged missing"), 0, "{row:?}");
    number("torn bytes");
    assert!(
        row[at("recovered on restart")].starts_with("yes"),
        "{row:?}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
