//! The few OS knobs a load test needs: the open-file limit (shared with the conformance
//! suite) and CPU affinity.
//!
//! Both are plain `libc` calls. They live here, away from the event loop, so the
//! `unsafe` in this crate sits in one short file a reader can audit at once.

use std::io;

/// The open-file limit: one helper for the bench and the conformance scale checks, so the
/// macOS clamp lives in one place.
pub use conformance::rlimit::{nofile_limit, raise_nofile_limit};

/// Number of CPUs this process may run on (what the pinning plan splits).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the thread or process `pid` (0 = the calling thread) to `cpus`.
///
/// Used so the server and the load generator do not fight over the same cores:
/// a benchmark where both share a CPU measures the scheduler, not the server.
#[cfg(target_os = "linux")]
pub fn pin(pid: libc::pid_t, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET only writes the bit for `cpu` inside `set`; cpu indices
        // come from available_parallelism and are far below CPU_SETSIZE (1024).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t and we pass its exact size.
    let rc = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pinning is a Linux feature here; elsewhere it is reported as unsupported.
#[cfg(not(target_os = "linux"))]
pub fn pin(_pid: i32, _cpus: &[usize]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU pinning is only implemented on Linux",
    ))
}

/// Whether [`pin`] can work on this OS, for the bench header.
pub const PINNING_SUPPORTED: bool = cfg!(target_os = "linux");
