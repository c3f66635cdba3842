//! Shape, Gather, Slice, Concat, Cast, Transpose: the shape arithmetic exporters leave in
//! graphs (torch's Shape/Gather/Unsqueeze/Concat chains, Paddle's Shape/Cast/Slice/Concat), plus
//! Transpose.

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::import::tensor::dtype_of;
use crate::ir::{NodeId, Op};

pub fn shape(cx: &mut NodeCx) -> Result<NodeId> {
    let start = cx.attrs.int_or("start", 0)?;
    let end = cx.attrs.int("end")?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Shape { start, end }, &[x]))
}

pub fn gather(cx: &mut NodeCx) -> Result<NodeId> {
    let axis = cx.attrs.int_or("axis", 0)?;
    let data = cx.input(0)?;
    let indices = cx.input(1)?;
    Ok(cx.add(Op::Gather { axis }, &[data, indices]))
}

/// Opset < 10: starts/ends/axes attributes. Opset >= 10: constant inputs, with optional axes and
/// steps.
pub fn slice(cx: &mut NodeCx) -> Result<NodeId> {
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        (cx.attrs.ints("starts")?, cx.attrs.ints("ends")?, cx.attrs.ints("axes")?, None)
    } else {
        (
            cx.static_ints(1, "the starts")?,
            cx.static_ints(2, "the ends")?,
            cx.static_ints(3, "the axes")?,
            cx.static_ints(4, "the steps")?,
        )
    };
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return Err(err!(invalid, "Slice needs starts and ends"));
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(err!(invalid, "Slice starts, ends, axes and steps have different lengths"));
    }
    let x = cx.input(0)?;
    Ok(cx.add(Op::Slice { starts, ends, axes, steps }, &[x]))
}

pub fn concat(cx: &mut NodeCx) -> Result<NodeId> {
    let axis = cx.attrs.int("axis")?.ok_or_else(|| err!(invalid, "Concat needs an axis"))?;
    let mut operands = Vec::new();
    for i in 0..cx.input_count() {
        operands.extend(cx.optional_input(i)?);
    }
    if operands.is_empty() {
        return Err(err!(invalid, "Concat has no inputs"));
    }
    Ok(cx.add(Op::Concat { axis }, &operands))
}

pub fn cast(cx: &mut NodeCx) -> Result<NodeId> {
    let to = cx.attrs.int("to")?.ok_or_else(|| err!(invalid, "Cast needs a 'to' type"))?;
    let to = dtype_of(i32::try_from(to).unwrap_or(-1))?;
    if to == crate::ir::DType::F64 {
        return Err(err!(unsupported, "Cast to double is not supported (no computation is done in double)"));
    }
    let x = cx.input(0)?;
    Ok(cx.add(Op::Cast { to }, &[x]))
}

/// A missing perm reverses the axes; it is filled in once the rank is known.
pub fn transpose(cx: &mut NodeCx) -> Result<NodeId> {
    let perm = cx.attrs.ints("perm")?.unwrap_or_default();
    if perm.iter().any(|&p| !(0..=64).contains(&p)) {
        return Err(err!(invalid, "perm {perm:?} is not a permutation"));
    }
    let x = cx.input(0)?;
    Ok(cx.add(Op::Transpose { perm: perm.iter().map(|&p| p as usize).collect() }, &[x]))
}
