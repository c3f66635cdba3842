//! Conv (and the window attributes it shares with pooling).

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::import::attrs::Attrs;
use crate::ir::{AutoPad, Conv, NodeId, Op, Window};

/// Reads kernel_shape, strides, dilations, pads and auto_pad. A missing kernel_shape is left as
/// 0x0 for shape inference to take from the weight (Conv only).
pub fn window(attrs: &Attrs, kernel_required: bool) -> Result<Window> {
    let kernel = match attrs.ints("kernel_shape")? {
        Some(k) if k.len() == 2 && k.iter().all(|&v| v >= 1 && v <= i32::MAX as i64) => [k[0] as usize, k[1] as usize],
        Some(k) if k.len() != 2 => {
            return Err(err!(unsupported, "kernel_shape {k:?}: only 2-D windows are supported"));
        }
        Some(k) => return Err(err!(invalid, "kernel_shape {k:?} must be positive")),
        None if kernel_required => return Err(err!(invalid, "kernel_shape is required")),
        None => [0, 0],
    };
    let strides = attrs.usizes("strides", 2, 1)?;
    let dilations = attrs.usizes("dilations", 2, 1)?;
    let pads = attrs.usizes("pads", 4, 0)?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err(err!(invalid, "strides {strides:?} and dilations {dilations:?} must be at least 1"));
    }
    let auto_pad = match attrs.string("auto_pad")?.as_deref() {
        None | Some("NOTSET") | Some("") => AutoPad::NotSet,
        Some("SAME_UPPER") => AutoPad::SameUpper,
        Some("SAME_LOWER") => AutoPad::SameLower,
        Some("VALID") => AutoPad::Valid,
        Some(other) => {
            return Err(err!(invalid, "auto_pad '{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"));
        }
    };
    // ONNX Runtime refuses dilated SAME convolutions and pads dilated SAME pooling windows
    // differently from the ONNX definition: neither has an answer both would agree on.
    if dilations != [1, 1] && matches!(auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
        return Err(err!(
            unsupported,
            "dilations {dilations:?} with auto_pad {} are not supported",
            auto_pad.onnx_name()
        ));
    }
    Ok(Window {
        kernel,
        strides: [strides[0], strides[1]],
        dilations: [dilations[0], dilations[1]],
        pads: [pads[0], pads[1], pads[2], pads[3]],
        auto_pad,
    })
}

pub fn conv(cx: &mut NodeCx) -> Result<NodeId> {
    let window = window(&cx.attrs, false)?;
    let group = cx.attrs.int_or("group", 1)?;
    if group < 1 || group > i32::MAX as i64 {
        return Err(err!(invalid, "group {group} must be at least 1"));
    }
    let x = cx.input(0)?;
    let w = cx.input(1)?;
    let b = cx.optional_input(2)?;
    let mut operands = vec![x, w];
    operands.extend(b);
    let op = Conv { window, group: group as usize, has_bias: b.is_some(), has_residual: false, act: None };
    Ok(cx.add(Op::Conv(op), &operands))
}
