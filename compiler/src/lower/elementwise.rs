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
        let w = BinaryWalk::of(&a, &b, &shape)?;
        let p =
            k::elementwise::Binary { op: bin_op(op), shape: w.shape, a_strides: w.a_strides, b_strides: w.b_strides };
        let out = self.new_buffer(shape.iter().product());
        self.push(Kernel::Binary(p), vec![a.region, b.region], out);
        Ok(Value { region: out, shape, strides: w.out_strides, bytes: false })
    }
}

/// How a binary elementwise kernel walks its operands: in the memory order of the output, which
/// takes the layout of a full-size operand when it has a standard one (NHWC or row-major).
pub(super) struct BinaryWalk {
    /// The output's strides.
    pub out_strides: Vec<usize>,
    /// The output's shape in its memory order, padded to 6.
    pub shape: [usize; 6],
    /// The first operand's strides aligned to those axes (0 where it broadcasts).
    pub a_strides: [usize; 6],
    /// The second operand's.
    pub b_strides: [usize; 6],
}

impl BinaryWalk {
    pub(super) fn of(a: &Value, b: &Value, shape: &[usize]) -> Result<Self> {
        let r = shape.len();
        let full = [a, b].into_iter().find(|v| v.shape == shape && (v.is_row_major() || v.is_nhwc()));
        let (out_strides, order): (Vec<usize>, Vec<usize>) = match full {
            Some(v) if r == 4 && v.is_nhwc() && !v.is_row_major() => (nhwc(shape), vec![0, 2, 3, 1]),
            _ => (row_major(shape), (0..r).collect()),
        };
        // Operand strides aligned to the output's axes (broadcast axes get 0), then listed in
        // the output's memory order.
        let aligned = |v: &Value| -> Result<[usize; 6]> {
            let pad = r - v.shape.len();
            let s: Vec<usize> =
                (0..r).map(|i| if i < pad || v.shape[i - pad] == 1 { 0 } else { v.strides[i - pad] }).collect();
            pad6(&order.iter().map(|&i| s[i]).collect::<Vec<_>>(), 0)
        };
        let walk: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
        Ok(Self { shape: pad6(&walk, 1)?, a_strides: aligned(a)?, b_strides: aligned(b)?, out_strides })
    }
}
