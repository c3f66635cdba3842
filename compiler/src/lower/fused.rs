//! Fused groups: expand 1x1 -> depthwise -> project 1x1 (and depthwise -> pointwise) as one
//! kernel call that streams rows, so the tensors between the convolutions never reach the arena.

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, act_of, nhwc, pack, window_of};
use crate::error::{Result, err};
use crate::ir::{ConvKind, Graph, GroupKind, NodeId};

/// Output rows per fused step: enough pixels for the project GEMM's tiles (64), few enough to
/// keep the ring and tile of expanded rows near 256 KB (half of a 1 MB L2).
fn tile_rows(out_h: usize, out_w: usize, in_w: usize, hidden: usize, kernel_h: usize, stride_h: usize) -> usize {
    let mut t = 64usize.div_ceil(out_w.max(1)).clamp(1, out_h.max(1));
    let bytes = |t: usize| 4 * ((t - 1) * stride_h + kernel_h) * (in_w * hidden + out_w * hidden);
    while t > 1 && bytes(t) > 256 << 10 {
        t -= 1;
    }
    t
}

/// The largest ring a block keeps whole (where one output row is a tile and the expand GEMM
/// fills the ring); a larger one is cut into strips of columns. Strips cost a little time (the
/// expand runs one row at a time, on narrower rows): MobileNetV2's second block (a 129 KB ring)
/// in 2 strips takes 1-6% longer than whole (`mobilenetc profile`, interleaved runs, 3 and 4
/// strips more), but its arena goes from 1.25 to 1.18 MB.
const STRIP_RING_BYTES: usize = 96 << 10;

/// Output columns per strip: all of them, or with one row per tile, few enough that the ring
/// of one strip fits `STRIP_RING_BYTES`.
fn strip_w(p: &k::fused::InvertedResidual) -> usize {
    let ring = 4 * p.ring_rows() * p.in_w * p.hidden;
    if p.tile_rows != 1 || !p.expand || ring <= STRIP_RING_BYTES {
        return p.out_w;
    }
    p.out_w.div_ceil(ring.div_ceil(STRIP_RING_BYTES).min(p.out_w))
}

/// The groups whose convolutions the fused kernel can run: pointwise expand and project
/// without a residual except on the project, a depthwise conv with one filter per channel.
/// A depthwise -> pointwise pair whose input only a general conv without residual computes
/// (a model's first conv: MobileNetV2's first block, MobileNetV1's first pair) takes that conv
/// in front: its output then streams into the block by rows. Compiled for several threads,
/// pairs with small tensors are left out (`worth_streaming`).
pub(super) fn fusable_groups(g: &Graph, max_threads: usize) -> Vec<Vec<NodeId>> {
    let mut groups = blocks(g);
    groups.retain(|grp| worth_streaming(g, grp, max_threads));
    let grouped: std::collections::HashSet<NodeId> = groups.iter().flatten().copied().collect();
    for grp in &mut groups {
        if g.conv_kind(grp[0]) != Some(ConvKind::Depthwise) {
            continue;
        }
        let Some(stem) = g.operand(grp[0], 0) else { continue };
        let streamable = g.op(stem).as_conv().is_some_and(|c| !c.has_residual)
            && matches!(g.conv_kind(stem), Some(ConvKind::Regular))
            && g.has_single_use(stem)
            && !grouped.contains(&stem);
        if streamable {
            grp.insert(0, stem);
        }
    }
    groups
}

/// Compiled for more than one thread, a depthwise -> pointwise pair whose depthwise output
/// (per image) fits this runs layer by layer. The fused kernel splits output rows between the
/// threads, and a pair of 7 or 14 rows splits into short runs of rows, each thread reading all
/// of the pointwise weights for a few rows; layer by layer, each layer splits on its own.
/// MobileNetV1 0.5 (its 14x14 and 7x7 pairs): 0.90x at 2 threads, 0.99x at 1 (`bench/ab.py`),
/// so one thread keeps the fused pairs and their smaller arena. Blocks with an expand conv
/// stay fused: MobileNetV2's 7x7 blocks were no faster unfused at 1 thread, 2-5% slower at 2.
const PAIR_STREAM_MIN_BYTES: usize = 256 << 10;

/// Whether a group streams rows (see `PAIR_STREAM_MIN_BYTES`).
fn worth_streaming(g: &Graph, grp: &[NodeId], max_threads: usize) -> bool {
    if grp.len() != 2 || max_threads == 1 {
        return true;
    }
    let per_image = |n: NodeId| g.shape(n).map_or(usize::MAX, |s| 4 * s.iter().skip(1).product::<usize>());
    per_image(grp[0]) > PAIR_STREAM_MIN_BYTES
}

fn blocks(g: &Graph) -> Vec<Vec<NodeId>> {
    g.groups
        .iter()
        .filter(|grp| {
            let convs: Vec<_> = grp.nodes.iter().filter_map(|&n| g.op(n).as_conv()).collect();
            let last = grp.nodes.len() - 1;
            let only_last_has_residual = convs.iter().enumerate().all(|(i, c)| !c.has_residual || i == last);
            let kinds_ok = match grp.kind {
                GroupKind::InvertedResidual => {
                    g.conv_kind(grp.nodes[0]) == Some(ConvKind::Pointwise)
                        && g.conv_kind(grp.nodes[1]) == Some(ConvKind::Depthwise)
                }
                GroupKind::DepthwisePointwise => g.conv_kind(grp.nodes[0]) == Some(ConvKind::Depthwise),
            };
            let dw = grp.nodes[if grp.kind == GroupKind::InvertedResidual { 1 } else { 0 }];
            let dw_kernel_ok = g.op(dw).as_conv().is_some_and(|c| c.window.kernel[0] <= 16);
            convs.len() == grp.nodes.len() && only_last_has_residual && kinds_ok && dw_kernel_ok
        })
        .map(|grp| grp.nodes.clone())
        .collect()
}

