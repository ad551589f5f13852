//! Every shell command the book shows a reader is run, the way a reader would type it.
//!
//! Each shell block in `book/src` (language `sh`, `bash`, `console` or `shell`) carries one
//! marker among its info-string attributes, so that no command escapes this test unnoticed:
//!
//! - `run`: run with `bash` (`set -eo pipefail`) from the workspace root; a non-zero exit fails.
//! - `server`: one command that starts a server in the foreground (a reader's first terminal).
//!   It is started in the background, the test waits for its `listening on` line, and it is
//!   stopped like Ctrl-C (`SIGINT` to its process group) at the next `server` block or at the
//!   end of the chapter. Blocks after it in the chapter get `$PID`, the server's pid.
//! - `norun-KIND`: not run, for a reason listed in [`NOT_RUN`] and printed in the summary.
//!
//! `linux` or `macos` beside `run`/`server` restricts a block to that system. `uring` marks
//! the blocks of phase 6: when its server says io_uring is unavailable here (macOS, an old
//! kernel, a container's seccomp profile), they are listed as not run with its words. A block
//! whose tool (`nc`, `wrk`, ...) is not installed is listed as not run with that reason.
//!
//! A reader's commands are changed only as far as a test needs: `8080` becomes a free port
//! (one per chapter), `/tmp/ingest` a scratch directory, loadgen durations (`-d 10s`,
//! `--duration 20s`) one second, `sleep 60` five seconds, and `just load` gets `-d 1s`.
//! The chapters run in `SUMMARY.md` order, one at a time; the summary is written to stderr
//! directly, so `cargo test` shows it even when the test passes.
//!
//! `just` runs most commands. Without it the test fails when `CI` is set, and otherwise says
//! loudly that it skipped everything.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The reasons a block may be left out, by the `norun-KIND` marker that names them.
const NOT_RUN: &[(&str, &str)] = &[
    ("root", "needs root (sudo) and changes the machine"),
    (
        "tracer",
        "attaches a tracer (strace, dtruss, perf) to a running server",
    ),
    (
        "long",
        "a full benchmark or book-outputs.sh: minutes, and rewrites tracked files",
    ),
    ("install", "installs software from the network"),
    (
        "interactive",
        "typed by hand into a program that waits for the keyboard",
    ),
    (
        "serve",
        "serves until Ctrl-C (book/check.sh builds the same book)",
    ),
    ("clone", "clones the repository the test already runs in"),
    ("container", "starts a Docker container"),
    (
        "patch",
        "changes the code (benches/tests/solutions.rs applies each patch to a copy)",
    ),
    (
        "fixed-port",
        "an example on a fixed port; its own test checks the same output",
    ),
];

/// Programs that a block may need and a machine may lack; such a block is listed, not run.
const OPTIONAL_TOOLS: &[&str] = &[
    "nc", "wrk", "strace", "taskset", "ss", "nstat", "perf", "python3", "sysctl", "prlimit",
    "lsof", "netstat",
];

/// How long one block (the first ones build the workspace in release mode) may take.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(900);

/// How long a server may take to print its `listening on` line (it may be built first).
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(900);

/// One fenced shell block of a chapter.
#[derive(Debug, Clone)]
struct Block {
    file: String,
    line: usize,
    attrs: Vec<String>,
    body: String,
}

/// What happened to one block.
enum Outcome {
    Ran(Duration),
    NotRun(String),
    Failed(String),
}

