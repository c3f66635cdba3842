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
    let mismatch = |have: usize| err!(invalid, "{what} has {have} values but its shape {shape:?} needs {count}");
    let external_bytes;
    let raw: Option<&[u8]> = if t.data_location == data_location::EXTERNAL {
        external_bytes = external.read(t, count * elem_size)?;
        Some(&external_bytes)
    } else if !t.raw_data.is_empty() {
        Some(&t.raw_data)
    } else {
        None
    };
    if let Some(raw) = raw {
        if raw.len() != count * elem_size {
            return Err(mismatch(raw.len() / elem_size));
        }
        return from_raw(t.data_type, &what, shape, raw);
    }
    let dtype = dtype_of(t.data_type)?;
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
            let mut x = Tensor::f32(shape, t.double_data.iter().map(|&v| v as f32).collect());
            x.dtype = DType::F64;
            x
        }
        data_type::INT64 => {
            if t.int64_data.len() != count {
                return Err(mismatch(t.int64_data.len()));
            }
            Tensor::int(dtype, shape, t.int64_data.clone())
        }
        data_type::UINT64 | data_type::UINT32 => {
            if t.uint64_data.len() != count {
                return Err(mismatch(t.uint64_data.len()));
            }
            Tensor::int(dtype, shape, t.uint64_data.iter().map(|&v| u64_value(&what, v)).collect::<Result<_>>()?)
        }
        _ => {
            // int32_data holds every narrower type too, each value within its type's range.
            if t.int32_data.len() != count {
                return Err(mismatch(t.int32_data.len()));
            }
            let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
            if let Some(v) = t.int32_data.iter().find(|&&v| !(lo..=hi).contains(&(v as i64))) {
                return Err(err!(invalid, "{what} holds {v}, outside the range of {dtype}"));
            }
            Tensor::int(dtype, shape, t.int32_data.iter().map(|&v| v as i64).collect())
        }
    };
    Ok(tensor)
}

/// A uint64 value, which i64 storage holds up to 2^63 - 1.
fn u64_value(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| err!(unsupported, "{what} holds the uint64 {v}, above 2^63 - 1"))
}

fn from_raw(dt: i32, what: &str, shape: Vec<usize>, raw: &[u8]) -> Result<Tensor> {
    fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    let dtype = dtype_of(dt)?;
    let ints: Vec<i64> = match dt {
        data_type::FLOAT => return Ok(Tensor::f32(shape, chunks::<4>(raw).map(f32::from_le_bytes).collect())),
        data_type::DOUBLE => {
            let mut t = Tensor::f32(shape, chunks::<8>(raw).map(|b| f64::from_le_bytes(b) as f32).collect());
            t.dtype = DType::F64;
            return Ok(t);
        }
        data_type::INT64 => chunks::<8>(raw).map(i64::from_le_bytes).collect(),
        data_type::UINT64 => chunks::<8>(raw).map(|b| u64_value(what, u64::from_le_bytes(b))).collect::<Result<_>>()?,
        data_type::INT32 => chunks::<4>(raw).map(|b| i32::from_le_bytes(b) as i64).collect(),
        data_type::UINT32 => chunks::<4>(raw).map(|b| u32::from_le_bytes(b) as i64).collect(),
        data_type::INT16 => chunks::<2>(raw).map(|b| i16::from_le_bytes(b) as i64).collect(),
        data_type::UINT16 => chunks::<2>(raw).map(|b| u16::from_le_bytes(b) as i64).collect(),
        data_type::INT8 => raw.iter().map(|&b| b as i8 as i64).collect(),
        data_type::BOOL => raw.iter().map(|&b| (b != 0) as i64).collect(),
        _ => raw.iter().map(|&b| b as i64).collect(),
    };
    Ok(Tensor::int(dtype, shape, ints))
}

/// Maps an ONNX element type to an IR dtype (for tensors, Cast and graph inputs).
pub fn dtype_of(onnx_type: i32) -> Result<DType> {
    Ok(match onnx_type {
        data_type::FLOAT => DType::F32,
        data_type::DOUBLE => DType::F64,
        data_type::INT8 => DType::I8,
        data_type::UINT8 => DType::U8,
        data_type::INT16 => DType::I16,
        data_type::UINT16 => DType::U16,
        data_type::INT32 => DType::I32,
        data_type::UINT32 => DType::U32,
        data_type::INT64 => DType::I64,
        data_type::UINT64 => DType::U64,
        data_type::BOOL => DType::Bool,
        other => {
            return Err(Error::unsupported(format!(
                "element type {} ({other}) is not supported",
                data_type::name(other)
            )));
        }
    })
}
