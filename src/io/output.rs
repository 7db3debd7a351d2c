//! The one way the program writes a file: never over one of its inputs, and
//! never half-written under the final name.
//!
//! * Every file a command or an export reads is registered with
//!   [`register_input`] (the loaders and the matrix readers do it).
//! * Every file written goes through [`write_atomic`] (or the helpers built
//!   on it): the output path is compared with every registered input by
//!   canonical path and by device + inode, and refused if it names one; the
//!   bytes go to a temporary file in the same folder, which is flushed,
//!   synced and renamed into place, so an interrupted run leaves either the
//!   old file or the complete new one, and at worst a stray `.*.tmp-*` file.
//!
//! The registry is process-wide: a CLI run or an app session reads a handful
//! of files, so a mutex-guarded list is cheap and cannot be forgotten at a
//! call site.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// A file's identity: its canonical path and, on Unix, device + inode (which
/// also catches hard links and bind mounts).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileId {
    canonical: PathBuf,
    dev_ino: Option<(u64, u64)>,
}

impl FileId {
    fn of_existing(path: &Path) -> Option<FileId> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let dev_ino = dev_ino(&canonical);
        Some(FileId { canonical, dev_ino })
    }
}

#[cfg(unix)]
fn dev_ino(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dev_ino(_path: &Path) -> Option<(u64, u64)> {
    None
}

static INPUTS: Mutex<Vec<FileId>> = Mutex::new(Vec::new());
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Record that `path` (a file, or a folder whose files are all inputs) is an
/// input of this run, so that no output may replace it. Paths that do not
/// exist are ignored (there is nothing to protect).
pub fn register_input(path: &Path) {
    let Some(id) = FileId::of_existing(path) else {
        return;
    };
    let mut inputs = INPUTS.lock().unwrap_or_else(|e| e.into_inner());
    if !inputs.contains(&id) {
        inputs.push(id);
    }
}

/// The canonical form of a path that may not exist yet: its parent folder
/// canonicalised, joined with its file name.
fn canonical_target(path: &Path) -> Option<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(path) {
        return Some(c);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

/// Refuse `path` as an output if it is, or lies inside, a registered input.
///
/// Inside a registered *folder* (a Kilosort folder) new files may be
/// written, but not over a file that exists there: every file of an input
/// folder is taken as an input.
pub fn check_not_input(path: &Path) -> Result<()> {
    let Some(target) = canonical_target(path) else {
        return Ok(());
    };
    let target_id = dev_ino(&target);
    let inputs = INPUTS.lock().unwrap_or_else(|e| e.into_inner());
    for input in inputs.iter() {
        let same_path = input.canonical == target;
        let same_file = target_id.is_some() && input.dev_ino == target_id;
        let inside_input_folder = target_id.is_some() && target.starts_with(&input.canonical);
        if same_path || same_file || inside_input_folder {
            return Err(Error::OverwritesInput {
                path: path.to_path_buf(),
                input: input.canonical.clone(),
            });
        }
    }
    Ok(())
}

/// Write a file atomically: refuse inputs ([`check_not_input`]), write the
/// bytes that `fill` produces to a temporary file in the same folder, flush
/// and sync it, then rename it over `path`. On any error the temporary file
/// is removed and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    check_not_input(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::format(path, "an output needs a file name, not a folder"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_registered_input_by_path_and_by_link() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("in.csv");
        std::fs::write(&input, "1\n").unwrap();
        register_input(&input);
        let err = write_bytes(&input, b"x").unwrap_err().to_string();
        assert!(err.contains("in.csv"), "{err}");
        assert_eq!(std::fs::read(&input).unwrap(), b"1\n");
        // The same file through a relative-looking path with `..`.
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_bytes(&sub.join("../in.csv"), b"x").is_err());
        // A hard link is the same file.
        let link = d.path().join("link.csv");
        std::fs::hard_link(&input, &link).unwrap();
        assert!(write_bytes(&link, b"x").is_err());
        assert_eq!(std::fs::read(&input).unwrap(), b"1\n");
        // Other files in the folder are fine.
        write_bytes(&d.path().join("out.csv"), b"2\n").unwrap();
        assert_eq!(std::fs::read(d.path().join("out.csv")).unwrap(), b"2\n");
    }

    #[test]
    fn input_folder_protects_its_files_but_takes_new_ones() {
        let d = tempfile::tempdir().unwrap();
        let folder = d.path().join("ks");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("spike_times.npy"), b"data").unwrap();
        register_input(&folder);
        assert!(write_bytes(&folder.join("spike_times.npy"), b"x").is_err());
        write_bytes(&folder.join("new.csv"), b"ok").unwrap();
        assert_eq!(
            std::fs::read(folder.join("spike_times.npy")).unwrap(),
            b"data"
        );
    }

    #[test]
    fn failed_write_leaves_no_file_and_keeps_the_old_one() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out.csv");
        std::fs::write(&out, b"old").unwrap();
        let err = write_atomic(&out, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