/// Every shell block of the book is marked, and every `run`/`server` block succeeds.
#[test]
fn every_book_command_runs() {
    let root = workspace_root();
    let chapters = chapters_in_order(&root.join("book/src"));
    let blocks: Vec<Block> = chapters
        .iter()
        .flat_map(|ch| shell_blocks(&root.join("book/src").join(ch), ch))
        .collect();
    let unmarked: Vec<String> = blocks
        .iter()
        .filter_map(|b| marker_problem(b).map(|why| format!("{}:{}: {why}", b.file, b.line)))
        .collect();
    assert!(
        unmarked.is_empty(),
        "shell blocks without a valid marker (see the doc comment of this test):\n  {}",
        unmarked.join("\n  ")
    );
    assert!(!blocks.is_empty(), "no shell blocks found in book/src");

    let path_env = path_with_cargo_bin();
    if which("just", &path_env).is_none() {
        let msg = "`just` is not installed (cargo install just --locked): book commands not run";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        say(&format!("\n!!! SKIPPED every book command: {msg} !!!\n"));
        return;
    }

    let scratch = tempfile::tempdir().expect("a scratch directory");
    // `just run` without `--data-dir` writes ./data, as it would for a reader; remove it
    // afterwards unless it was there before.
    let data_dir = root.join("data");
    let had_data_dir = data_dir.exists();
    let mut results: Vec<(Block, Outcome)> = Vec::new();
    let started = Instant::now();
    for chapter in &chapters {
        let in_chapter: Vec<&Block> = blocks.iter().filter(|b| &b.file == chapter).collect();
        if in_chapter.is_empty() {
            continue;
        }
        let mut run = ChapterRun::new(&root, scratch.path(), &path_env, chapter);
        for block in in_chapter {
            let outcome = run.block(block);
            let line = match &outcome {
                Outcome::Ran(t) => {
                    format!("ran     {}:{} ({:.1}s)", block.file, block.line, secs(*t))
                }
                Outcome::NotRun(why) => format!("not run {}:{}: {why}", block.file, block.line),
                Outcome::Failed(_) => format!("FAILED  {}:{}", block.file, block.line),
            };
            say(&line);
            results.push((block.clone(), outcome));
        }
        run.finish();
    }

    let ran = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Ran(_)))
        .count();
    let mut not_run: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (b, o) in &results {
        if let Outcome::NotRun(why) = o {
            not_run
                .entry(why)
                .or_default()
                .push(format!("{}:{}", b.file, b.line));
        }
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(b, o)| match o {
            Outcome::Failed(why) => Some(format!("{}:{}: {why}", b.file, b.line)),
            _ => None,
        })
        .collect();
    let mut summary = format!(
        "\nbook commands: {ran} ran, {} failed, {} not run, in {:.0}s\n",
        failures.len(),
        results.len() - ran - failures.len(),
        secs(started.elapsed())
    );
    for (why, places) in &not_run {
        summary.push_str(&format!("  not run ({why}): {}\n", places.join(", ")));
    }
    say(&summary);
    if !had_data_dir {
        let _ = fs::remove_dir_all(&data_dir);
    }
    assert!(
        failures.is_empty(),
        "{} book command block(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran > 0, "not one book command ran");
}

/// The marker checker refuses unmarked, unknown and contradictory blocks.
#[test]
fn markers_are_checked() {
    let block = |attrs: &[&str]| Block {
        file: "x.md".into(),
        line: 1,
        attrs: attrs.iter().map(|s| s.to_string()).collect(),
        body: "true\n".into(),
    };
    assert!(marker_problem(&block(&[])).is_some());
    assert!(marker_problem(&block(&["norun-whatever"])).is_some());
    assert!(marker_problem(&block(&["run", "server"])).is_some());
    assert!(marker_problem(&block(&["run", "norun-root"])).is_some());
    assert!(marker_problem(&block(&["run"])).is_none());
    assert!(marker_problem(&block(&["run", "linux"])).is_none());
    assert!(marker_problem(&block(&["norun-root"])).is_none());
    let mut two = block(&["server"]);
    two.body = "just run a\njust run b\n".into();
    assert!(marker_problem(&two).is_some());
}

/// The substitutions shorten durations and move the port, and nothing else.
#[test]
fn reader_commands_are_shortened_for_the_test() {
    let b = |s: &str| adapt(s, 40123, Path::new("/scratch"));
    assert_eq!(
        b("cargo run -- -c 100 -d 10s http://127.0.0.1:8080/health"),
        "cargo run -- -c 100 -d 1s http://127.0.0.1:40123/health"
    );
    assert_eq!(b("wrk -d10s x"), "wrk -d1s x");
    assert_eq!(b("just bench --duration 20s"), "just bench --duration 1s");
    assert_eq!(
        b("just load p3-reactor 100"),
        "just load p3-reactor 100 -- -d 1s"
    );
    assert_eq!(
        b("just load p3-reactor 100 --path /health -- -d 5s"),
        "just load p3-reactor 100 --path /health -- -d 1s"
    );
    assert_eq!(
        b("just load p1-blocking 10 -- -t 1"),
        "just load p1-blocking 10 -- -t 1 -d 1s"
    );
    assert_eq!(b("ls /tmp/ingest; sleep 60"), "ls /scratch/ingest; sleep 5");
}

