//! The IR verifier, run after every pass in tests and debug builds: the graph is acyclic, every
//! operand is defined and in its slot, inputs/outputs/groups point at live nodes, and (once the
//! graph is typed) every node's stored type is what the type rules give.

use std::collections::HashMap;

use petgraph::Direction;

use super::infer::infer;
use super::{Graph, GroupKind, NodeId, Op, Tensor};
use crate::error::{Error, Result};

/// Checks the structural invariants, and the types when `typed` is set.
pub fn verify(g: &Graph, typed: bool) -> Result<()> {
    let order = g.topo_order()?;
    for (i, input) in g.inputs.iter().enumerate() {
        if !g.contains(input.node) || g.op(input.node) != &(Op::Input { index: i }) {
            return Err(Error::internal(format!("graph input {i} ('{}') is not an Input node", input.name)));
        }
    }
    for o in g.outputs() {
        if !g.contains(o.node) {
            return Err(Error::internal(format!("graph output '{}' points at a removed node", o.name)));
        }
    }
    for n in g.dag.node_indices() {
        let mut slots: Vec<usize> = g.dag.edges_directed(n, Direction::Incoming).map(|e| *e.weight()).collect();
        slots.sort_unstable();
        let (lo, hi) = g.op(n).arity();
        let contiguous = slots.iter().enumerate().all(|(i, &s)| i == s);
        if !contiguous || slots.len() < lo || slots.len() > hi {
            return Err(Error::internal(format!(
                "{} has operand slots {slots:?}, expected 0..{lo} to 0..{hi}",
                g.op(n).name()
            ))
            .at_node(&g.context(n)));
        }
    }
    for group in &g.groups {
        verify_group(g, group.kind, &group.nodes)?;
    }
    if typed {
        verify_types(g, &order)?;
    }
    Ok(())
}

fn verify_group(g: &Graph, kind: GroupKind, nodes: &[NodeId]) -> Result<()> {
    let expected = match kind {
        GroupKind::DepthwisePointwise => 2,
        GroupKind::InvertedResidual => 3,
    };
    if nodes.len() != expected || nodes.iter().any(|&n| !g.contains(n) || g.op(n).as_conv().is_none()) {
        return Err(Error::internal(format!("fused group {kind:?} does not hold {expected} live convolutions")));
    }
    for pair in nodes.windows(2) {
        if g.operand(pair[1], 0) != Some(pair[0]) || !g.has_single_use(pair[0]) {
            return Err(Error::internal(format!("fused group {kind:?} is not a chain of single-use convolutions")));
        }
    }
    Ok(())
}

fn verify_types(g: &Graph, order: &[NodeId]) -> Result<()> {
    // Values of integer tensors computed along the way, so that a Reshape fed by a shape
    // computation that is not yet folded can still be checked.
    let mut known: HashMap<NodeId, Tensor> = HashMap::new();
    for &n in order {
        let node = g.node(n);
        let Some(ty) = &node.ty else {
            return Err(Error::internal(format!("value '{}' has no type", node.name)));
        };
        if matches!(node.op, Op::Input { .. }) {
            continue;
        }
        let operands = g.operands(n);
        let types: Vec<_> = operands.iter().map(|&o| g.ty(o)).collect::<Result<_>>()?;
        let values: Vec<Option<&Tensor>> = operands.iter().map(|o| g.constant(*o).or(known.get(o))).collect();
        let needs_value = matches!(node.op, Op::Reshape { .. });
        if needs_value && values.get(1).is_some_and(|v| v.is_none()) {
            continue;
        }
        let inferred = infer(&node.op, &types, &values).map_err(|e| e.at_node(&g.context(n)))?;
        if &inferred != ty {
            return Err(Error::internal(format!("stored type {ty} differs from the inferred {inferred}"))
                .at_node(&g.context(n)));
        }
        if let Some(v) = crate::interp::known_value(&node.op, &types, &values, ty) {
            known.insert(n, v);
        }
    }
    Ok(())
}
