//! Identity, inference-mode Dropout, Casts to the same type and Views that keep the shape pass
//! their operand through: users read the operand directly.

use super::{PassReport, bypass};
use crate::error::Result;
use crate::ir::{Graph, Op};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("identity_removal");
    for n in g.topo_order()? {
        let Some(src) = g.operand(n, 0) else { continue };
        let same_type = g.ty(n)? == g.ty(src)?;
        let kind = match g.op(n) {
            Op::Identity { dropout: false } => "identity",
            Op::Identity { dropout: true } => "dropout",
            Op::Cast { .. } if same_type => "cast",
            Op::View { .. } if same_type => "view",
            _ => continue,
        };
        // The producer keeps its own name; the removed node's name survives as a graph
        // output name where it was one.
        bypass(g, n, src);
        report.changed(kind, 1);
    }
    Ok(report)
}
