//! Files in and out, with hostile paths in mind.
//!
//! Reading: only regular files are opened (opening a FIFO blocks until a writer comes; a device
//! such as `/dev/zero` never ends), and every read stops at the limit itself, whatever the
//! metadata says (a device reports a length of 0).
//!
//! Writing: a set of files is written all or nothing. Every destination is checked before
//! anything is written, each file goes to a temporary name beside it first, and the renames
//! that put them in place are undone if one of them fails, so a failure leaves the previous
//! files as they were and no temporary file behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result, err};

/// What a path that is not a regular file is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Opens `path` for reading if it is a regular file (symbolic links are followed), without
/// blocking on anything else.
pub fn open_regular(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Io, format!("is {}, not a regular file", file_kind(&meta))).in_file(path));
    }
    let mut options = OpenOptions::new();
    options.read(true);
    // Should the path be swapped for a FIFO between the check and the open, the open must not
    // block either. O_NONBLOCK has no effect on regular files.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, &e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, &e))?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Io, format!("is {}, not a regular file", file_kind(&meta))).in_file(path));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `limit` bytes; `limit_name` names the limit in the
/// error (e.g. `Limits::max_file_bytes`).
pub fn read_bounded(path: &Path, limit: u64, limit_name: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let claimed = file.metadata().map(|m| m.len()).unwrap_or(0);
    let too_big = |size: String| {
        err!(limit, "the file has {size} bytes, more than the limit of {limit} ({limit_name})").in_file(path)
    };
    if claimed > limit {
        return Err(too_big(claimed.to_string()));
    }
    let mut bytes = Vec::with_capacity(claimed as usize);
    // One byte past the limit tells a file that grew since the check from one that fits.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(path, &e))?;
    if bytes.len() as u64 > limit {
        return Err(too_big("more than that".into()));
    }
    Ok(bytes)
}

/// Writes every `(path, contents)` pair, or none of them (see the module documentation).
pub fn write_all_or_nothing(files: &[(&Path, &[u8])]) -> Result<()> {
    for &(path, _) in files {
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot be written: it is {}, not a regular file", file_kind(&meta)),
                )
                .in_file(path));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, &e)),
        }
        let dir = parent(path);
        if !dir.is_dir() {
            return Err(Error::new(ErrorKind::Io, "the folder to write into does not exist").in_file(dir));
        }
    }
    let mut temps: Vec<PathBuf> = Vec::new();
    let result = write_temps(files, &mut temps).and_then(|()| commit(files, &temps));
    for t in &temps {
        let _ = std::fs::remove_file(t);
    }
    result
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A name beside `path` that no other writer uses: `.<name>.<pid>.<n>.<what>`.
fn sibling(path: &Path, n: usize, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    parent(path).join(format!(".{name}.{}.{n}.{what}", std::process::id()))
}

fn write_temps(files: &[(&Path, &[u8])], temps: &mut Vec<PathBuf>) -> Result<()> {
    for (n, &(path, bytes)) in files.iter().enumerate() {
        let tmp = sibling(path, n, "tmp");
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| Error::io(&tmp, &e))?;
        temps.push(tmp.clone());
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| Error::io(&tmp, &e))?;
    }
    Ok(())
}

/// Renames the temporary files into place; on failure, puts back what was there.
fn commit(files: &[(&Path, &[u8])], temps: &[PathBuf]) -> Result<()> {
    // For each destination done so far: its backup, if it existed.
    let mut done: Vec<(&Path, Option<PathBuf>)> = Vec::new();
    let mut failure = None;
    for (n, (&(path, _), tmp)) in files.iter().zip(temps).enumerate() {
        let backup = if path.exists() {
            let b = sibling(path, n, "old");
            if let Err(e) = std::fs::rename(path, &b) {
                failure = Some(Error::io(path, &e));
                break;
            }
            Some(b)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(tmp, path) {
            if let Some(b) = &backup {
                let _ = std::fs::rename(b, path);
            }
            failure = Some(Error::io(path, &e));
            break;
        }
        done.push((path, backup));
    }
    match failure {
        None => {
            for (_, backup) in done {
                if let Some(b) = backup {
                    let _ = std::fs::remove_file(b);
                }
            }
            Ok(())
        }
        Some(e) => {
            for (path, backup) in done.into_iter().rev() {
                match backup {
                    Some(b) => {
                        let _ = std::fs::rename(b, path);
                    }
                    None => {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_directory_in_the_way_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bin) = (dir.path().join("x.rs"), dir.path().join("x.weights.bin"));
        std::fs::write(&bin, b"old weights").unwrap();
        std::fs::create_dir(&src).unwrap();
        let e = write_all_or_nothing(&[(&bin, b"new weights"), (&src, b"new source")]).unwrap_err();
        assert!(e.to_string().contains("a directory, not a regular file"), "{e}");
        assert_eq!(std::fs::read(&bin).unwrap(), b"old weights");
        assert!(src.is_dir());
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_failed_rename_puts_the_old_pair_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.rs"));
        std::fs::write(&a, b"old a").unwrap();
        std::fs::write(&b, b"old b").unwrap();
        let temps = vec![dir.path().join(".a.tmp"), dir.path().join(".b.tmp")];
        std::fs::write(&temps[0], b"new a").unwrap();
        // The second temporary file is missing: its rename fails after the first succeeded.
        let e = commit(&[(&a, b""), (&b, b"")], &temps).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert_eq!(std::fs::read(&b).unwrap(), b"old b");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn writes_replace_and_create() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"old").unwrap();
        write_all_or_nothing(&[(&a, b"new a"), (&b, b"new b")]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_missing_folder_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let e = write_all_or_nothing(&[(&a, b"a"), (&dir.path().join("no/b"), b"b")]).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!a.exists());
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.onnx");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if status.is_ok_and(|s| s.success()) {
            let e = read_bounded(&fifo, 1 << 20, "the limit").unwrap_err();
            assert!(e.to_string().contains("is a FIFO, not a regular file"), "{e}");
        }
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20, "the limit").unwrap_err();
        assert!(e.to_string().contains("is a device, not a regular file"), "{e}");
        let e = read_bounded(dir.path(), 1 << 20, "the limit").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn reads_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 1000]).unwrap();
        assert_eq!(read_bounded(&p, 1000, "L").unwrap().len(), 1000);
        let e = read_bounded(&p, 999, "Limits::x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limit);
        assert!(e.to_string().contains("more than the limit of 999 (Limits::x)"), "{e}");
    }
}
