//! Relu, Clip, HardSigmoid, HardSwish, Sigmoid.

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{Activation, NodeId, Op};

fn unary(cx: &mut NodeCx, a: Activation) -> Result<NodeId> {
    let x = cx.input(0)?;
    Ok(cx.add(Op::Activation(a), &[x]))
}

pub fn relu(cx: &mut NodeCx) -> Result<NodeId> {
    unary(cx, Activation::Relu)
}

pub fn sigmoid(cx: &mut NodeCx) -> Result<NodeId> {
    unary(cx, Activation::Sigmoid)
}

pub fn hard_swish(cx: &mut NodeCx) -> Result<NodeId> {
    unary(cx, Activation::HardSwish)
}

pub fn hard_sigmoid(cx: &mut NodeCx) -> Result<NodeId> {
    let alpha = cx.attrs.float_or("alpha", 0.2)?;
    let beta = cx.attrs.float_or("beta", 0.5)?;
    unary(cx, Activation::HardSigmoid { alpha, beta })
}

/// Opset < 11: bounds are attributes. Opset >= 11: optional inputs 1 and 2, which must be
/// constants. A missing bound is the lowest or the largest finite float (ONNX's default, which
/// ONNX Runtime follows: Clip without a max turns +inf into 3.4e38).
pub fn clip(cx: &mut NodeCx) -> Result<NodeId> {
    let (min, max) = if cx.opset < 11 {
        (cx.attrs.float("min")?, cx.attrs.float("max")?)
    } else {
        (cx.static_scalar(1, "the min bound")?, cx.static_scalar(2, "the max bound")?)
    };
    let min = min.unwrap_or(f32::MIN);
    let max = max.unwrap_or(f32::MAX);
    // Clip-6 requires min <= max (ONNX Runtime refuses it); from opset 11 the result is max.
    if cx.opset < 11 && min > max {
        return Err(err!(invalid, "Clip's min {min} is greater than its max {max}"));
    }
    unary(cx, Activation::Clip { min, max })
}
