//! What the tests that run a `bench` subcommand share: running it bounded in time, and
//! reading its markdown table.
#![allow(dead_code)]

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The release build of the phase may be part of the run; the runs themselves take seconds.
pub const TIMEOUT: Duration = Duration::from_secs(900);

/// The workspace root, where `bench` expects to run.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

/// The cells of one markdown table row, trimmed.
pub fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// Runs `bench` from the workspace root in its own process group, killing the group (its
/// servers too) if it outlives [`TIMEOUT`]; returns success, stdout and stderr.
pub fn run_bench(root: &Path, args: &[&str]) -> (bool, String, String) {
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
