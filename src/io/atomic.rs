//! Atomic file writes: a reader of `path` sees either the old file or the complete new one,
//! never a half-written file, even if recur is killed mid-write (a checkpoint interrupted by
//! Ctrl-C must not destroy the previous checkpoint).
//!
//! The bytes go to a fresh temporary file in the same directory (a rename is only atomic
//! within one file system), which is flushed with `fsync` and then renamed over `path`. On
//! Unix the directory is fsynced too, so the rename itself survives a power cut.
//!
//! Deliberately not done: preserving the permissions or ownership of a file being replaced
//! (the new file gets the default mode), following `path` if it is a symlink (the link is
//! replaced), and locking against concurrent writers (the last rename wins).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Makes temporary names unique among the threads of one process; the pid separates processes.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically (temp file in the same directory + fsync + rename).
///
/// On error the temporary file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (file_name, dir) = target(path)?;

    let (tmp, mut file) = create_temp(dir, file_name, path)?;
    let result = write_sync(&mut file, bytes).and_then(|()| {
        drop(file);
        fs::rename(&tmp, path)
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_dir(dir);
    Ok(())
}

/// Whether [`write_atomic`] could write `path` now: its directory exists and takes a new file
/// (a temporary one, created and removed), and `path` is not a directory. For a long job to
/// fail at its start rather than at its first save.
pub fn check_writable(path: &Path) -> Result<()> {
    let (file_name, dir) = target(path)?;
    if path.is_dir() {
        return Err(Error::io(path, io::Error::new(io::ErrorKind::IsADirectory, "is a directory")));
    }
    let (tmp, file) = create_temp(dir, file_name, path)?;
    drop(file);
    let _ = fs::remove_file(&tmp);
    Ok(())
}

/// The file name of `path` and the directory it goes in (`.` for a bare name).
fn target(path: &Path) -> Result<(&std::ffi::OsStr, &Path)> {
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file name (ends in `..` or `/`)"))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((file_name, dir))
}

/// Creates `.{name}.{pid}.{n}.tmp` next to the target, never reusing an existing file.
fn create_temp(dir: &Path, name: &std::ffi::OsStr, path: &Path) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{pid}.{n}.tmp"));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            // A stale file left by a killed process with the same pid: try the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

fn write_sync(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Best effort: makes the rename durable. Failure here cannot undo the write, so it is ignored.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_new_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        fs::write(&p, b"a much longer old content").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        write_atomic(&p, b"").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/a.bin");
        let e = write_atomic(&p, b"x").unwrap_err();
        assert!(matches!(&e, Error::Io { path, .. } if path == &p), "{e}");
        assert!(e.to_string().contains("no/such/dir/a.bin"), "{e}");
    }

    #[test]
    fn failed_rename_keeps_old_target_and_removes_temp() {
        // Renaming a file over a non-empty directory fails on every platform.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("taken");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("inside"), b"keep").unwrap();
        let e = write_atomic(&p, b"x").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert_eq!(names(dir.path()), ["taken"]);
        assert_eq!(fs::read(p.join("inside")).unwrap(), b"keep");
    }

    #[test]
    fn check_writable_probes_without_leaving_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        check_writable(&p).unwrap();
        assert!(names(dir.path()).is_empty());
        let e = check_writable(&dir.path().join("no/such/m.safetensors")).unwrap_err();
        assert!(e.to_string().contains("no/such/m.safetensors"), "{e}");
        let e = check_writable(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn rejects_path_without_file_name() {
        let e = write_atomic(Path::new("/"), b"x").unwrap_err();
        assert!(e.to_string().contains("not a file name"), "{e}");
    }

    #[test]
    fn relative_path_in_current_directory() {
        // A bare file name has an empty parent; the temp file must go to ".", not "".
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rel.bin");
        // Exercise the empty-parent branch without changing the process's working directory
        // (tests run in parallel): the helper is what differs, so check it directly.
        let (tmp, f) = create_temp(Path::new("."), std::ffi::OsStr::new("rel.bin"), &p).unwrap();
        drop(f);
        assert_eq!(tmp.parent(), Some(Path::new(".")));
        fs::remove_file(&tmp).unwrap();
        write_atomic(&p, b"ok").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"ok");
    }
}
