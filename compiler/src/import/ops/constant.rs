//! Constant, Identity and (inference-mode) Dropout.

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{DType, NodeId, Op, Tensor};

pub fn constant(cx: &mut NodeCx) -> Result<NodeId> {
    let tensor = if let Some(t) = cx.attrs.tensor("value")? {
        cx.convert_tensor(t)?
    } else if let Some(v) = cx.attrs.float("value_float")? {
        Tensor::scalar_f32(v)
    } else if let Some(v) = cx.attrs.floats("value_floats")? {
        Tensor::f32(vec![v.len()], v)
    } else if let Some(v) = cx.attrs.int("value_int")? {
        Tensor::int(DType::I64, vec![], vec![v])
    } else if let Some(v) = cx.attrs.ints("value_ints")? {
        Tensor::i64_vec(v)
    } else {
        return Err(err!(unsupported, "only value, value_float(s) and value_int(s) constants are supported"));
    };
    Ok(cx.add_constant(tensor))
}

pub fn identity(cx: &mut NodeCx) -> Result<NodeId> {
    let x = cx.input(0)?;
    Ok(cx.add(Op::Identity { dropout: false }, &[x]))
}

/// Inference-mode Dropout passes its input through. Opset >= 12 may ask for training mode
/// through input 2, which is refused when it is a constant true.
pub fn dropout(cx: &mut NodeCx) -> Result<NodeId> {
    if cx.opset >= 12
        && let Some(t) = cx.static_input(2, "training_mode").ok().flatten()
        && t.scalar_value().is_some_and(|v| v != 0.0)
    {
        return Err(err!(unsupported, "Dropout in training mode is not supported"));
    }
    let x = cx.input(0)?;
    Ok(cx.add(Op::Identity { dropout: true }, &[x]))
}
