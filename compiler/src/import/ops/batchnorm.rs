//! BatchNormalization (inference mode; every opset from 1 to 15).

use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::{NodeId, Op};

pub fn batch_normalization(cx: &mut NodeCx) -> Result<NodeId> {
    let epsilon = cx.attrs.float_or("epsilon", 1e-5)?;
    if cx.attrs.int_or("training_mode", 0)? != 0 {
        return Err(err!(unsupported, "training_mode=1 is not supported (inference only)"));
    }
    // Opsets < 9: `spatial=0` normalises per element rather than per channel.
    if cx.opset < 9 && cx.attrs.int_or("spatial", 1)? == 0 {
        return Err(err!(unsupported, "spatial=0 is not supported"));
    }
    let mut operands = Vec::with_capacity(5);
    for i in 0..5 {
        operands.push(cx.input(i)?);
    }
    Ok(cx.add(Op::BatchNorm { epsilon }, &operands))
}
