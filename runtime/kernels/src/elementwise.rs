//! Elementwise kernels: binary ops with broadcasting (by strides, 0 along broadcast axes) and
//! standalone activations. The output is contiguous in the walk order of `shape`.

use crate::act::{Act, max_lane, min_lane};
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::layout::{MAX_RANK, checked_extent, walk3};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// A binary elementwise operation.
pub enum BinOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// The larger of a and b (NaN if either is NaN).
    Max,
    /// The smaller of a and b (NaN if either is NaN).
    Min,
}

impl BinOp {
    #[inline(always)]
    /// The operation on one pair of values, as every SIMD path computes it.
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            // NaN in either gives NaN, as in ONNX Runtime and numpy.
            BinOp::Max => {
                if a.is_nan() || b.is_nan() {
                    a + b
                } else {
                    max_lane(a, b)
                }
            }
            BinOp::Min => {
                if a.is_nan() || b.is_nan() {
                    a + b
                } else {
                    min_lane(a, b)
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// A broadcasting binary operation: the output is `shape`, row-major; `a` and `b` are read
/// through their strides (0 along broadcast axes).
pub struct Binary {
    /// The operation.
    pub op: BinOp,
    /// Output shape, padded with leading 1s.
    pub shape: [usize; MAX_RANK],
    /// Strides of `a` in elements.
    pub a_strides: [usize; MAX_RANK],
    /// Strides of `b` in elements.
    pub b_strides: [usize; MAX_RANK],
}

impl Binary {
    /// Elements of the output.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the output is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn out_strides(&self) -> [usize; MAX_RANK] {
        let mut s = [1; MAX_RANK];
        for i in (0..MAX_RANK - 1).rev() {
            s[i] = s[i + 1] * self.shape[i + 1];
        }
        s
    }
}

/// `out = a op b`.
/// What `binary` requires.
pub fn check_binary(p: &Binary, a: usize, b: usize, out: usize) -> Check {
    ensure!(checked_extent(&p.shape, &p.a_strides, 0).is_some_and(|e| e <= a), "binary: a out of bounds");
    ensure!(checked_extent(&p.shape, &p.b_strides, 0).is_some_and(|e| e <= b), "binary: b out of bounds");
    ensure!(out == p.len(), "binary: out");
    Ok(())
}

/// What `binary_in_place` requires (`a` is also the output).
pub fn check_binary_in_place(p: &Binary, a: usize, b: usize) -> Check {
    ensure!(p.a_strides == p.out_strides(), "binary_in_place: a must be contiguous");
    ensure!(a == p.len(), "binary_in_place: a");
    ensure!(checked_extent(&p.shape, &p.b_strides, 0).is_some_and(|e| e <= b), "binary_in_place: b out of bounds");
    Ok(())
}

/// What `activation` requires.
pub fn check_activation(_act: Act, input: usize, out: usize) -> Check {
    ensure!(input == out, "activation: lengths");
    Ok(())
}

/// What `activation_in_place` requires: nothing.
pub fn check_activation_in_place(_act: Act, _data: usize) -> Check {
    Ok(())
}

/// `out = a op b`.
pub fn binary(cpu: Cpu, p: &Binary, a: &[f32], b: &[f32], out: &mut [f32]) {
    expect(check_binary(p, a.len(), b.len(), out.len()));
    dispatch!(cpu, binary_entry, binary_body::<Scalar>(p, a, b, out), (p, a, b, out));
}

/// `a = a op b`, where `a` is laid out like the output (contiguous in walk order).
pub fn binary_in_place(cpu: Cpu, p: &Binary, a: &mut [f32], b: &[f32]) {
    expect(check_binary_in_place(p, a.len(), b.len()));
    dispatch!(cpu, binary_in_place_entry, binary_in_place_body::<Scalar>(p, a, b), (p, a, b));
}

/// `data = act(data)`.
pub fn activation_in_place(cpu: Cpu, act: Act, data: &mut [f32]) {
    dispatch!(cpu, activation_in_place_entry, activation_in_place_body::<Scalar>(act, data), (act, data));
}

/// `out = act(input)`.
pub fn activation(cpu: Cpu, act: Act, input: &[f32], out: &mut [f32]) {
    expect(check_activation(act, input.len(), out.len()));
    dispatch!(cpu, activation_entry, activation_body::<Scalar>(act, input, out), (act, input, out));
}

/// The elementwise bodies are written once over `Lanes`: the scalar path uses one lane, the SIMD
/// entry points 8 or 16. Every run is a unit-stride or broadcast operand, so the vector loop
/// covers the inner axis and the tail takes partial vectors.
pub(crate) trait Lanes: Copy {
    const N: usize;
    type V: Copy;
    fn splat(x: f32) -> Self::V;
    fn load_n(s: &[f32], n: usize) -> Self::V;
    fn store_n(s: &mut [f32], n: usize, v: Self::V);
    fn op(op: BinOp, a: Self::V, b: Self::V) -> Self::V;
    fn act(act: Act, v: Self::V) -> Self::V;
}

#[derive(Clone, Copy)]
pub(crate) struct Scalar;

impl Lanes for Scalar {
    const N: usize = 1;
    type V = f32;
    #[inline(always)]
    fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load_n(s: &[f32], _: usize) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn store_n(s: &mut [f32], _: usize, v: f32) {
        s[0] = v;
    }
    #[inline(always)]
    fn op(op: BinOp, a: f32, b: f32) -> f32 {
        op.apply(a, b)
    }
    #[inline(always)]
    fn act(act: Act, v: f32) -> f32 {
        act.apply(v)
    }
}

#[cfg(kernel_simd)]
impl<S: crate::simd::Simd> Lanes for S {
    const N: usize = S::LANES;
    type V = S::V;
    #[inline(always)]
    fn splat(x: f32) -> S::V {
        S::splat(x)
    }
    #[inline(always)]
    fn load_n(s: &[f32], n: usize) -> S::V {
        S::load_n(s, n)
    }
    #[inline(always)]
    fn store_n(s: &mut [f32], n: usize, v: S::V) {
        S::store_n(s, n, v)
    }
    #[inline(always)]
    fn op(op: BinOp, a: S::V, b: S::V) -> S::V {
        match op {
            BinOp::Add => S::add(a, b),
            BinOp::Sub => S::sub(a, b),
            BinOp::Mul => S::mul(a, b),
            BinOp::Div => S::div(a, b),
            BinOp::Max => S::nan_where_either(a, b, S::max(a, b)),
            BinOp::Min => S::nan_where_either(a, b, S::min(a, b)),
        }
    }
    #[inline(always)]
    fn act(act: Act, v: S::V) -> S::V {
        // Sigmoid has no clamp form; the callers apply it in a scalar pass afterwards.
        S::activate(v, &act.for_simd().0)
    }
}

/// `out[..run] = a[..] op b[..]` with each operand unit-stride or broadcast (stride 0).
#[inline(always)]
fn run_op<L: Lanes>(op: BinOp, a: &[f32], sa: usize, b: &[f32], sb: usize, out: &mut [f32]) {
    let run = out.len();
    let mut i = 0;
    while i < run {
        let n = L::N.min(run - i);
        let va = if sa == 0 { L::splat(a[0]) } else { L::load_n(&a[i..], n) };
        let vb = if sb == 0 { L::splat(b[0]) } else { L::load_n(&b[i..], n) };
        L::store_n(&mut out[i..], n, L::op(op, va, vb));
        i += n;
    }
}

#[inline(always)]
fn binary_body<L: Lanes>(p: &Binary, a: &[f32], b: &[f32], out: &mut [f32]) {
    let os = p.out_strides();
    let (sa, sb) = (p.a_strides[5], p.b_strides[5]);
    walk3(&p.shape, [&p.a_strides, &p.b_strides, &os], [0, 0, 0], |ia, ib, io, run| {
        let o = &mut out[io..io + run];
        if sa <= 1 && sb <= 1 {
            let (ra, rb) = (&a[ia..ia + if sa == 1 { run } else { 1 }], &b[ib..ib + if sb == 1 { run } else { 1 }]);
            run_op::<L>(p.op, ra, sa, rb, sb, o);
        } else {
            o.iter_mut().enumerate().for_each(|(i, o)| *o = p.op.apply(a[ia + i * sa], b[ib + i * sb]));
        }
    });
}

#[inline(always)]
fn binary_in_place_body<L: Lanes>(p: &Binary, a: &mut [f32], b: &[f32]) {
    let os = p.out_strides();
    let sb = p.b_strides[5];
    walk3(&p.shape, [&os, &p.b_strides, &os], [0, 0, 0], |ia, ib, _, run| {
        let o = &mut a[ia..ia + run];
        if sb <= 1 {
            let rb = &b[ib..ib + if sb == 1 { run } else { 1 }];
            let mut i = 0;
            while i < run {
                let n = L::N.min(run - i);
                let vb = if sb == 0 { L::splat(rb[0]) } else { L::load_n(&rb[i..], n) };
                let va = L::load_n(&o[i..], n);
                L::store_n(&mut o[i..], n, L::op(p.op, va, vb));
                i += n;
            }
        } else {
            o.iter_mut().enumerate().for_each(|(i, o)| *o = p.op.apply(*o, b[ib + i * sb]));
        }
    });
}

#[inline(always)]
fn activation_in_place_body<L: Lanes>(act: Act, data: &mut [f32]) {
    let mut i = 0;
    while i < data.len() {
        let n = L::N.min(data.len() - i);
        let v = L::load_n(&data[i..], n);
        L::store_n(&mut data[i..], n, L::act(act, v));
        i += n;
    }
    if act == Act::Sigmoid && L::N > 1 {
        data.iter_mut().for_each(|v| *v = act.apply(*v));
    }
}

#[inline(always)]
fn activation_body<L: Lanes>(act: Act, input: &[f32], out: &mut [f32]) {
    out.copy_from_slice(input);
    activation_in_place_body::<L>(act, out);
}

#[cfg(kernel_simd)]
mod simd {
    use super::*;
    simd_entry!(binary_entry => binary_body(p: &Binary, a: &[f32], b: &[f32], out: &mut [f32]));
    simd_entry!(binary_in_place_entry => binary_in_place_body(p: &Binary, a: &mut [f32], b: &[f32]));
    simd_entry!(activation_in_place_entry => activation_in_place_body(act: Act, data: &mut [f32]));
    simd_entry!(activation_entry => activation_body(act: Act, input: &[f32], out: &mut [f32]));
}
#[cfg(kernel_simd)]
use simd::*;
