//! Reference broadcasting binary ops, BatchNormalization and Softmax.

use super::{for_each_index, strides};
use crate::error::{Result, err};
use crate::ir::infer::normalize_axis;
use crate::ir::{BinaryOp, Data, Tensor, TensorType};

/// Strides of `shape` seen from an output of rank `rank`, 0 along broadcast axes.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let pad = out.len() - shape.len();
    (0..out.len()).map(|a| if a < pad || shape[a - pad] == 1 { 0 } else { s[a - pad] }).collect()
}

pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Tensor> {
    let sa = broadcast_strides(&a.shape, &out.shape);
    let sb = broadcast_strides(&b.shape, &out.shape);
    let index = |idx: &[usize], s: &[usize]| idx.iter().zip(s).map(|(i, s)| i * s).sum::<usize>();
    let data = match (&a.data, &b.data) {
        (Data::F32(x), Data::F32(y)) => {
            let mut v = vec![0f32; out.elements()];
            for_each_index(&out.shape, |flat, idx| v[flat] = op.apply(x[index(idx, &sa)], y[index(idx, &sb)]));
            Data::F32(v.into())
        }
        (Data::I64(x), Data::I64(y)) => {
            let mut v = vec![0i64; out.elements()];
            let mut failed = false;
            let range =
                out.dtype.int_range().ok_or_else(|| err!(internal, "integer {} of {}", op.name(), out.dtype))?;
            let fits = |r: i64| (range.0..=range.1).contains(&r);
            for_each_index(&out.shape, |flat, idx| {
                match op.apply_int(x[index(idx, &sa)], y[index(idx, &sb)]).filter(|&r| fits(r)) {
                    Some(r) => v[flat] = r,
                    None => failed = true,
                }
            });
            if failed {
                return Err(err!(invalid, "integer {} overflows {} or divides by zero", op.name(), out.dtype));
            }
            Data::I64(v.into())
        }
        _ => return Err(err!(internal, "{} operands differ in type", op.name())),
    };
    Ok(Tensor { dtype: out.dtype, shape: out.shape.clone(), data })
}

pub fn batch_norm(epsilon: f32, args: &[&Tensor]) -> Result<Tensor> {
    let get = |i: usize| args[i].as_f32().ok_or_else(|| err!(internal, "BatchNormalization operand {i} is not float"));
    let (x, scale, bias, mean, var) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
    let shape = &args[0].shape;
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    let mut y = x.to_vec();
    for (i, v) in y.iter_mut().enumerate() {
        let ch = (i / inner) % c;
        *v = (*v - mean[ch]) / (var[ch] + epsilon).sqrt() * scale[ch] + bias[ch];
    }
    Ok(Tensor::f32(shape.clone(), y))
}

pub fn softmax(x: &Tensor, axis: i64, coerce_2d: bool) -> Result<Tensor> {
    let v = x.as_f32().ok_or_else(|| err!(internal, "Softmax input is not float"))?;
    let a = normalize_axis(axis, x.shape.len())?;
    // Rows of `len` elements `step` apart: opset >= 13 normalises along one axis; older opsets
    // flatten everything from `axis` on into one row.
    let (outer, len, step) = if coerce_2d {
        (x.shape[..a].iter().product::<usize>(), x.shape[a..].iter().product::<usize>(), 1)
    } else {
        let inner: usize = x.shape[a + 1..].iter().product();
        (x.shape[..a].iter().product::<usize>() * inner, x.shape[a], inner)
    };
    let mut y = v.to_vec();
    for o in 0..outer {
        let base = if coerce_2d { o * len } else { (o / step) * len * step + o % step };
        let at = |i: usize| base + i * step;
        let max = (0..len).map(|i| v[at(i)]).fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for i in 0..len {
            let e = (v[at(i)] - max).exp();
            y[at(i)] = e;
            sum += e;
        }
        for i in 0..len {
            y[at(i)] /= sum;
        }
    }
    Ok(Tensor::f32(x.shape.clone(), y))
}
