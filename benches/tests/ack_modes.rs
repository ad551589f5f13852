//! `bench ack-modes --quick p3-reactor`, run as a reader would run it: the table has a row
//! per mode, each with a number in every column, and the goal lines and the data dirs'
//! filesystem are printed beside it.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The release build of p3 may be part of the run; the runs themselves take seconds.
const TIMEOUT: Duration = Duration::from_secs(900);

/// The quick form against p3 prints queued, written and synced rows, each fully measured.
#[test]
fn quick_ack_modes_on_p3_fills_every_column() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf();
    let (ok, stdout, stderr) = run_bench(&root, &["ack-modes", "--quick", "p3-reactor"]);
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

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// Runs `bench` from the workspace root in its own process group, killing the group (its
/// servers too) if it outlives [`TIMEOUT`]; returns success, stdout and stderr.
fn run_bench(root: &Path, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bench starts");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bench") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: signals the process group this test created; no memory is involved.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.is_some(),
        "bench ran over {TIMEOUT:?}\n{stdout}\n{stderr}"
    );
    (status.unwrap().success(), stdout, stderr)
}
