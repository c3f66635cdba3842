//! TensorProto -> IR tensor, with every size checked against the limits before allocation.

use super::super::onnx::ExternalData;
use super::super::onnx::proto::{TensorProto, data_location, data_type};
use crate::error::{Error, Result, err};
use crate::ir::{DType, Tensor};
use crate::options::Limits;

/// Checks dims against the limits and returns them with the element count.
pub fn checked_dims(dims: &[i64], limits: &Limits, what: &str) -> Result<(Vec<usize>, usize)> {
    if dims.len() > limits.max_rank {
        return Err(err!(
            limit,
            "{what} has rank {}, more than the limit of {} (Limits::max_rank)",
            dims.len(),
            limits.max_rank
        ));
    }
    let mut shape = Vec::with_capacity(dims.len());
    let mut count: u64 = 1;
    for &d in dims {
        if d < 0 {
            return Err(err!(invalid, "{what} has a negative dimension {d}"));
        }
        if d as u64 > limits.max_dim {
            return Err(err!(
                limit,
                "{what} has a dimension of {d}, more than the limit of {} (Limits::max_dim)",
                limits.max_dim
            ));
        }
        count = count.saturating_mul(d as u64);
        shape.push(d as usize);
    }
    if count > limits.max_tensor_elements {
        return Err(err!(
            limit,
            "{what} has {count} elements, more than the limit of {} (Limits::max_tensor_elements)",
            limits.max_tensor_elements
        ));
    }
    Ok((shape, count as usize))
}

/// Converts a TensorProto, reading external data through `external` when needed.
pub fn convert(t: &TensorProto, external: &ExternalData, limits: &Limits) -> Result<Tensor> {
    let what = format!("tensor '{}'", t.name);
    let (shape, count) = checked_dims(&t.dims, limits, &what)?;
    let elem_size = match t.data_type {
        data_type::FLOAT | data_type::INT32 | data_type::UINT32 => 4,
        data_type::DOUBLE | data_type::INT64 | data_type::UINT64 => 8,
        data_type::INT16 | data_type::UINT16 => 2,
        data_type::INT8 | data_type::UINT8 | data_type::BOOL => 1,
        other => {
            return Err(err!(
                unsupported,
                "{what} has element type {} ({other}), which is not supported (float, double and integer types are)",
                data_type::name(other)
            ));
        }
    };
    let raw: Option<Vec<u8>> = if t.data_location == data_location::EXTERNAL {
        Some(external.read(t, count * elem_size)?)
    } else if !t.raw_data.is_empty() {
        Some(t.raw_data.clone())
    } else {
        None
    };
    let mismatch = |have: usize| err!(invalid, "{what} has {have} values but its shape {shape:?} needs {count}");
    if let Some(raw) = raw {
        if raw.len() != count * elem_size {
            return Err(mismatch(raw.len() / elem_size));
        }
        return Ok(from_raw(t.data_type, shape, &raw));
    }
    let tensor = match t.data_type {
        data_type::FLOAT => {
            if t.float_data.len() != count {
                return Err(mismatch(t.float_data.len()));
            }
            Tensor::f32(shape, t.float_data.clone())
        }
        data_type::DOUBLE => {
            if t.double_data.len() != count {
                return Err(mismatch(t.double_data.len()));
            }
            Tensor::f32(shape, t.double_data.iter().map(|&v| v as f32).collect())
        }
        data_type::INT64 => {
            if t.int64_data.len() != count {
                return Err(mismatch(t.int64_data.len()));
            }
            Tensor::int(DType::I64, shape, t.int64_data.clone())
        }
        data_type::UINT64 => {
            if t.uint64_data.len() != count {
                return Err(mismatch(t.uint64_data.len()));
            }
            Tensor::int(DType::I64, shape, t.uint64_data.iter().map(|&v| v.min(i64::MAX as u64) as i64).collect())
        }
        _ => {
            if t.int32_data.len() != count {
                return Err(mismatch(t.int32_data.len()));
            }
            let dtype = if t.data_type == data_type::BOOL { DType::Bool } else { DType::I32 };
            Tensor::int(dtype, shape, t.int32_data.iter().map(|&v| v as i64).collect())
        }
    };
    Ok(tensor)
}

fn from_raw(dt: i32, shape: Vec<usize>, raw: &[u8]) -> Tensor {
    fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match dt {
        data_type::FLOAT => Tensor::f32(shape, chunks::<4>(raw).map(f32::from_le_bytes).collect()),
        data_type::DOUBLE => Tensor::f32(shape, chunks::<8>(raw).map(|b| f64::from_le_bytes(b) as f32).collect()),
        data_type::INT64 => Tensor::int(DType::I64, shape, chunks::<8>(raw).map(i64::from_le_bytes).collect()),
        data_type::UINT64 => Tensor::int(
            DType::I64,
            shape,
            chunks::<8>(raw).map(|b| u64::from_le_bytes(b).min(i64::MAX as u64) as i64).collect(),
        ),
        data_type::INT32 => {
            Tensor::int(DType::I32, shape, chunks::<4>(raw).map(|b| i32::from_le_bytes(b) as i64).collect())
        }
        data_type::UINT32 => {
            Tensor::int(DType::I64, shape, chunks::<4>(raw).map(|b| u32::from_le_bytes(b) as i64).collect())
        }
        data_type::INT16 => {
            Tensor::int(DType::I32, shape, chunks::<2>(raw).map(|b| i16::from_le_bytes(b) as i64).collect())
        }
        data_type::UINT16 => {
            Tensor::int(DType::I32, shape, chunks::<2>(raw).map(|b| u16::from_le_bytes(b) as i64).collect())
        }
        data_type::INT8 => Tensor::int(DType::I32, shape, raw.iter().map(|&b| b as i8 as i64).collect()),
        data_type::BOOL => Tensor::int(DType::Bool, shape, raw.iter().map(|&b| (b != 0) as i64).collect()),
        _ => Tensor::int(DType::I32, shape, raw.iter().map(|&b| b as i64).collect()),
    }
}

/// Maps an ONNX element type to an IR dtype (for Cast and graph inputs).
pub fn dtype_of(onnx_type: i32) -> Result<DType> {
    Ok(match onnx_type {
        data_type::FLOAT | data_type::DOUBLE => DType::F32,
        data_type::INT64 | data_type::UINT64 | data_type::UINT32 => DType::I64,
        data_type::INT32 | data_type::INT16 | data_type::UINT16 | data_type::INT8 | data_type::UINT8 => DType::I32,
        data_type::BOOL => DType::Bool,
        other => {
            return Err(Error::unsupported(format!(
                "element type {} ({other}) is not supported",
                data_type::name(other)
            )));
        }
    })
}
