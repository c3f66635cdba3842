//! Softmax along one axis of a row-major tensor viewed as `[outer][len][inner]`.

use crate::act::exp;
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Softmax over the middle axis of `[outer][len][inner]`.
pub struct Softmax {
    /// Product of the axes before the normalised one.
    pub outer: usize,
    /// Length of the normalised axis.
    pub len: usize,
    /// Product of the axes after it.
    pub inner: usize,
}

/// What `softmax` requires.
pub fn check(p: &Softmax, input: usize, output: usize) -> Check {
    let total = p.outer * p.len * p.inner;
    ensure!(input == total, "softmax: input");
    ensure!(output == total, "softmax: output");
    Ok(())
}

/// `output = softmax(input)` along the middle axis.
pub fn softmax(cpu: Cpu, p: &Softmax, input: &[f32], output: &mut [f32]) {
    expect(check(p, input.len(), output.len()));
    dispatch!(cpu, entry, body(p, input, output), (p, input, output));
}

/// One body for every level: the SIMD entry points compile it with AVX2 or AVX-512 enabled (the
/// maximum, the sum and the scaling vectorise; `exp` is the scalar polynomial).
#[inline(always)]
fn body(p: &Softmax, input: &[f32], output: &mut [f32]) {
    for o in 0..p.outer {
        for i in 0..p.inner {
            let at = |j: usize| (o * p.len + j) * p.inner + i;
            let max = (0..p.len).map(|j| input[at(j)]).fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for j in 0..p.len {
                let e = exp(input[at(j)] - max);
                output[at(j)] = e;
                sum += e;
            }
            let inv = 1.0 / sum;
            for j in 0..p.len {
                output[at(j)] *= inv;
            }
        }
    }
}

#[cfg(kernel_simd)]
mod simd {
    use super::*;
    simd_entry!(entry => same body(p: &Softmax, input: &[f32], output: &mut [f32]));
}
#[cfg(kernel_simd)]
use simd::*;