/// One reader working through one chapter: at most one server at a time, on one port.
struct ChapterRun<'a> {
    root: &'a Path,
    dir: PathBuf,
    path_env: &'a str,
    port: u16,
    server: Option<Server>,
    /// Process groups of blocks that left something running in the background.
    leftovers: Vec<i32>,
    /// Why io_uring cannot run here, once a `uring` server said so.
    no_uring: Option<String>,
    count: usize,
}

/// A server started by a `server` block.
struct Server {
    child: Child,
    pid: u32,
}

impl<'a> ChapterRun<'a> {
    fn new(root: &'a Path, scratch: &Path, path_env: &'a str, chapter: &str) -> Self {
        let dir = scratch.join(chapter.trim_end_matches(".md"));
        fs::create_dir_all(dir.join("ingest")).unwrap();
        ChapterRun {
            root,
            dir,
            path_env,
            port: free_port(),
            server: None,
            leftovers: Vec::new(),
            no_uring: None,
            count: 0,
        }
    }

    fn block(&mut self, block: &Block) -> Outcome {
        let has = |a: &str| block.attrs.iter().any(|x| x == a);
        if let Some(kind) = block.attrs.iter().find_map(|a| a.strip_prefix("norun-")) {
            return Outcome::NotRun(reason(kind).unwrap_or("?").to_string());
        }
        if has("linux") && !cfg!(target_os = "linux") {
            return Outcome::NotRun("Linux only".into());
        }
        if has("macos") && !cfg!(target_os = "macos") {
            return Outcome::NotRun("macOS only".into());
        }
        if let (true, Some(why)) = (has("uring"), &self.no_uring) {
            return Outcome::NotRun(format!("io_uring is unavailable here: {why}"));
        }
        if let Some(tool) = missing_tool(&block.body, self.path_env) {
            return Outcome::NotRun(format!("{tool} is not installed"));
        }
        let script = adapt(&block.body, self.port, &self.dir);
        if has("server") {
            self.stop_server();
            let outcome = self.start_server(&script);
            if let (true, Outcome::Failed(why)) = (has("uring"), &outcome) {
                if let Some(line) = why.lines().find(|l| l.contains("needs io_uring")) {
                    self.no_uring = Some(line.trim().to_string());
                    return Outcome::NotRun(format!(
                        "io_uring is unavailable here: {}",
                        line.trim()
                    ));
                }
            }
            return outcome;
        }
        let starts_its_own = script.contains(&format!("--addr 127.0.0.1:{} ", self.port));
        if script.contains(&self.port.to_string()) && self.server.is_none() && !starts_its_own {
            return Outcome::Failed(
                "uses the server's port, but the chapter started no server before it".into(),
            );
        }
        self.run_script(&script)
    }

