//! Marks the convolution chains that code generation may run as one unit without materialising
//! the tensors between them: expand 1x1 -> depthwise -> project 1x1 (the inverted-residual
//! block) and depthwise -> pointwise pairs. Each intermediate must be read by the next conv only.

use std::collections::HashSet;

use super::PassReport;
use crate::error::Result;
use crate::ir::{ConvKind, FusedGroup, Graph, GroupKind, NodeId};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("block_grouping");
    g.groups.clear();
    let mut taken: HashSet<NodeId> = HashSet::new();
    let order = g.topo_order()?;
    // The next conv in a chain: the single reader of `n`, if it is a conv of `kind` reading `n`
    // as its input.
    let next = |g: &Graph, n: NodeId, kind: ConvKind| -> Option<NodeId> {
        if !g.has_single_use(n) {
            return None;
        }
        let (user, slot) = g.users(n).into_iter().next()?;
        (slot == 0 && g.conv_kind(user) == Some(kind)).then_some(user)
    };
    for &n in &order {
        if taken.contains(&n) {
            continue;
        }
        match g.conv_kind(n) {
            Some(ConvKind::Pointwise) => {
                let Some(dw) = next(g, n, ConvKind::Depthwise) else { continue };
                let Some(project) = next(g, dw, ConvKind::Pointwise) else { continue };
                g.groups.push(FusedGroup { kind: GroupKind::InvertedResidual, nodes: vec![n, dw, project] });
                taken.extend([n, dw, project]);
                report.fused("inverted_residual_group");
            }
            Some(ConvKind::Depthwise) => {
                let Some(pw) = next(g, n, ConvKind::Pointwise) else { continue };
                g.groups.push(FusedGroup { kind: GroupKind::DepthwisePointwise, nodes: vec![n, pw] });
                taken.extend([n, pw]);
                report.fused("depthwise_pointwise_group");
            }
            _ => {}
        }
    }
    Ok(report)
}
