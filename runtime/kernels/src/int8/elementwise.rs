//! 8-bit addition and multiplication with broadcasting (residual connections; the gates of
//! squeeze-and-excitation blocks and hard-swish in MobileNetV3): ONNX Runtime's QLinearAdd
//! (`crate::quant::add`) and QLinearMul (`requantize((a - a_zero) * (b - b_zero), a_scale *
//! b_scale / y_scale)`).

use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
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
pub fn qbinary(cpu: Cpu, p: &QBinary, a: &[u8], b: &[u8], out: &mut [u8]) {
    expect(check(p, a.len(), b.len(), out.len()));
    let (sa, sb) = (p.a_strides[5], p.b_strides[5]);
    let out_strides = row_major(&p.shape);
    walk3(&p.shape, [&p.a_strides, &p.b_strides, &out_strides], [0, 0, 0], |ia, ib, io, run| {
        let o = &mut out[io..io + run];
        #[cfg(target_arch = "x86_64")]
        if cpu.int8_dot() && sa == 1 && sb <= 1 && run > 0 {
            let b = &b[ib..ib + if sb == 1 { run } else { 1 }];
            // SAFETY: `int8_dot` implies AVX-512F/BW/VL; the runs are inside the views `check`
            // bounded.
            return unsafe { crate::arch::int8::binary_run(&p.op, &a[ia..ia + run], b, sb, o) };
        }
        let _ = cpu;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdLevel;
    use crate::int8::Requant;

    /// Every path against the scalar one, with and without broadcasting.
    #[test]
    fn every_path_matches_the_scalar_one() {
        let a: std::vec::Vec<u8> = (0..2 * 5 * 37).map(|i| (i * 91 % 256) as u8).collect();
        let b: std::vec::Vec<u8> = (0..2 * 5 * 37).map(|i| (i * 17 % 256) as u8).collect();
        let add = QBinOp::Add(quant::Add {
            a_ratio: 0.7,
            a_zero_point: 120,
            b_ratio: 1.3,
            b_zero_point: 3,
            y_zero_point: 90,
            lo: 0,
            hi: 255,
        });
        let mul =
            QBinOp::Mul { a_zero: 128, b_zero: 0, mult: 0.0041, requant: Requant { zero_point: 7, lo: 7, hi: 255 } };
        for op in [add, mul] {
            // Full b, then b per (image, channel) broadcast along the run.
            for b_strides in [[0, 0, 0, 5 * 37, 37, 1], [0, 0, 0, 5, 1, 0]] {
                let p = QBinary { op, shape: [1, 1, 1, 2, 5, 37], a_strides: [0, 0, 0, 5 * 37, 37, 1], b_strides };
                let mut want = std::vec![0u8; a.len()];
                qbinary(Cpu::scalar(), &p, &a, &b, &mut want);
                for level in SimdLevel::ALL {
                    let Some(cpu) = Cpu::with_level(level) else { continue };
                    let mut out = std::vec![0u8; a.len()];
                    qbinary(cpu, &p, &a, &b, &mut out);
                    assert_eq!(out, want, "{level:?} {op:?}");
                }
            }
        }
    }
}
