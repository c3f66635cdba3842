//! Reference Gemm and MatMul.

use super::strides;
use crate::error::{Result, err};
use crate::ir::infer::broadcast;
use crate::ir::{Gemm, Tensor, TensorType};

pub fn gemm(gm: &Gemm, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let get = |i: usize| args[i].as_f32().ok_or_else(|| err!(internal, "Gemm operand {i} is not float"));
    let (a, b) = (get(0)?, get(1)?);
    let [m, n] = out.shape[..] else { return Err(err!(internal, "Gemm output is not 2-D")) };
    let k = if gm.trans_a { args[0].shape[0] } else { args[0].shape[1] };
    let a_at = |i: usize, p: usize| if gm.trans_a { a[p * m + i] } else { a[i * k + p] };
    let b_at = |p: usize, j: usize| if gm.trans_b { b[j * k + p] } else { b[p * n + j] };
    let c = if gm.has_c { Some((get(2)?, &args[2].shape)) } else { None };
    let mut y = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for p in 0..k {
                acc += a_at(i, p) * b_at(p, j);
            }
            let mut v = gm.alpha * acc;
            if let Some((c, shape)) = c {
                // C broadcasts to [m, n] from [], [n], [1, n], [m, 1] or [m, n].
                let (ci, cj) = match shape.len() {
                    0 => (0, 0),
                    1 => (0, if shape[0] == 1 { 0 } else { j }),
                    _ => (if shape[0] == 1 { 0 } else { i }, if shape[1] == 1 { 0 } else { j }),
                };
                let cols = if shape.len() == 2 { shape[1] } else { 0 };
                v += gm.beta * c[ci * cols + cj];
            }
            y[i * n + j] = match gm.act {
                Some(act) => act.apply(v),
                None => v,
            };
        }
    }
    Ok(Tensor::f32(out.shape.clone(), y))
}

pub fn matmul(args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let (a, b) = (
        args[0].as_f32().ok_or_else(|| err!(internal, "MatMul A is not float"))?,
        args[1].as_f32().ok_or_else(|| err!(internal, "MatMul B is not float"))?,
    );
    let a_shape = if args[0].shape.len() == 1 { vec![1, args[0].shape[0]] } else { args[0].shape.clone() };
    let b_shape = if args[1].shape.len() == 1 { vec![args[1].shape[0], 1] } else { args[1].shape.clone() };
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let n = b_shape[b_shape.len() - 1];
    let a_batch = &a_shape[..a_shape.len() - 2];
    let b_batch = &b_shape[..b_shape.len() - 2];
    let batch = broadcast(a_batch, b_batch).ok_or_else(|| err!(internal, "MatMul batch shapes do not broadcast"))?;
    let batch_count: usize = batch.iter().product();
    let bstrides = strides(&batch);
    let offset = |shape: &[usize], flat: usize, mat: usize| -> usize {
        // Index of the matrix of a (broadcast) operand for batch position `flat`.
        let mut idx = 0;
        let s = strides(shape);
        for (axis, bs) in bstrides.iter().enumerate() {
            let coord = (flat / bs) % batch[axis];
            let pad = batch.len() - shape.len();
            if axis >= pad && shape[axis - pad] != 1 {
                idx += coord * s[axis - pad];
            }
        }
        idx * mat
    };
    let mut y = vec![0f32; batch_count * m * n];
    for bi in 0..batch_count {
        let ao = offset(a_batch, bi, m * k);
        let bo = offset(b_batch, bi, k * n);
        for i in 0..m {
            let row = &mut y[(bi * m + i) * n..][..n];
            for p in 0..k {
                let av = a[ao + i * k + p];
                for (j, r) in row.iter_mut().enumerate() {
                    *r += av * b[bo + p * n + j];
                }
            }
        }
    }
    Ok(Tensor::f32(out.shape.clone(), y))
}
