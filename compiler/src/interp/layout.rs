//! Reference Transpose, Pad, Gather, Slice, Concat: pure data movement.

use super::{for_each_index, strides};
use crate::error::{Result, err};
use crate::ir::infer::{gather_index, normalize_axis, slice_range};
use crate::ir::{Data, Tensor, TensorType};

/// Builds a tensor of type `out` whose element `flat` is element `src(idx)` of `x` (or `fill`
/// where `src` returns `None`).
fn gather_elements(x: &Tensor, out: &TensorType, fill: f32, mut src: impl FnMut(&[usize]) -> Option<usize>) -> Tensor {
    let data = match &x.data {
        Data::F32(v) => {
            let mut y = vec![fill; out.elements()];
            for_each_index(&out.shape, |flat, idx| {
                if let Some(s) = src(idx) {
                    y[flat] = v[s];
                }
            });
            Data::F32(y.into())
        }
        Data::I64(v) => {
            let mut y = vec![fill as i64; out.elements()];
            for_each_index(&out.shape, |flat, idx| {
                if let Some(s) = src(idx) {
                    y[flat] = v[s];
                }
            });
            Data::I64(y.into())
        }
    };
    Tensor { dtype: x.dtype, shape: out.shape.clone(), data }
}

pub fn transpose(x: &Tensor, perm: &[usize]) -> Tensor {
    let s = strides(&x.shape);
    let out = TensorType::new(x.dtype, perm.iter().map(|&p| x.shape[p]).collect());
    gather_elements(x, &out, 0.0, |idx| Some(idx.iter().zip(perm).map(|(&i, &p)| i * s[p]).sum()))
}

pub fn pad(x: &Tensor, pads: &[i64], value: f32, out: &TensorType) -> Tensor {
    let s = strides(&x.shape);
    let r = x.shape.len();
    gather_elements(x, out, value, |idx| {
        let mut flat = 0;
        for a in 0..r {
            let i = idx[a] as i64 - pads[a];
            if i < 0 || i >= x.shape[a] as i64 {
                return None;
            }
            flat += i as usize * s[a];
        }
        Some(flat)
    })
}

pub fn gather(data: &Tensor, indices: &Tensor, axis: i64, out: &TensorType) -> Result<Tensor> {
    let a = normalize_axis(axis, data.shape.len())?;
    let idx_values = indices.as_i64().ok_or_else(|| err!(internal, "Gather indices are not integers"))?;
    let resolved: Vec<usize> = idx_values.iter().map(|&i| gather_index(i, data.shape[a])).collect::<Result<_>>()?;
    let s = strides(&data.shape);
    let is = strides(&indices.shape);
    let ir = indices.shape.len();
    Ok(gather_elements(data, out, 0.0, |idx| {
        let k: usize = idx[a..a + ir].iter().zip(&is).map(|(i, s)| i * s).sum();
        let mut flat = resolved[k] * s[a];
        for d in 0..a {
            flat += idx[d] * s[d];
        }
        for d in a + 1..data.shape.len() {
            flat += idx[d - 1 + ir] * s[d];
        }
        Some(flat)
    }))
}

pub fn slice(
    x: &Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
    out: &TensorType,
) -> Result<Tensor> {
    let r = x.shape.len();
    let mut first = vec![0i64; r];
    let mut step = vec![1i64; r];
    for i in 0..axes.len() {
        let a = normalize_axis(axes[i], r)?;
        let (s, _) = slice_range(x.shape[a], starts[i], ends[i], steps[i])?;
        first[a] = s;
        step[a] = steps[i];
    }
    let s = strides(&x.shape);
    Ok(gather_elements(x, out, 0.0, |idx| {
        Some((0..r).map(|a| (first[a] + idx[a] as i64 * step[a]) as usize * s[a]).sum())
    }))
}

pub fn concat(args: &[&Tensor], axis: i64, out: &TensorType) -> Result<Tensor> {
    let a = normalize_axis(axis, out.shape.len())?;
    let outer: usize = out.shape[..a].iter().product();
    let inner: usize = out.shape[a + 1..].iter().product();
    let data = match &args[0].data {
        Data::F32(_) => {
            let mut y = Vec::with_capacity(out.elements());
            for o in 0..outer {
                for t in args {
                    let v = t.as_f32().ok_or_else(|| err!(internal, "Concat operands differ in type"))?;
                    let chunk = t.shape[a] * inner;
                    y.extend_from_slice(&v[o * chunk..][..chunk]);
                }
            }
            Data::F32(y.into())
        }
        Data::I64(_) => {
            let mut y = Vec::with_capacity(out.elements());
            for o in 0..outer {
                for t in args {
                    let v = t.as_i64().ok_or_else(|| err!(internal, "Concat operands differ in type"))?;
                    let chunk = t.shape[a] * inner;
                    y.extend_from_slice(&v[o * chunk..][..chunk]);
                }
            }
            Data::I64(y.into())
        }
    };
    Ok(Tensor { dtype: out.dtype, shape: out.shape.clone(), data })
}
