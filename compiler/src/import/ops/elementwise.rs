//! Add, Sub, Mul, Div, Max, Min (numpy broadcasting).

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{BinaryOp, NodeId, Op};

fn binary(cx: &mut NodeCx, op: BinaryOp) -> Result<NodeId> {
    // Opsets < 7 broadcast along an explicit `axis`, which numpy rules cannot express.
    if cx.opset < 7 && cx.attrs.has("axis") {
        return Err(err!(unsupported, "legacy broadcasting with an 'axis' attribute (opset < 7) is not supported"));
    }
    if cx.input_count() != 2 {
        return Err(err!(invalid, "{} takes 2 inputs, got {}", op.name(), cx.input_count()));
    }
    let a = cx.input(0)?;
    let b = cx.input(1)?;
    Ok(cx.add(Op::Binary(op), &[a, b]))
}

/// Max and Min are variadic: one input is a copy, more than two fold left to right (each
/// step broadcasts, as the whole does).
fn variadic(cx: &mut NodeCx, op: BinaryOp) -> Result<NodeId> {
    match cx.input_count() {
        0 => Err(err!(invalid, "{} needs at least one input", op.name())),
        1 => {
            let x = cx.input(0)?;
            Ok(cx.add(Op::Identity { dropout: false }, &[x]))
        }
        2 => binary(cx, op),
        n => {
            let mut acc = cx.input(0)?;
            for i in 1..n - 1 {
                let x = cx.input(i)?;
                acc = cx.add_part(Op::Binary(op), &[acc, x], i);
            }
            let last = cx.input(n - 1)?;
            Ok(cx.add(Op::Binary(op), &[acc, last]))
        }
    }
}

pub fn add(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, BinaryOp::Add)
}
pub fn sub(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, BinaryOp::Sub)
}
pub fn mul(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, BinaryOp::Mul)
}
pub fn div(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, BinaryOp::Div)
}
pub fn max(cx: &mut NodeCx) -> Result<NodeId> {
    variadic(cx, BinaryOp::Max)
}
pub fn min(cx: &mut NodeCx) -> Result<NodeId> {
    variadic(cx, BinaryOp::Min)
}