    fn command(&mut self, script: &str) -> (Command, PathBuf, PathBuf) {
        self.count += 1;
        let out = self.dir.join(format!("block{}.out", self.count));
        let err = self.dir.join(format!("block{}.err", self.count));
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("set -eo pipefail\n{script}"))
            .current_dir(self.root)
            .env("PATH", self.path_env)
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(s) = &self.server {
            cmd.env("PID", s.pid.to_string());
        }
        (cmd, out, err)
    }

    fn run_script(&mut self, script: &str) -> Outcome {
        let (mut cmd, out, err) = self.command(script);
        // Files, not pipes: a block may leave `nc` running in the background, and a pipe
        // would stay open until it ends.
        cmd.stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("cannot start bash: {e}")),
        };
        let pgid = child.id() as i32;
        self.leftovers.push(pgid);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if started.elapsed() > BLOCK_TIMEOUT {
                signal_group(pgid, libc::SIGKILL);
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(50));
        };
        let tail = |p: &Path| tail_of(&fs::read_to_string(p).unwrap_or_default(), 25);
        match status {
            Some(st) if st.success() => Outcome::Ran(started.elapsed()),
            st => Outcome::Failed(format!(
                "{}\n--- script ---\n{script}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
                st.map_or(format!("timed out after {BLOCK_TIMEOUT:?}"), |s| s.to_string()),
                tail(&out),
                tail(&err)
            )),
        }
    }

    fn start_server(&mut self, script: &str) -> Outcome {
        let (mut cmd, _, err) = self.command(script.trim());
        cmd.stdout(Stdio::piped())
            .stderr(fs::File::create(&err).unwrap());
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("cannot start bash: {e}")),
        };
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads every line, so the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let want = format!("listening on http://127.0.0.1:{} (phase ", self.port);
        let deadline = started + SERVER_START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) if line.starts_with(&want) => {
                    let Some(pid) = pid_of(&line) else {
                        return Outcome::Failed(format!("no pid in {line:?}"));
                    };
                    self.server = Some(Server { child, pid });
                    return Outcome::Ran(started.elapsed());
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {
                    let exited = child.try_wait().unwrap();
                    if exited.is_some() || Instant::now() > deadline {
                        signal_group(child.id() as i32, libc::SIGKILL);
                        let _ = child.wait();
                        return Outcome::Failed(format!(
                            "the server did not print {want:?} ({})\n--- stderr (tail) ---\n{}",
                            exited.map_or("timed out".into(), |s| s.to_string()),
                            tail_of(&fs::read_to_string(&err).unwrap_or_default(), 25)
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    thread::sleep(Duration::from_millis(200));
                    if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                        signal_group(child.id() as i32, libc::SIGKILL);
                        let _ = child.wait();
                        return Outcome::Failed(format!(
                            "the server exited before listening\n--- stderr (tail) ---\n{}",
                            tail_of(&fs::read_to_string(&err).unwrap_or_default(), 25)
                        ));
                    }
                }
            }
        }
    }

    /// Ctrl-C, as a reader would stop it; then, if it lingers, SIGKILL.
    fn stop_server(&mut self) {
        let Some(mut s) = self.server.take() else {
            return;
        };
        let pgid = s.child.id() as i32;
        signal_group(pgid, libc::SIGINT);
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if s.child.try_wait().unwrap().is_some() {
                // The group may still hold the server if the shell ended first.
                thread::sleep(Duration::from_millis(100));
                signal_group(pgid, libc::SIGKILL);
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        signal_group(pgid, libc::SIGKILL);
        let _ = s.child.wait();
    }

    fn finish(mut self) {
        self.stop_server();
        for pgid in self.leftovers.drain(..) {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

impl Drop for ChapterRun<'_> {
    /// A panic in the middle of a chapter still stops what it started.
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            signal_group(s.child.id() as i32, libc::SIGKILL);
        }
        for &pgid in &self.leftovers {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group this test created; it
    // touches no memory of ours.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// The reader's command, as the test runs it (see the module comment).
fn adapt(body: &str, port: u16, dir: &Path) -> String {
    let body = body
        .replace("8080", &port.to_string())
        .replace("/tmp/ingest", &dir.join("ingest").display().to_string())
        .replace("sleep 60", "sleep 5");
    body.lines()
        .map(|line| {
            let line = shorten_durations(line);
            let cmd = line.trim_start();
            if cmd.starts_with("just load ") && !has_duration(&line) {
                let (code, comment) = split_comment(&line);
                let add = if code.contains(" -- ") {
                    " -d 1s"
                } else {
                    " -- -d 1s"
                };
                format!("{}{add}{comment}", code.trim_end())
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `-d 10s`, `-d10s` and `--duration 20s` become one second.
fn shorten_durations(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some((at, flag)) = ["--duration ", "-d "]
        .iter()
        .chain(["-d"].iter())
        .filter_map(|f| rest.find(f).map(|i| (i, *f)))
        .min_by_key(|(i, f)| (*i, std::cmp::Reverse(f.len())))
    {
        let after = &rest[at + flag.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let preceded_ok = at == 0 || rest.as_bytes()[at - 1] == b' ';
        if preceded_ok && digits > 0 && after[digits..].starts_with('s') {
            out.push_str(&rest[..at + flag.len()]);
            out.push_str("1s");
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..at + flag.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn has_duration(line: &str) -> bool {
    line.split_whitespace()
        .any(|w| w == "-d" || w == "--duration" || (w.starts_with("-d") && w[2..].ends_with('s')))
}

fn split_comment(line: &str) -> (&str, &str) {
    match line.find("  #") {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    }
}

/// Why a block's marker is missing or wrong, if it is.
fn marker_problem(b: &Block) -> Option<String> {
    let kinds: Vec<&String> = b
        .attrs
        .iter()
        .filter(|a| *a == "run" || *a == "server" || a.starts_with("norun-"))
        .collect();
    if kinds.len() != 1 {
        return Some(format!(
            "needs exactly one of `run`, `server`, `norun-KIND`; has {:?}",
            b.attrs
        ));
    }
    if let Some(kind) = kinds[0].strip_prefix("norun-") {
        if reason(kind).is_none() {
            return Some(format!("unknown reason `norun-{kind}`"));
        }
    }
    if kinds[0] == "server" && b.body.lines().filter(|l| !l.trim().is_empty()).count() != 1 {
        return Some("a `server` block holds exactly one command".into());
    }
    None
}

fn reason(kind: &str) -> Option<&'static str> {
    NOT_RUN.iter().find(|(k, _)| *k == kind).map(|(_, r)| *r)
}

/// The first optional tool the block calls that is not installed.
fn missing_tool(body: &str, path_env: &str) -> Option<&'static str> {
    OPTIONAL_TOOLS.iter().copied().find(|tool| {
        let called = body.lines().any(|line| {
            let code = line.split(" #").next().unwrap_or("");
            code.split(|c: char| c.is_whitespace() || "|;&()$".contains(c))
                .any(|w| w == *tool)
        });
        called && which(tool, path_env).is_none()
    })
}

fn which(tool: &str, path_env: &str) -> Option<PathBuf> {
    std::env::split_paths(path_env)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// PATH, with cargo's bin directory added (where `cargo install just` puts it).
fn path_with_cargo_bin() -> String {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        dirs.push(home.join("bin"));
    }
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is inside the workspace")
        .to_path_buf()
}

/// The chapters, in the order `SUMMARY.md` lists them.
fn chapters_in_order(src: &Path) -> Vec<String> {
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    let mut out = Vec::new();
    for line in summary.lines() {
        if let Some(start) = line.find("](") {
            let rest = &line[start + 2..];
            if let Some(end) = rest.find(')') {
                let file = &rest[..end];
                if file.ends_with(".md") && !out.iter().any(|f| f == file) {
                    out.push(file.to_string());
                }
            }
        }
    }
    out
}

/// A fence being read: where it opened, its indent, attributes, language and body so far.
struct OpenFence {
    line: usize,
    indent: usize,
    attrs: Vec<String>,
    lang: Option<String>,
    body: String,
}

/// The fenced shell blocks of one chapter (missing chapters have none).
fn shell_blocks(path: &Path, file: &str) -> Vec<Block> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut blocks = Vec::new();
    let mut open: Option<OpenFence> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut parts = info
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                    let lang = parts.next();
                    open = Some(OpenFence {
                        line: i + 1,
                        indent,
                        attrs: parts.collect(),
                        lang,
                        body: String::new(),
                    });
                }
            }
            Some(fence) if trimmed.starts_with("```") => {
                if matches!(
                    fence.lang.as_deref(),
                    Some("sh" | "bash" | "console" | "shell")
                ) {
                    blocks.push(Block {
                        file: file.to_string(),
                        line: fence.line,
                        attrs: fence.attrs,
                        body: fence.body,
                    });
                }
            }
            Some(mut fence) => {
                fence
                    .body
                    .push_str(line.get(fence.indent..).unwrap_or(line.trim_start()));
                fence.body.push('\n');
                open = Some(fence);
            }
        }
    }
    blocks
}

fn pid_of(line: &str) -> Option<u32> {
    let at = line.rfind("pid ")?;
    line[at + 4..].trim_end_matches(')').trim().parse().ok()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

fn tail_of(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Straight to stderr, past the test harness's capture, so a passing run shows it too.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
