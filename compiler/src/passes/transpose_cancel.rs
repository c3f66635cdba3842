//! Transpose chains: two transposes in a row become one, or nothing when they cancel (the
//! NHWC<->NCHW pairs tf2onnx leaves around layout-sensitive ops). A lone Transpose right after
//! an NHWC graph input stays: code generation lays activations out channels-last, so for it that
//! Transpose costs nothing.

use super::{PassReport, bypass};
use crate::error::Result;
use crate::ir::{Graph, Op};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("transpose_cancel");
    for n in g.topo_order()? {
        let Op::Transpose { perm: outer } = g.op(n) else { continue };
        let Some(src) = g.operand(n, 0) else { continue };
        let Op::Transpose { perm: inner } = g.op(src) else { continue };
        // y[i] = x'[outer[i]] = x[inner[outer[i]]]
        let composed: Vec<usize> = outer.iter().map(|&o| inner[o]).collect();
        let Some(x) = g.operand(src, 0) else { continue };
        if composed.iter().enumerate().all(|(i, &p)| i == p) {
            bypass(g, n, x);
            report.changed("cancelled", 1);
        } else {
            g.node_mut(n).op = Op::Transpose { perm: composed };
            g.set_operands(n, &[x]);
            report.changed("merged", 1);
        }
    }
    report.changed("removed", g.remove_dead());
    Ok(report)
}
