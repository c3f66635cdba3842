//! Softmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 on the
//! softmax runs along `axis` (default -1).

use crate::error::Result;
use crate::import::NodeCx;
use crate::ir::{NodeId, Op};

pub fn softmax(cx: &mut NodeCx) -> Result<NodeId> {
    let coerce_2d = cx.opset < 13;
    let axis = cx.attrs.int_or("axis", if coerce_2d { 1 } else { -1 })?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Softmax { axis, coerce_2d }, &[x]))
}
