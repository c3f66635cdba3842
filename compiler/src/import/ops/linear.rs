//! Gemm and MatMul.

use crate::error::Result;
use crate::import::NodeCx;
use crate::ir::{Gemm, NodeId, Op};

pub fn gemm(cx: &mut NodeCx) -> Result<NodeId> {
    let alpha = cx.attrs.float_or("alpha", 1.0)?;
    let beta = cx.attrs.float_or("beta", 1.0)?;
    let trans_a = cx.attrs.int_or("transA", 0)? != 0;
    let trans_b = cx.attrs.int_or("transB", 0)? != 0;
    let a = cx.input(0)?;
    let b = cx.input(1)?;
    let c = cx.optional_input(2)?;
    let mut operands = vec![a, b];
    operands.extend(c);
    let op = Gemm { alpha, beta, trans_a, trans_b, has_c: c.is_some(), act: None };
    Ok(cx.add(Op::Gemm(op), &operands))
}

pub fn matmul(cx: &mut NodeCx) -> Result<NodeId> {
    let a = cx.input(0)?;
    let b = cx.input(1)?;
    Ok(cx.add(Op::MatMul, &[a, b]))
}
