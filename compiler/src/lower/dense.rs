//! Gemm and MatMul (by a constant matrix) on the GEMM kernel: B packed `[k][n]` with alpha
//! folded in, C folded into the bias (a row) or the residual (a full matrix).

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, act_of, pack, row_major};
use crate::error::{Result, err};
use crate::ir::{Gemm, NodeId};

impl Lowering<'_> {
    /// A Gemm's A as a row-major matrix: transposed (a strided view of A, copied) when asked.
    pub(super) fn gemm_a(&mut self, a: Value, transposed: bool) -> Result<Value> {
        if !transposed {
            return self.row_major_of(a);
        }
        let t = Value {
            region: a.region,
            shape: vec![a.shape[1], a.shape[0]],
            strides: vec![a.strides[1], a.strides[0]],
            bytes: a.bytes,
        };
        self.row_major_of(t)
    }

    pub(super) fn gemm(&mut self, n: NodeId, gm: &Gemm, shape: Vec<usize>) -> Result<Value> {
        let a = self.operand(n, 0)?;
        let a = self.gemm_a(a, gm.trans_a)?;
        let [m, kk] = a.shape[..] else { return Err(err!(internal, "Gemm A is not 2-D")) };
        let ncols = shape[1];
        let b = self.constant_operand(n, 1, "Gemm B")?.clone();
        let bv = b.as_f32().unwrap_or_default();
        let mut packed = if gm.trans_b { pack::transpose_2d(bv, ncols, kk) } else { bv.to_vec() };
        if gm.alpha != 1.0 {
            packed.iter_mut().for_each(|v| *v *= gm.alpha);
        }
        // C: a row (or scalar) becomes the bias; a full matrix (or a column) the residual.
        let (mut bias, mut residual) = (None, None);
        if gm.has_c {
            let c = self.constant_operand(n, 2, "Gemm C")?;
            let cv = c.as_f32().unwrap_or_default();
            let is_row = c.shape.iter().rev().skip(1).all(|&d| d == 1) && (cv.len() == 1 || cv.len() == ncols);
            if is_row {
                bias = Some((0..ncols).map(|j| gm.beta * cv[if cv.len() == 1 { 0 } else { j }]).collect::<Vec<f32>>());
            } else {
                let (rows, cols) = (c.shape[0], c.shape[1]);
                let full: Vec<f32> = (0..m * ncols)
                    .map(|i| {
                        gm.beta
                            * cv[if rows == 1 { 0 } else { i / ncols } * cols + if cols == 1 { 0 } else { i % ncols }]
                    })
                    .collect();
                residual = Some(full);
            }
        }
        let b_region = self.add_weights(&pack::gemm_b(&packed, kk, ncols))?;
        let mut reads = vec![a.region, b_region];
        if let Some(bias) = &bias {
            reads.push(self.add_weights(&pack::gemm_bias(bias))?);
        }
        if let Some(res) = &residual {
            reads.push(self.add_weights(res)?);
        }
        let p = k::gemm::Gemm { m, k: kk, n: ncols, act: act_of(gm.act) };
        let out = self.new_buffer(m * ncols);
        self.push(Kernel::Gemm { p, bias: bias.is_some(), residual: residual.is_some(), images: 1 }, reads, out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }

    /// MatMul by a constant 2-D matrix: the leading axes of A are rows of one GEMM.
    pub(super) fn matmul(&mut self, n: NodeId, shape: Vec<usize>) -> Result<Value> {
        let b = self.constant_operand(n, 1, "MatMul right operand")?.clone();
        if b.shape.len() != 2 {
            return Err(err!(
                unsupported,
                "MatMul by a constant of rank {} is not supported at run time",
                b.shape.len()
            ));
        }
        let a = self.operand(n, 0)?;
        let a = self.row_major_of(a)?;
        let (kk, ncols) = (b.shape[0], b.shape[1]);
        let m = a.region.len / kk.max(1);
        let b_region = self.add_weights(&pack::gemm_b(b.as_f32().unwrap_or_default(), kk, ncols))?;
        let p = k::gemm::Gemm { m, k: kk, n: ncols, act: mobilenet_kernels::Act::None };
        let out = self.new_buffer(m * ncols);
        self.push(Kernel::Gemm { p, bias: false, residual: false, images: 1 }, vec![a.region, b_region], out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }
}
