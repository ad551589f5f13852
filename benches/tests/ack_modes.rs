//! `bench ack-modes --quick p3-reactor`, run as a reader would run it: the table has a row
//! per mode, each with a number in every column, and the goal lines and the data dirs'
//! filesystem are printed beside it.

mod common;
use common::{cells, root, run_bench};

/// The quick form against p3 prints queued, written and synced rows, each fully measured.
#[test]
fn quick_ack_modes_on_p3_fills_every_column() {
    let (ok, stdout, stderr) = run_bench(&root(), &["ack-modes", "--quick", "p3-reactor"]);
    assert!(
        ok,
        "bench ack-modes failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("data dirs: under ")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("IN MEMORY"),
        "data dirs on tmpfs:\n{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("| phase | mode |"))
        .unwrap_or_else(|| panic!("no table:\n{stdout}"));
    let columns = cells(header);
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .filter(|l| l.starts_with("| p3-reactor |"))
        .map(cells)
        .collect();
    let modes: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(modes, ["queued", "written", "synced"], "{stdout}");
    let at = |name: &str| columns.iter().position(|c| c == name).unwrap();
    for row in &rows {
        assert_eq!(row.len(), columns.len(), "{row:?}");
        for (i, value) in row.iter().enumerate().take(columns.len() - 1).skip(2) {
            // A mode that made no fdatasync has no events per fdatasync to show.
            if i == at("events per fdatasync") && row[at("fdatasync/s")] == "0" {
                assert_eq!(value, "–", "{row:?}");
                continue;
            }
            assert!(is_number(value), "{}: {value:?} in {row:?}", columns[i]);
        }
        assert!(row.last().unwrap().is_empty(), "notes: {row:?}");
    }
    assert_eq!(rows[0][at("vs queued")], "1.00x");
    // Under synced the writer must have synced at least once.
    assert_ne!(rows[2][at("fdatasync/s")], "0", "{stdout}");
    assert!(
        stdout.contains("- p3-reactor: written ≥ 0.80x queued / ")
            && stdout.contains("events per fdatasync / "),
        "goal lines missing:\n{stdout}"
    );
}

/// `1,234`, `0.93x`, `12.5`, `3,400 (3.1k–3.6k)`: a number, maybe with its spread.
fn is_number(cell: &str) -> bool {
    let head = cell.split(" (").next().unwrap_or_default();
    let digits = head.trim_end_matches('x').replace(',', "");
    !digits.is_empty() && digits.parse::<f64>().is_ok()
}
