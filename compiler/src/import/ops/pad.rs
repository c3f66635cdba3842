//! Pad, constant mode only (every opset).

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{NodeId, Op};

pub fn pad(cx: &mut NodeCx) -> Result<NodeId> {
    let mode = cx.attrs.string("mode")?.unwrap_or_else(|| "constant".into());
    if mode != "constant" {
        return Err(err!(unsupported, "Pad mode '{mode}' is not supported (only 'constant' is)"));
    }
    let (pads, value, axes) = if cx.opset < 2 {
        (cx.attrs.ints("paddings")?, cx.attrs.float("value")?, None)
    } else if cx.opset < 11 {
        (cx.attrs.ints("pads")?, cx.attrs.float("value")?, None)
    } else {
        let pads = cx.static_ints(1, "the pads")?;
        let value = cx.static_scalar(2, "the constant value")?;
        let axes = cx.static_ints(3, "the axes")?;
        (pads, value, axes)
    };
    let pads = pads.ok_or_else(|| err!(invalid, "Pad needs pads"))?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Pad { pads, axes, value: value.unwrap_or(0.0) }, &[x]))
}
