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

pub fn run(g: &mut Graph, options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("constant_folding");
    // All folded results together may hold MAX_FOLDED_ELEMENTS more values than the model's own
    // constants (and no more than Limits::max_total_weights): a chain of foldable nodes in a
    // small file cannot fill memory. What is left over stays computed at run time.
    let held: usize = g.dag.node_weights().filter_map(|n| g_constant_len(&n.op)).sum();
    let budget = (held + MAX_FOLDED_ELEMENTS).min(options.limits.max_total_weights.try_into().unwrap_or(usize::MAX));
    let mut spent = 0usize;
    let mut folded = 0;
    for n in g.topo_order()? {
        let op = g.op(n);
        // A DequantizeLinear of constant weights stays: `quant_fusion` turns the float ops it
        // feeds into integer ones, and folds what it leaves.
        if matches!(op, Op::Input { .. } | Op::Constant(_) | Op::Dequantize(_)) {
            continue;
        }
        let ty = g.ty(n)?.clone();
        if ty.elements() > MAX_FOLDED_ELEMENTS || spent + ty.elements() > budget {
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
            spent += t.len();
            g.node_mut(n).op = Op::Constant(t);
            g.set_operands(n, &[]);
            // Constants only this node read are gone now, not at the end of the pass (a chain
            // of folds would otherwise hold every intermediate result at once).
            for o in operands {
                if g.contains(o) && g.constant(o).is_some() && g.users(o).is_empty() && !g.is_output(o) {
                    g.remove(o);
                }
            }
            folded += 1;
        }
    }
    report.changed("folded", folded);
    report.changed("removed", g.remove_dead());
    Ok(report)
}

fn g_constant_len(op: &Op) -> Option<usize> {
    match op {
        Op::Constant(t) => Some(t.len()),
        _ => None,
    }
}
