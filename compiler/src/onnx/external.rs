//! Tensors stored outside the .onnx file (`data_location = EXTERNAL`), as torch's new exporter
//! writes them (MODEL.onnx + MODEL.onnx.data).
//!
//! A model file may come from anywhere, so its locations are treated as hostile: only relative
//! paths that stay inside the model's folder are read (checked on the canonical path, so a
//! symlink cannot lead out), and offset/length are checked against the file before reading.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::proto::TensorProto;
use crate::error::{Error, Result};
use crate::options::Limits;

/// Resolves external-data references relative to one model folder.
#[derive(Debug)]
pub struct ExternalData {
    /// The folder holding the model; `None` when the model came from memory.
    base: Option<PathBuf>,
    max_file_bytes: u64,
    /// Files read so far (canonical paths), in the order first read, with the bytes read from
    /// each: more than the file holds means tensors share bytes, which no exporter writes and
    /// which would let a small file fill memory.
    read: std::cell::RefCell<(Vec<PathBuf>, HashMap<PathBuf, u64>)>,
    /// Bytes read from all external files so far.
    total: std::cell::Cell<u64>,
}

impl ExternalData {
    /// External data resolved next to `model_path` (none allowed without a path).
    pub fn new(model_path: Option<&Path>, limits: &Limits) -> Self {
        let base = model_path.map(|p| match p.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        });
        ExternalData {
            base,
            max_file_bytes: limits.max_file_bytes,
            read: Default::default(),
            total: Default::default(),
        }
    }

    /// The external files read so far, each once.
    pub fn files(&self) -> Vec<PathBuf> {
        self.read.borrow().0.clone()
    }

    /// Reads the `expected` bytes of `tensor` from its external file.
    pub fn read(&self, tensor: &TensorProto, expected: usize) -> Result<Vec<u8>> {
        let name = &tensor.name;
        let mut location = None;
        let mut offset = 0u64;
        let mut length = None;
        for entry in &tensor.external_data {
            let parse = |v: &str| {
                v.parse::<u64>().map_err(|_| {
                    Error::invalid(format!("tensor '{name}': external data {} '{v}' is not a number", entry.key))
                })
            };
            match entry.key.as_str() {
                "location" => location = Some(entry.value.as_str()),
                "offset" => offset = parse(&entry.value)?,
                "length" => length = Some(parse(&entry.value)?),
                _ => {}
            }
        }
        let Some(location) = location.filter(|l| !l.is_empty()) else {
            return Err(Error::invalid(format!("tensor '{name}' is stored externally but names no location")));
        };
        let relative = Path::new(location);
        let escapes = relative.is_absolute()
            || relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(Error::invalid(format!(
                "tensor '{name}': external data location '{location}' is refused: it must be a relative path inside the model's folder"
            )));
        }
        let Some(base) = &self.base else {
            return Err(Error::invalid(format!(
                "tensor '{name}' is stored externally ('{location}') but the model was not loaded from a file"
            )));
        };
        let path = base.join(relative);
        let canonical = path.canonicalize().map_err(|e| {
            Error::invalid(format!("tensor '{name}': external data file '{}' cannot be opened: {e}", path.display()))
        })?;
        let base_canonical = base.canonicalize().map_err(|e| Error::io(base, &e))?;
        if !canonical.starts_with(&base_canonical) {
            return Err(Error::invalid(format!(
                "tensor '{name}': external data location '{location}' resolves to '{}', outside the model's folder",
                canonical.display()
            )));
        }
        let mut file = crate::files::open_regular(&canonical)
            .map_err(|e| Error::invalid(format!("tensor '{name}': external data '{location}': {}", e.message())))?;
        let size = file.metadata().map_err(|e| Error::io(&path, &e))?.len();
        if size > self.max_file_bytes {
            return Err(Error::limit(format!(
                "external data file '{location}' has {size} bytes, more than the limit of {} (Limits::max_file_bytes)",
                self.max_file_bytes
            )));
        }
        let length = length.unwrap_or(expected as u64);
        if length != expected as u64 {
            return Err(Error::invalid(format!(
                "tensor '{name}': external data length {length} does not match its {expected} bytes of data"
            )));
        }
        let end = offset.checked_add(length);
        if end.is_none_or(|end| end > size) {
            return Err(Error::invalid(format!(
                "tensor '{name}': external data at offset {offset} with length {length} runs past the end of '{location}' ({size} bytes)"
            )));
        }
        let total = self.total.get().saturating_add(length);
        if total > self.max_file_bytes {
            return Err(Error::limit(format!(
                "tensor '{name}': the model's external data exceeds {} bytes in all (Limits::max_file_bytes)",
                self.max_file_bytes
            )));
        }
        self.total.set(total);
        {
            let mut read = self.read.borrow_mut();
            let (order, bytes_read) = &mut *read;
            let total = bytes_read.entry(canonical.clone()).or_insert_with(|| {
                order.push(canonical.clone());
                0
            });
            *total += length;
            if *total > size {
                return Err(Error::invalid(format!(
                    "tensor '{name}': the tensors stored in '{location}' read {} bytes of its {size}: their regions overlap",
                    *total
                )));
            }
        }
        let mut bytes = vec![0u8; expected];
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(&path, &e))?;
        file.read_exact(&mut bytes).map_err(|e| Error::io(&path, &e))?;
        Ok(bytes)
    }
}
