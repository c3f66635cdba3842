//! Elementwise kernels: binary ops with broadcasting (by strides, 0 along broadcast axes) and
//! standalone activations. The output is contiguous in the walk order of `shape`.

use crate::act::Act;
use crate::cpu::Cpu;
use crate::layout::{MAX_RANK, extent, walk3};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

impl BinOp {
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Max => a.max(b),
            BinOp::Min => a.min(b),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binary {
    pub op: BinOp,
    pub shape: [usize; MAX_RANK],
    pub a_strides: [usize; MAX_RANK],
    pub b_strides: [usize; MAX_RANK],
}

impl Binary {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
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
pub fn binary(cpu: Cpu, p: &Binary, a: &[f32], b: &[f32], out: &mut [f32]) {
    let _ = cpu; // The inner runs are unit-stride or broadcast; LLVM vectorises them.
    assert!(extent(&p.shape, &p.a_strides, 0) <= a.len(), "binary: a out of bounds");
    assert!(extent(&p.shape, &p.b_strides, 0) <= b.len(), "binary: b out of bounds");
    assert_eq!(out.len(), p.len(), "binary: out");
    let os = p.out_strides();
    let (sa, sb) = (p.a_strides[5], p.b_strides[5]);
    walk3(&p.shape, [&p.a_strides, &p.b_strides, &os], [0, 0, 0], |ia, ib, io, run| {
        let o = &mut out[io..io + run];
        match (sa, sb) {
            (1, 1) => {
                o.iter_mut().zip(&a[ia..ia + run]).zip(&b[ib..ib + run]).for_each(|((o, &x), &y)| *o = p.op.apply(x, y))
            }
            (1, 0) => o.iter_mut().zip(&a[ia..ia + run]).for_each(|(o, &x)| *o = p.op.apply(x, b[ib])),
            (0, 1) => o.iter_mut().zip(&b[ib..ib + run]).for_each(|(o, &y)| *o = p.op.apply(a[ia], y)),
            _ => o.iter_mut().enumerate().for_each(|(i, o)| *o = p.op.apply(a[ia + i * sa], b[ib + i * sb])),
        }
    });
}

/// `a = a op b`, where `a` is laid out like the output (contiguous in walk order).
pub fn binary_in_place(cpu: Cpu, p: &Binary, a: &mut [f32], b: &[f32]) {
    let _ = cpu;
    assert_eq!(p.a_strides, p.out_strides(), "binary_in_place: a must be contiguous");
    assert_eq!(a.len(), p.len(), "binary_in_place: a");
    assert!(extent(&p.shape, &p.b_strides, 0) <= b.len(), "binary_in_place: b out of bounds");
    let os = p.out_strides();
    let sb = p.b_strides[5];
    walk3(&p.shape, [&os, &p.b_strides, &os], [0, 0, 0], |ia, ib, _, run| {
        let o = &mut a[ia..ia + run];
        match sb {
            1 => o.iter_mut().zip(&b[ib..ib + run]).for_each(|(o, &y)| *o = p.op.apply(*o, y)),
            0 => o.iter_mut().for_each(|o| *o = p.op.apply(*o, b[ib])),
            _ => o.iter_mut().enumerate().for_each(|(i, o)| *o = p.op.apply(*o, b[ib + i * sb])),
        }
    });
}

/// `data = act(data)`.
pub fn activation_in_place(cpu: Cpu, act: Act, data: &mut [f32]) {
    let _ = cpu;
    for v in data.iter_mut() {
        *v = act.apply(*v);
    }
}

/// `out = act(input)`.
pub fn activation(cpu: Cpu, act: Act, input: &[f32], out: &mut [f32]) {
    let _ = cpu;
    assert_eq!(input.len(), out.len(), "activation: lengths");
    for (o, &v) in out.iter_mut().zip(input) {
        *o = act.apply(v);
    }
}
