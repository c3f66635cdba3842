//! Constant folding: a node whose operands are all constants becomes a constant, and so does
//! Shape of a statically shaped tensor. This collapses the Shape/Gather/Unsqueeze/Concat/Reshape
//! chains torch and Paddle export into plain constants.

use super::PassReport;
use crate::error::Result;
use crate::interp::{eval, known_value};
use crate::ir::{Graph, Op, Tensor};
use crate::options::Options;

/// Results larger than this stay computed at run time rather than stored in the weight blob.
const MAX_FOLDED_ELEMENTS: usize = 1 << 22;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("constant_folding");
    let mut folded = 0;
    for n in g.topo_order()? {
        let op = g.op(n);
        if matches!(op, Op::Input { .. } | Op::Constant(_)) {
            continue;
        }
        let ty = g.ty(n)?.clone();
        if ty.elements() > MAX_FOLDED_ELEMENTS {
            continue;
        }
        let operands = g.operands(n);
        let value: Option<Tensor> = if let Op::Shape { .. } = op {
            let t = g.ty(operands[0])?;
            known_value(op, &[t], &[None], &ty)
        } else if operands.iter().all(|&o| g.constant(o).is_some()) {
            let args: Vec<&Tensor> = operands.iter().filter_map(|&o| g.constant(o)).collect();
            Some(eval(op, &args, &ty).map_err(|e| e.at_node(&g.context(n)))?)
        } else {
            None
        };
        if let Some(t) = value {
            g.node_mut(n).op = Op::Constant(t);
            g.set_operands(n, &[]);
            folded += 1;
        }
    }
    report.changed("folded", folded);
    report.changed("removed", g.remove_dead());
    Ok(report)
}
