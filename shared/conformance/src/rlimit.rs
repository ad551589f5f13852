//! The open-file limit, raised the one way that works on Linux, macOS and the BSDs.
//!
//! Every connection is a file descriptor, and the usual soft limit (1,024 on Linux, 256 on
//! macOS) caps a test of thousands of connections long before the server does. Raising the
//! soft limit up to the hard one needs no privilege. The scale checks and the bench (and
//! every server either of them spawns, which inherits the limit) share this one helper.

use std::io;

/// What macOS accepts at most for the soft limit when the hard one is `RLIM_INFINITY`:
/// `OPEN_MAX` in `<sys/syslimits.h>`. `setrlimit` answers `EINVAL` to anything above
/// `kern.maxfilesperproc`, and a stock Mac reports the hard limit as infinite.
const MACOS_OPEN_MAX: u64 = 10_240;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
///
/// Where the kernel refuses the hard limit itself (macOS with its infinite hard limit), it
/// settles for `min(hard, 10,240)`; where even that is refused, the soft limit stays as it
/// was and is returned.
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
    wanted.rlim_cur = limit.rlim_max.min(MACOS_OPEN_MAX as libc::rlim_t);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return Ok(to_u64(wanted.rlim_cur));
    }
    Ok(to_u64(limit.rlim_cur))
}

/// The current soft `RLIMIT_NOFILE`, if it can be read.
pub fn nofile_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some(to_u64(limit.rlim_cur))
}

/// `rlim_t` is `u64` on Linux and macOS but signed on some BSDs.
#[allow(clippy::unnecessary_cast)]
fn to_u64(v: libc::rlim_t) -> u64 {
    v as u64
}

#[cfg(test)]
mod tests {
    /// Raising is idempotent and never lowers the limit.
    #[test]
    fn raise_is_idempotent() {
        let before = super::nofile_limit().expect("getrlimit works");
        let raised = super::raise_nofile_limit().expect("getrlimit works");
        assert!(raised >= before);
        assert_eq!(super::raise_nofile_limit().unwrap(), raised);
        assert_eq!(super::nofile_limit(), Some(raised));
    }
}
