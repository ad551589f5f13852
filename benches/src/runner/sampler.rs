//! Samples a server's CPU time, RSS and thread count from /proc while it is loaded.
//!
//! On systems without /proc (macOS) every reading is `None` and the tables show
//! blanks: the bench never fails for want of a number it cannot get.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Whether this OS lets us sample a process, in words for the bench header and
/// the one warning printed at start.
pub fn availability() -> &'static str {
    if supported() {
        "sampled from /proc every 100 ms"
    } else {
        "not measured: this OS has no /proc, so those columns and the idle-memory figures are blank"
    }
}

/// Whether [`sample`] can return anything on this OS.
pub fn supported() -> bool {
    std::path::Path::new("/proc/self/stat").exists()
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User + system CPU time consumed so far, seconds.
    pub cpu_s: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Live threads.
    pub threads: u64,
    /// Virtual memory size (address space reserved, resident or not), bytes.
    pub vsz_bytes: u64,
}

/// Reads /proc/PID/stat and /proc/PID/status once.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its ')' are fixed.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5): indices 11 and 12 after ')'.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(ProcSample {
        cpu_s: ticks as f64 / hz,
        rss_bytes: field("VmRSS:")? * 1024,
        threads: field("Threads:")?,
        vsz_bytes: field("VmSize:")? * 1024,
    })
}

/// What a sampling period saw.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    /// CPU used over the period, percent of one core (200 = two cores busy).
    pub cpu_pct: Option<f64>,
    /// Highest RSS seen, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Most threads seen.
    pub peak_threads: Option<u64>,
}

/// A background thread sampling one process every 100 ms until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Usage>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let first = sample(pid);
            let started = Instant::now();
            let mut usage = Usage::default();
            let mut last = first;
            loop {
                if let Some(s) = last {
                    usage.peak_rss_mib = Some(
                        usage
                            .peak_rss_mib
                            .unwrap_or(0.0)
                            .max(s.rss_bytes as f64 / 1048576.0),
                    );
                    usage.peak_threads = Some(usage.peak_threads.unwrap_or(0).max(s.threads));
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
                last = sample(pid).or(last);
            }
            if let (Some(a), Some(b)) = (first, last) {
                usage.cpu_pct =
                    Some(100.0 * (b.cpu_s - a.cpu_s) / started.elapsed().as_secs_f64().max(1e-3));
            }
            usage
        });
        Sampler { stop, handle }
    }

    /// Stops sampling and returns what was seen.
    pub fn finish(self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
