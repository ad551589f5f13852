//! `bench crash p3-reactor --ack written`, run as a reader would run it: one row, every
//! acknowledged event still in the file after `kill -9`, and the restart recovered.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The release build of p3 may be part of the run; the crash itself takes seconds.
const TIMEOUT: Duration = Duration::from_secs(900);

/// Under `--ack written` p3 keeps every event it acknowledged, and its restart recovers.
#[test]
fn crash_p3_written_keeps_every_acknowledged_event() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf();
    let (ok, stdout, stderr) = run_bench(&root, &["crash", "p3-reactor", "--ack", "written"]);
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
