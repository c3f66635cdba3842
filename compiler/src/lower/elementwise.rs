//! Binary ops with broadcasting: one strided walk in the output's memory order, each operand
//! read through its own strides (0 along broadcast axes), so an NHWC image times a per-channel
//! `[N, C, 1, 1]` scale (the squeeze-excitation Mul) needs no copy.

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, bin_op, nhwc, pad6, row_major};
use crate::error::Result;
use crate::ir::{BinaryOp, NodeId};

impl Lowering<'_> {
    pub(super) fn binary(&mut self, n: NodeId, op: BinaryOp, shape: Vec<usize>) -> Result<Value> {
        let a = self.operand(n, 0)?;
        let b = self.operand(n, 1)?;
        let r = shape.len();
        // The output takes the layout of a full-size operand when it has a standard one.
        let full = [&a, &b].into_iter().find(|v| v.shape == shape && (v.is_row_major() || v.is_nhwc()));
        let (strides, order): (Vec<usize>, Vec<usize>) = match full {
            Some(v) if r == 4 && v.is_nhwc() && !v.is_row_major() => (nhwc(&shape), vec![0, 2, 3, 1]),
            _ => (row_major(&shape), (0..r).collect()),
        };
        // Operand strides aligned to the output's axes (broadcast axes get 0), then listed in
        // the output's memory order.
        let aligned = |v: &Value| -> Vec<usize> {
            let pad = r - v.shape.len();
            (0..r).map(|i| if i < pad || v.shape[i - pad] == 1 { 0 } else { v.strides[i - pad] }).collect()
        };
        let (sa, sb) = (aligned(&a), aligned(&b));
        let walk: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
        let p = k::elementwise::Binary {
            op: bin_op(op),
            shape: pad6(&walk, 1)?,
            a_strides: pad6(&order.iter().map(|&i| sa[i]).collect::<Vec<_>>(), 0)?,
            b_strides: pad6(&order.iter().map(|&i| sb[i]).collect::<Vec<_>>(), 0)?,
        };
        let out = self.new_buffer(shape.iter().product());
        self.push(Kernel::Binary(p), vec![a.region, b.region], out);
        Ok(Value { region: out, shape, strides, bytes: false })
    }
}
