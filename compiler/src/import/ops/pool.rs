//! GlobalAveragePool, AveragePool, MaxPool, ReduceMean.

use super::conv::window;
use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{NodeId, Op, Pool, PoolKind};

pub fn global_average_pool(cx: &mut NodeCx) -> Result<NodeId> {
    let x = cx.input(0)?;
    Ok(cx.add(Op::GlobalAveragePool, &[x]))
}

fn pool(cx: &mut NodeCx, kind: PoolKind) -> Result<NodeId> {
    let window = window(&cx.attrs, true)?;
    if kind == PoolKind::Average && window.dilations != [1, 1] {
        return Err(err!(unsupported, "AveragePool with dilations is not supported"));
    }
    if cx.attrs.int_or("storage_order", 0)? != 0 {
        return Err(err!(unsupported, "storage_order=1 is not supported"));
    }
    let ceil_mode = cx.attrs.int_or("ceil_mode", 0)? != 0;
    let count_include_pad = cx.attrs.int_or("count_include_pad", 0)? != 0;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Pool(Pool { kind, window, ceil_mode, count_include_pad }), &[x]))
}

pub fn average_pool(cx: &mut NodeCx) -> Result<NodeId> {
    pool(cx, PoolKind::Average)
}

pub fn max_pool(cx: &mut NodeCx) -> Result<NodeId> {
    pool(cx, PoolKind::Max)
}

/// Opset < 18: axes attribute. Opset >= 18: optional axes input, and `noop_with_empty_axes`.
pub fn reduce_mean(cx: &mut NodeCx) -> Result<NodeId> {
    let keepdims = cx.attrs.int_or("keepdims", 1)? != 0;
    let axes = if cx.opset < 18 { cx.attrs.ints("axes")? } else { cx.static_ints(1, "the axes")? };
    let axes = axes.unwrap_or_default();
    let x = cx.input(0)?;
    if axes.is_empty() && cx.attrs.int_or("noop_with_empty_axes", 0)? != 0 {
        return Ok(cx.add(Op::Identity { dropout: false }, &[x]));
    }
    Ok(cx.add(Op::ReduceMean { axes, keepdims }, &[x]))
}