impl Lowering<'_> {
    pub(super) fn fused(&mut self, nodes: &[NodeId]) -> Result<Value> {
        let first = nodes[0];
        let (expand, stem) = match self.g.conv_kind(first) {
            Some(ConvKind::Pointwise) => (true, false),
            Some(ConvKind::Depthwise) => (false, false),
            _ => (false, true),
        };
        let (dw, project) = if nodes.len() == 3 { (nodes[1], nodes[2]) } else { (nodes[0], nodes[1]) };
        let x = self.operand(first, 0)?;
        let (x, input_nchw) =
            if stem { self.direct_input(&conv_of(self.g, first)?, x)? } else { (self.nhwc_of(x)?, false) };
        // The depthwise input: the block's input, or what the stem computes from it.
        let dw_in = if stem { self.shape(first)? } else { x.shape.clone() };
        let [batch, in_c, in_h, in_w] = dw_in[..] else { return Err(err!(internal, "block input is not 4-D")) };
        let dw_shape = self.shape(dw)?;
        let out_shape = self.shape(project)?;
        let (hidden, out_h, out_w, out_c) = (dw_shape[1], dw_shape[2], dw_shape[3], out_shape[1]);
        let conv = |n: NodeId| conv_of(self.g, n);
        let (dwc, projc) = (conv(dw)?, conv(project)?);

        // Weights, packed for each part (the expand ones stay empty without expansion).
        let weights_of = |l: &Self, n: NodeId| -> Result<(Vec<f32>, Vec<f32>)> {
            let c = l.g.op(n).as_conv().ok_or_else(|| err!(internal, "not a conv"))?;
            let w = l.constant_operand(n, 1, "convolution weight")?.as_f32().unwrap_or_default().to_vec();
            let m = l.shape(n)?[1];
            let b = match c.bias_slot() {
                Some(s) => l.constant_operand(n, s, "convolution bias")?.as_f32().unwrap_or_default().to_vec(),
                None => vec![0.0; m],
            };
            Ok((w, b))
        };
        let mut regions = Vec::new();
        let mut stem_conv = None;
        let expand_act = if expand {
            let (w, b) = weights_of(self, first)?;
            regions.push(self.add_weights(&pack::pointwise(&w, hidden, in_c))?);
            regions.push(self.add_weights(&pack::gemm_bias(&b))?);
            act_of(conv(first)?.act)
        } else if stem {
            let (w, b) = weights_of(self, first)?;
            let (p, packed) = super::conv::direct_conv(&conv(first)?, &x, &dw_in, input_nchw, &w)?;
            stem_conv = Some(p);
            regions.push(self.add_weights(&packed)?);
            regions.push(self.add_weights(&b)?);
            k::Act::None
        } else {
            regions.push(self.add_weights(&[])?);
            regions.push(self.add_weights(&[])?);
            k::Act::None
        };
        let [kh, kw] = dwc.window.kernel;
        let (w, b) = weights_of(self, dw)?;
        regions.push(self.add_weights(&pack::depthwise(&w, hidden, kh, kw))?);
        regions.push(self.add_weights(&b)?);
        let (w, b) = weights_of(self, project)?;
        regions.push(self.add_weights(&pack::pointwise(&w, out_c, hidden))?);
        regions.push(self.add_weights(&pack::gemm_bias(&b))?);

        let win = &dwc.window;
        let p = k::fused::InvertedResidual {
            batch,
            in_h,
            in_w,
            in_c,
            hidden,
            expand,
            expand_act,
            stem: stem_conv,
            out_h,
            out_w,
            win: window_of(win),
            dw_act: act_of(dwc.act),
            out_c,
            project_act: act_of(projc.act),
            tile_rows: tile_rows(out_h, out_w, in_w, hidden, kh, win.strides[0]),
            strip_w: out_w,
        };
        let p = k::fused::InvertedResidual { strip_w: strip_w(&p), ..p };
        let residual = match projc.residual_slot() {
            Some(s) => {
                let r = self.operand(project, s)?;
                Some(self.nhwc_of(r)?)
            }
            None => None,
        };
        let mut reads = vec![x.region];
        reads.extend(regions);
        reads.extend(residual.as_ref().map(|r| r.region));
        let out = self.new_buffer(out_shape.iter().product());
        let scratch = self.new_buffer(p.scratch_for(self.max_threads));
        self.push(Kernel::Fused { p, residual: residual.is_some() }, reads, out);
        if let Some(step) = self.steps.last_mut() {
            step.scratch = Some(scratch);
        }
        Ok(Value { region: out, strides: nhwc(&out_shape), shape: out_shape, bytes: false })
    }
}

fn conv_of(g: &Graph, n: NodeId) -> Result<crate::ir::Conv> {
    g.op(n).as_conv().cloned().ok_or_else(|| err!(internal, "a fused group holds a non-conv"))
}
