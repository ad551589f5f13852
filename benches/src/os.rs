//! The few OS knobs a load test needs: the open-file limit and CPU affinity.
//!
//! Both are plain `libc` calls. They live here, away from the event loop, so the
//! `unsafe` in this crate sits in one short file a reader can audit at once.

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
///
/// Every connection is a file descriptor; the usual soft limit (1024) would cap a
/// 10,000-connection test long before the server does. Raising the soft limit up to
/// the hard one needs no privilege.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(to_u64(limit.rlim_cur));
    }
    let mut wanted = limit;
    wanted.rlim_cur = limit.rlim_max;
    // SAFETY: `wanted` is a valid `rlimit`; the kernel only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return Ok(to_u64(wanted.rlim_cur));
    }
    // macOS reports RLIM_INFINITY as the hard limit but refuses anything above
    // OPEN_MAX (10240) for the soft one: fall back to that.
    wanted.rlim_cur = limit.rlim_max.min(10_240);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return Ok(to_u64(wanted.rlim_cur));
    }
    Ok(to_u64(limit.rlim_cur))
}

/// `rlim_t` is `u64` on Linux and macOS but signed on some BSDs.
#[allow(clippy::unnecessary_cast)]
fn to_u64(v: libc::rlim_t) -> u64 {
    v as u64
}

/// The current soft `RLIMIT_NOFILE`, for the bench header.
pub fn nofile_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some(to_u64(limit.rlim_cur))
}

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
