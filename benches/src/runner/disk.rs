//! Which filesystem a directory lives on, so a table of `fdatasync` costs can say
//! whether it measured a disk.
//!
//! On tmpfs (and ramfs) the file lives in the page cache and nowhere else, so
//! `fdatasync` has nothing to wait for and returns at once: `--ack synced` would look
//! as cheap as `--ack written`, and the table would lie about what a disk costs.

use std::io;
use std::path::Path;

/// A filesystem, as far as the bench cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// Its type in words, e.g. `ext2/ext3/ext4` or `tmpfs`.
    pub name: String,
    /// Whether its files live only in memory (an `fdatasync` there costs nothing).
    pub in_memory: bool,
}

/// The filesystem `path` is on.
#[cfg(target_os = "linux")]
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `statfs` is plain data; all zeroes is a valid value that the call overwrites.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `stat` is a
    // valid, writable `statfs` the kernel fills in.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `f_type` is a signed word on glibc; the magic numbers are small positive values.
    Ok(from_magic(stat.f_type as u64))
}

/// The name of a Linux filesystem magic number (`man 2 statfs` lists them).
#[cfg(target_os = "linux")]
fn from_magic(magic: u64) -> Filesystem {
    let (name, in_memory) = match magic {
        0x0102_1994 => ("tmpfs", true),
        0x8584_58f6 => ("ramfs", true),
        0xEF53 => ("ext2/ext3/ext4", false),
        0x5846_5342 => ("xfs", false),
        0x9123_683E => ("btrfs", false),
        0xF2F5_2010 => ("f2fs", false),
        0x2FC1_2FC1 => ("zfs", false),
        0x794C_7630 => ("overlayfs (over another filesystem)", false),
        0x6969 => ("nfs", false),
        0x6573_5546 => ("fuse", false),
        0x0102_1997 => ("9p", false),
        other => {
            return Filesystem {
                name: format!("filesystem type {other:#x}"),
                in_memory: false,
            }
        }
    };
    Filesystem {
        name: name.into(),
        in_memory,
    }
}

/// The filesystem `path` is on: the BSDs and macOS name it in `f_fstypename`.
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `statfs` is plain data; all zeroes is a valid value that the call overwrites.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `stat` is a
    // valid, writable `statfs` the kernel fills in.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel writes a NUL-terminated name into the fixed-size array.
    let name = unsafe { std::ffi::CStr::from_ptr(stat.f_fstypename.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let in_memory = name == "tmpfs";
    Ok(Filesystem { name, in_memory })
}

/// Elsewhere the bench cannot tell; the table says so.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
pub fn filesystem(_path: &Path) -> io::Result<Filesystem> {
    Ok(Filesystem {
        name: "unknown (statfs is not asked on this OS)".into(),
        in_memory: false,
    })
}

/// Makes every scratch data dir the bench creates from now on land on a disk: when the
/// system's temporary directory is in memory, on a directory under `fallback` instead.
/// Returns where they will go. Call it before the first server starts.
pub fn put_data_dirs_on_disk(fallback: &Path) -> Result<std::path::PathBuf, String> {
    let temp = tempfile::env::temp_dir();
    match filesystem(&temp) {
        Ok(fs) if !fs.in_memory => return Ok(temp),
        Ok(_) | Err(_) => {}
    }
    std::fs::create_dir_all(fallback)
        .map_err(|e| format!("cannot create {}: {e}", fallback.display()))?;
    // The conformance harness creates each server's data dir with tempfile's default
    // directory, so overriding it here moves every one of them.
    match tempfile::env::override_temp_dir(fallback) {
        Ok(()) => Ok(fallback.to_path_buf()),
        Err(already) => Ok(already),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// tmpfs and ramfs are in memory; ext4 is a disk; an unknown magic is named by number.
    #[test]
    fn names_linux_magics() {
        assert!(from_magic(0x0102_1994).in_memory);
        assert!(from_magic(0x8584_58f6).in_memory);
        assert_eq!(from_magic(0xEF53).name, "ext2/ext3/ext4");
        assert!(!from_magic(0xEF53).in_memory);
        assert_eq!(from_magic(0x1234).name, "filesystem type 0x1234");
    }

    /// `/proc` is not a disk and not tmpfs: it gets a name either way, without an error.
    #[test]
    fn asks_the_kernel() {
        assert!(filesystem(Path::new("/proc")).is_ok());
        assert!(filesystem(Path::new("/no/such/dir")).is_err());
    }
}
