//! Reshape, Flatten, Squeeze, Unsqueeze: the ops that change a shape but not the data.

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{NodeId, Op, Tensor};

/// Opset >= 5: the shape is input 1 (possibly computed, folded later). Opset < 5: attribute.
pub fn reshape(cx: &mut NodeCx) -> Result<NodeId> {
    let allow_zero = cx.attrs.int_or("allowzero", 0)? != 0;
    let x = cx.input(0)?;
    let shape = if cx.opset < 5 {
        let dims = cx.attrs.ints("shape")?.ok_or_else(|| err!(invalid, "the shape attribute is required"))?;
        cx.add_constant(Tensor::i64_vec(dims))
    } else {
        cx.input(1)?
    };
    Ok(cx.add(Op::Reshape { allow_zero }, &[x, shape]))
}

pub fn flatten(cx: &mut NodeCx) -> Result<NodeId> {
    let axis = cx.attrs.int_or("axis", 1)?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Flatten { axis }, &[x]))
}

/// Opset < 13: axes attribute; opset >= 13: optional axes input.
pub fn squeeze(cx: &mut NodeCx) -> Result<NodeId> {
    let axes = if cx.opset < 13 { cx.attrs.ints("axes")? } else { cx.static_ints(1, "the axes")? };
    let x = cx.input(0)?;
    Ok(cx.add(Op::Squeeze { axes }, &[x]))
}

/// Opset < 13: axes attribute; opset >= 13: axes input. Required either way.
pub fn unsqueeze(cx: &mut NodeCx) -> Result<NodeId> {
    let axes = if cx.opset < 13 { cx.attrs.ints("axes")? } else { cx.static_ints(1, "the axes")? };
    let axes = axes.ok_or_else(|| err!(invalid, "Unsqueeze needs axes"))?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Unsqueeze { axes }, &[x]))
}
