//! Shape inference: gives every node its static type, resolves what depends on input sizes
//! (auto_pad, kernel sizes taken from weights, default perms), and checks each type against the
//! limits. Values of small integer computations are tracked along the way so that Reshape
//! targets computed from Shape are known.

use std::collections::HashMap;

use super::PassReport;
use crate::error::{Result, err};
use crate::interp::known_value;
use crate::ir::infer::{infer, resolve};
use crate::ir::{Graph, NodeId, Op, Tensor, TensorType};
use crate::options::{Limits, Options};

/// Most elements of computed values shape inference keeps.
const MAX_KNOWN_ELEMENTS: usize = 1 << 20;

/// Gives every node its static type, resolving symbolic dimensions from `options`.
pub fn run(g: &mut Graph, options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("shape_inference");
    let mut known: HashMap<NodeId, Tensor> = HashMap::new();
    let mut typed = 0;
    let mut known_elements = 0usize;
    for n in g.topo_order()? {
        if matches!(g.op(n), Op::Input { .. }) {
            continue;
        }
        let operands = g.operands(n);
        let types: Vec<TensorType> = operands.iter().map(|&o| g.ty(o).cloned()).collect::<Result<_>>()?;
        let type_refs: Vec<&TensorType> = types.iter().collect();
        let ctx = g.context(n);
        resolve(&mut g.node_mut(n).op, &type_refs);
        let values: Vec<Option<&Tensor>> = operands.iter().map(|o| g.constant(*o).or(known.get(o))).collect();
        let op = &g.op(n);
        let ty = infer(op, &type_refs, &values).map_err(|e| e.at_node(&ctx))?;
        check_limits(&ty, &options.limits).map_err(|e| e.at_node(&ctx))?;
        // Values are tracked for small integer computations only, and for at most
        // MAX_KNOWN_ELEMENTS elements in all (what a graph of shape arithmetic needs).
        let value = if op.is_constant() || known_elements > MAX_KNOWN_ELEMENTS {
            None
        } else {
            known_value(op, &type_refs, &values, &ty)
        };
        if let Some(v) = value {
            known_elements += v.len();
            known.insert(n, v);
        }
        if g.node(n).ty.as_ref() != Some(&ty) {
            typed += 1;
        }
        g.node_mut(n).ty = Some(ty);
    }
    report.changed("typed", typed);
    Ok(report)
}

fn check_limits(ty: &TensorType, limits: &Limits) -> Result<()> {
    if ty.rank() > limits.max_rank {
        return Err(err!(
            limit,
            "the result has rank {}, more than the limit of {} (Limits::max_rank)",
            ty.rank(),
            limits.max_rank
        ));
    }
    let mut count: u64 = 1;
    for &d in &ty.shape {
        if d as u64 > limits.max_dim {
            return Err(err!(
                limit,
                "the result {:?} has a dimension above the limit of {} (Limits::max_dim)",
                ty.shape,
                limits.max_dim
            ));
        }
        count = count.saturating_mul(d as u64);
    }
    if count > limits.max_tensor_elements {
        return Err(err!(
            limit,
            "the result {:?} has {count} elements, more than the limit of {} (Limits::max_tensor_elements)",
            ty.shape,
            limits.max_tensor_elements
        ));
    }
    Ok(())
}
