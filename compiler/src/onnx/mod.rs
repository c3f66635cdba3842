//! Reading ONNX files: protobuf decoding (prost) and external tensor data.
//!
//! Nothing past the importer sees these types.

pub mod builder;
mod external;
pub mod proto;

use std::path::Path;

use prost::Message;

pub use external::ExternalData;
pub use proto::ModelProto;

use crate::error::{Error, ErrorKind, Result};
use crate::options::Limits;

/// Decodes an ONNX model from bytes.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Decode, "the file is empty, not an ONNX model"));
    }
    let model = ModelProto::decode(bytes).map_err(|e| {
        Error::new(ErrorKind::Decode, format!("not a valid ONNX model (protobuf decoding failed: {e})"))
    })?;
    if model.graph.is_none() {
        return Err(Error::new(ErrorKind::Decode, "not an ONNX model: it has no graph"));
    }
    Ok(model)
}

/// Reads and decodes an ONNX file, refusing files larger than the limit before reading them.
pub fn read_model(path: &Path, limits: &Limits) -> Result<ModelProto> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    if meta.is_dir() {
        return Err(Error::new(ErrorKind::Io, "is a directory, not an ONNX file").in_file(path));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(Error::limit(format!(
            "the file has {} bytes, more than the limit of {} (Limits::max_file_bytes)",
            meta.len(),
            limits.max_file_bytes
        ))
        .in_file(path));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    decode_model(&bytes).map_err(|e| e.in_file(path))
}
