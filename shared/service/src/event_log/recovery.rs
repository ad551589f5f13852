//! Start-up recovery: a log whose last write a crash tore is cut back to its last whole line,
//! and the torn bytes are kept beside it rather than thrown away (SPEC.md, "Storage").

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Start-up recovery (SPEC.md, "Storage"): if `path` does not end in a newline, moves the
/// bytes after its last newline to `events.ndjson.torn` beside it (appending), cuts the log
/// back to that newline, and logs one warning. Returns how many bytes were moved (0 for a
/// missing, empty or whole file). Never removes a whole line.
pub fn recover_torn_tail(path: &Path) -> io::Result<u64> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    // Find the end of the last whole line, reading backwards a chunk at a time: a torn tail
    // is at most one group, so this reads little however large the log is.
    let mut whole = 0;
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(at) = buf.iter().rposition(|&b| b == b'\n') {
            whole = start + at as u64 + 1;
            break;
        }
        end = start;
    }
    let torn = len - whole;
    if torn == 0 {
        return Ok(0);
    }
    let mut torn_path = OsString::from(path.as_os_str());
    torn_path.push(".torn");
    let torn_path = PathBuf::from(torn_path);
    let mut aside = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&torn_path)?;
    file.seek(SeekFrom::Start(whole))?;
    io::copy(&mut (&mut file).take(torn), &mut aside)?;
    // The bytes are safe in the side file before they leave the log.
    aside.sync_all()?;
    file.set_len(whole)?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), bytes = torn, moved_to = %torn_path.display(),
        "the event log ended in a torn line (a crash mid-write?); moved its bytes aside");
    Ok(torn)
}
