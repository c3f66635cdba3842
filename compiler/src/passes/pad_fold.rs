//! A zero Pad of the spatial axes before a Conv becomes the Conv's own padding (tf2onnx writes
//! stride-2 "SAME" convolutions as Pad + VALID Conv).

use super::{PassReport, bypass};
use crate::error::Result;
use crate::ir::{Graph, Op};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("pad_fold");
    for n in g.topo_order()? {
        let Op::Conv(_) = g.op(n) else { continue };
        let Some(p) = g.operand(n, 0) else { continue };
        let Op::Pad { pads, value, axes: None } = g.op(p) else { continue };
        // [N, C, H, W]: begins at 0..4, ends at 4..8; only H and W may be padded.
        let zero_outside_hw = pads.len() == 8 && pads[0] == 0 && pads[1] == 0 && pads[4] == 0 && pads[5] == 0;
        if *value != 0.0 || !zero_outside_hw || pads.iter().any(|&v| v < 0) || !g.has_single_use(p) {
            continue;
        }
        let extra = [pads[2] as usize, pads[3] as usize, pads[6] as usize, pads[7] as usize];
        let Some(x) = g.operand(p, 0) else { continue };
        if let Op::Conv(c) = &mut g.node_mut(n).op {
            for (pad, e) in c.window.pads.iter_mut().zip(extra) {
                *pad += e;
            }
        }
        // The Pad's name goes with the Conv that absorbed it, not with the Pad's input.
        let origin = std::mem::take(&mut g.node_mut(p).origin);
        g.node_mut(n).origin.splice(0..0, origin);
        bypass(g, p, x);
        report.fused("pad->conv");
    }
    Ok(report)
}
