//! .npy files in and out (inputs and outputs of `mobilenetc run`, reference data in tests).

use std::io::BufWriter;
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{Error, Result, err};
use crate::ir::Tensor;

/// Reads a float32 (or float64, converted) array.
pub fn read(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| err!(usage, "not a .npy file: {e}").in_file(path))?;
    if npy.order() != npyz::Order::C {
        return Err(err!(usage, "Fortran-ordered arrays are not supported; save with C order").in_file(path));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let values: Vec<f32> = match descr.as_str() {
        "<f4" => npy.into_vec::<f32>().map_err(|e| Error::io(path, &e))?,
        "<f8" => npy.into_vec::<f64>().map_err(|e| Error::io(path, &e))?.into_iter().map(|v| v as f32).collect(),
        other => return Err(err!(usage, "the array has dtype {other}; float32 is expected").in_file(path)),
    };
    if values.len() != shape.iter().product::<usize>() {
        return Err(err!(usage, "the array's data does not match its shape {shape:?}").in_file(path));
    }
    Ok(Tensor::f32(shape, values))
}

/// Writes a float32 array.
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let values = t.as_f32().ok_or_else(|| err!(internal, "only float tensors are written as .npy"))?;
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, &e))?;
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let write = || -> std::io::Result<()> {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(BufWriter::new(file)).begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()
    };
    write().map_err(|e| Error::io(path, &e))
}
