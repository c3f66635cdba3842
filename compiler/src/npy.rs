//! .npy files in and out (inputs and outputs of `mobilenetc run`, reference data in tests).

use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{Error, Result, err};
use crate::ir::{DType, Data, Tensor};

/// Reads a float32 (or float64, converted), uint8 or int8 array from a regular file of at most
/// `max_bytes`.
pub fn read(path: &Path, max_bytes: u64) -> Result<Tensor> {
    let bytes = crate::files::read_bounded(path, max_bytes, "Limits::max_file_bytes")?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| err!(usage, "not a .npy file: {e}").in_file(path))?;
    if npy.order() != npyz::Order::C {
        return Err(err!(usage, "Fortran-ordered arrays are not supported; save with C order").in_file(path));
    }
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let elem_bytes = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        "|u1" | "|i1" => 1,
        other => {
            return Err(err!(usage, "the array has dtype {other}; float32, uint8 or int8 is expected").in_file(path));
        }
    };
    // The header's shape must match the data the file holds before anything is allocated for it.
    let count = npy.shape().iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    if count.is_none_or(|c| c.saturating_mul(elem_bytes) > bytes.len() as u64) {
        return Err(
            err!(usage, "the array's shape {:?} needs more data than the file holds", npy.shape()).in_file(path)
        );
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if elem_bytes == 1 {
        let (dtype, values): (DType, Vec<i64>) = if descr == "|u1" {
            (DType::U8, npy.into_vec::<u8>().map_err(|e| Error::io(path, &e))?.into_iter().map(i64::from).collect())
        } else {
            (DType::I8, npy.into_vec::<i8>().map_err(|e| Error::io(path, &e))?.into_iter().map(i64::from).collect())
        };
        if values.len() != shape.iter().product::<usize>() {
            return Err(err!(usage, "the array's data does not match its shape {shape:?}").in_file(path));
        }
        return Ok(Tensor::int(dtype, shape, values));
    }
    let values: Vec<f32> = if elem_bytes == 4 {
        npy.into_vec::<f32>().map_err(|e| Error::io(path, &e))?
    } else {
        npy.into_vec::<f64>().map_err(|e| Error::io(path, &e))?.into_iter().map(|v| v as f32).collect()
    };
    if values.len() != shape.iter().product::<usize>() {
        return Err(err!(usage, "the array's data does not match its shape {shape:?}").in_file(path));
    }
    Ok(Tensor::f32(shape, values))
}

/// Writes a float32, uint8 or int8 array (all or nothing: see `files::write_all_or_nothing`).
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let mut bytes = Vec::new();
    let written = match (t.dtype, &t.data) {
        (DType::F32, Data::F32(v)) => encode(&shape, &mut bytes, v.iter().copied()),
        (DType::U8, Data::I64(v)) => encode(&shape, &mut bytes, v.iter().map(|&x| x as u8)),
        (DType::I8, Data::I64(v)) => encode(&shape, &mut bytes, v.iter().map(|&x| x as i8)),
        _ => return Err(err!(internal, "{} tensors are not written as .npy", t.dtype)),
    };
    written.map_err(|e| Error::io(path, &e))?;
    crate::files::write_all_or_nothing(&[(path, &bytes)])
}

fn encode<T: npyz::AutoSerialize>(
    shape: &[u64],
    bytes: &mut Vec<u8>,
    values: impl Iterator<Item = T>,
) -> std::io::Result<()> {
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(bytes).begin_nd()?;
    w.extend(values)?;
    w.finish()
}
