//! 8-bit addition and multiplication with broadcasting (residual connections; the gates of
//! squeeze-and-excitation blocks and hard-swish in MobileNetV3): ONNX Runtime's QLinearAdd
//! (`crate::quant::add`) and QLinearMul (`requantize((a - a_zero) * (b - b_zero), a_scale *
//! b_scale / y_scale)`).

use crate::check::{Check, ensure, expect};
use crate::layout::{MAX_RANK, checked_extent, walk3};
use crate::quant;

/// Which operation, with its constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QBinOp {
    /// Quantised addition.
    Add(quant::Add),
    /// Quantised multiplication.
    Mul {
        /// Zero point of `a`.
        a_zero: i32,
        /// Zero point of `b`.
        b_zero: i32,
        /// `a_scale * b_scale / y_scale`.
        mult: f32,
        /// The output's zero point and bounds.
        requant: super::Requant,
    },
}

/// An elementwise operation on views of `a` and `b` (strides in bytes, 0 to broadcast) into a
/// row-major output of `shape`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QBinary {
    /// The operation.
    pub op: QBinOp,
    /// The output's shape, padded with leading 1s.
    pub shape: [usize; MAX_RANK],
    /// Strides of `a`.
    pub a_strides: [usize; MAX_RANK],
    /// Strides of `b`.
    pub b_strides: [usize; MAX_RANK],
}

fn row_major(shape: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut s = [1; MAX_RANK];
    for i in (0..MAX_RANK - 1).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// What `qbinary` requires: both views inside their slices, room for the output.
pub fn check(p: &QBinary, a: usize, b: usize, out: usize) -> Check {
    ensure!(checked_extent(&p.shape, &p.a_strides, 0).is_some_and(|e| e <= a), "qbinary: a out of bounds");
    ensure!(checked_extent(&p.shape, &p.b_strides, 0).is_some_and(|e| e <= b), "qbinary: b out of bounds");
    ensure!(checked_extent(&p.shape, &row_major(&p.shape), 0).is_some_and(|e| e <= out), "qbinary: out too short");
    if let QBinOp::Mul { requant, .. } = p.op {
        ensure!(requant.is_valid(), "qbinary: output bounds");
    }
    if let QBinOp::Add(q) = p.op {
        ensure!(0 <= q.lo && q.lo <= q.hi && q.hi <= 255, "qbinary: output bounds");
    }
    Ok(())
}

/// `out = a op b`.
pub fn qbinary(p: &QBinary, a: &[u8], b: &[u8], out: &mut [u8]) {
    expect(check(p, a.len(), b.len(), out.len()));
    let (sa, sb) = (p.a_strides[5], p.b_strides[5]);
    let out_strides = row_major(&p.shape);
    walk3(&p.shape, [&p.a_strides, &p.b_strides, &out_strides], [0, 0, 0], |ia, ib, io, run| {
        let o = &mut out[io..io + run];
        match p.op {
            QBinOp::Add(q) => {
                for (i, o) in o.iter_mut().enumerate() {
                    *o = quant::add(a[ia + i * sa] as i32, b[ib + i * sb] as i32, &q) as u8;
                }
            }
            QBinOp::Mul { a_zero, b_zero, mult, requant } => {
                for (i, o) in o.iter_mut().enumerate() {
                    let prod = (a[ia + i * sa] as i32 - a_zero) * (b[ib + i * sb] as i32 - b_zero);
                    *o = requant.apply(prod, mult);
                }
            }
        }
    });
}
