//! Reading ONNX files: protobuf decoding (prost) and external tensor data.
//!
//! Nothing past the importer sees these types.

pub mod builder;
mod external;
pub mod proto;
pub mod wire;

use std::path::Path;

use prost::Message;

pub use external::ExternalData;
pub use proto::ModelProto;

use crate::error::{Error, ErrorKind, Result};
use crate::options::Limits;

/// Decodes an ONNX model from bytes, after `wire::scan` has checked that decoding stays
/// within a small multiple of their size, the node count and the name lengths.
pub fn decode_model(bytes: &[u8], limits: &Limits) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Decode, "the file is empty, not an ONNX model"));
    }
    wire::scan(bytes, limits)?;
    let model = ModelProto::decode(bytes).map_err(|e| {
        Error::new(ErrorKind::Decode, format!("not a valid ONNX model (protobuf decoding failed: {e})"))
    })?;
    if model.graph.is_none() {
        return Err(Error::new(ErrorKind::Decode, "not an ONNX model: it has no graph"));
    }
    Ok(model)
}

/// Reads and decodes an ONNX file: only a regular file, and at most `Limits::max_file_bytes`
/// of it.
pub fn read_model(path: &Path, limits: &Limits) -> Result<ModelProto> {
    let bytes = crate::files::read_bounded(path, limits.max_file_bytes, "Limits::max_file_bytes")?;
    decode_model(&bytes, limits).map_err(|e| e.in_file(path))
}
