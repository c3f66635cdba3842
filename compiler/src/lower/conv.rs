//! Conv: pointwise (GEMM over NHWC pixels), depthwise, or the general direct kernel, with
//! weights packed for the chosen kernel and the epilogue (bias, residual, activation) fused.

use mobilenet_kernels as k;

use std::collections::HashMap;

use super::{Kernel, Lowering, Value, act_of, nhwc, pack, window_of};
use crate::error::{Result, err};
use crate::ir::{BinaryOp, Conv, ConvKind, Graph, NodeId, Op};

/// Squeeze-and-excitation gates to fold into the pointwise conv after them: Mul nodes whose
/// one use is operand 0 of a pointwise conv (outside fused groups), multiplying `[B, C, H, W]`
/// by a per-image gate `[B, C, 1, 1]`, where the conv has fewer output channels than an image
/// has pixels (scaling its weights per image then costs less than scaling the input). Maps each
/// Mul to its conv.
pub(super) fn gated_pointwise(g: &Graph, fused: &HashMap<NodeId, usize>) -> Result<HashMap<NodeId, NodeId>> {
    let mut found = HashMap::new();
    for m in g.topo_order()? {
        if !matches!(g.op(m), Op::Binary(BinaryOp::Mul)) || !g.has_single_use(m) {
            continue;
        }
        let [(conv, 0)] = g.users(m)[..] else { continue };
        if g.conv_kind(conv) != Some(ConvKind::Pointwise) || fused.contains_key(&conv) {
            continue;
        }
        let (Some(a), Some(b)) = (g.operand(m, 0), g.operand(m, 1)) else { continue };
        let shape = g.shape(m)?;
        let (sa, sb) = (g.shape(a)?, g.shape(b)?);
        let [batch, c, h, w] = shape[..] else { continue };
        let gate = [batch, c, 1, 1];
        let is_gate = (sa == shape && sb == gate) || (sb == shape && sa == gate);
        let out_c = g.shape(conv)?.get(1).copied().unwrap_or(usize::MAX);
        if is_gate && h * w > 1 && k::gemm::padded(out_c) < h * w {
            found.insert(m, conv);
        }
    }
    Ok(found)
}

impl Lowering<'_> {
    pub(super) fn conv(&mut self, n: NodeId, c: &Conv, shape: Vec<usize>) -> Result<Value> {
        if let Some(m) = self.g.operand(n, 0).filter(|m| self.gated.get(m) == Some(&n)) {
            return self.gated_conv(n, m, c, shape);
        }
        let x = self.operand(n, 0)?;
        let direct = !matches!(self.g.conv_kind(n), Some(ConvKind::Pointwise | ConvKind::Depthwise));
        let (x, input_nchw) = if direct { self.direct_input(c, x)? } else { (self.nhwc_of(x)?, false) };
        let [batch, in_c, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "Conv input is not 4-D")) };
        let [_, out_c, out_h, out_w] = shape[..] else { return Err(err!(internal, "Conv output is not 4-D")) };
        let w = self.constant_operand(n, 1, "convolution weight")?.clone();
        let wv = w.as_f32().unwrap_or_default();
        let (bias, residual) = self.bias_and_residual(n, c, out_c)?;
        let win = &c.window;
        let [kh, kw] = win.kernel;
        let act = act_of(c.act);
        let (kernel, packed) = match self.g.conv_kind(n) {
            Some(ConvKind::Pointwise) => {
                let p = k::gemm::Gemm { m: batch * in_h * in_w, k: in_c, n: out_c, act };
                let b = pack::pointwise(wv, out_c, in_c);
                (Kernel::Gemm { p, bias: true, residual: residual.is_some(), images: batch }, b)
            }
            Some(ConvKind::Depthwise) => {
                let p = k::depthwise::Depthwise {
                    batch,
                    in_h,
                    in_w,
                    channels: in_c,
                    out_h,
                    out_w,
                    win: window_of(win),
                    act,
                };
                (Kernel::Depthwise { p, residual: residual.is_some() }, pack::depthwise(wv, in_c, kh, kw))
            }
            _ => {
                let (p, packed) = direct_conv(c, &x, &shape, input_nchw, wv)?;
                (Kernel::Conv2d { p, residual: residual.is_some() }, packed)
            }
        };
        let weights = self.add_weights(&packed)?;
        let bias = if matches!(kernel, Kernel::Gemm { .. }) { pack::gemm_bias(&bias) } else { bias };
        let bias = self.add_weights(&bias)?;
        let mut reads = vec![x.region, weights, bias];
        reads.extend(residual.map(|r| r.region));
        let out = self.new_buffer(shape.iter().product());
        self.push(kernel, reads, out);
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: false })
    }
}

/// The general kernel's parameters and packed weights for conv `c` from `x` to `out_shape`.
pub(super) fn direct_conv(
    c: &Conv,
    x: &Value,
    out_shape: &[usize],
    input_nchw: bool,
    w: &[f32],
) -> Result<(k::direct::Conv2d, Vec<f32>)> {
    let [batch, in_c, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "Conv input is not 4-D")) };
    let [_, out_c, out_h, out_w] = out_shape[..] else { return Err(err!(internal, "Conv output is not 4-D")) };
    let [kh, kw] = c.window.kernel;
    let p = k::direct::Conv2d {
        batch,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        groups: c.group,
        win: window_of(&c.window),
        act: act_of(c.act),
        input_nchw,
    };
    Ok((p, pack::direct(w, out_c, in_c / c.group, kh, kw, c.group)))
}

impl Lowering<'_> {
    /// The input of a general conv and whether it is read as NCHW: the kernel reads an NCHW
    /// image in place (the first conv of a torch model, whose input the caller gives as NCHW);
    /// anything else in NHWC.
    pub(super) fn direct_input(&mut self, c: &Conv, x: Value) -> Result<(Value, bool)> {
        if c.group == 1 && x.is_row_major() && !x.is_nhwc() { Ok((x, true)) } else { Ok((self.nhwc_of(x)?, false)) }
    }

    /// The bias of conv `n` (zeros without one) and its residual operand in NHWC, if any.
    fn bias_and_residual(&mut self, n: NodeId, c: &Conv, out_c: usize) -> Result<(Vec<f32>, Option<Value>)> {
        let bias = match c.bias_slot() {
            Some(s) => self.constant_operand(n, s, "convolution bias")?.as_f32().unwrap_or_default().to_vec(),
            None => vec![0.0; out_c],
        };
        let residual = match c.residual_slot() {
            Some(s) => {
                let r = self.operand(n, s)?;
                Some(self.nhwc_of(r)?)
            }
            None => None,
        };
        Ok((bias, residual))
    }

    /// The pointwise conv `n` of `x * gate` (the Mul `m`, not lowered on its own): one
    /// `GatedGemm` step, whose scratch holds the weights scaled by one image's gate.
    fn gated_conv(&mut self, n: NodeId, m: NodeId, c: &Conv, shape: Vec<usize>) -> Result<Value> {
        let (a, b) = (self.operand(m, 0)?, self.operand(m, 1)?);
        let (x, gate) = if a.shape.len() == 4 && a.shape[2] * a.shape[3] > 1 { (a, b) } else { (b, a) };
        let x = self.nhwc_of(x)?;
        let gate = self.row_major_of(gate)?;
        let [batch, in_c, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "gated conv input is not 4-D")) };
        let out_c = shape[1];
        let w = self.constant_operand(n, 1, "convolution weight")?.clone();
        let (bias, residual) = self.bias_and_residual(n, c, out_c)?;
        let p = k::gemm::Gemm { m: batch * in_h * in_w, k: in_c, n: out_c, act: act_of(c.act) };
        let b = pack::pointwise(w.as_f32().unwrap_or_default(), out_c, in_c);
        let scratch_len = b.len();
        let weights = self.add_weights(&b)?;
        let bias = self.add_weights(&pack::gemm_bias(&bias))?;
        let mut reads = vec![x.region, weights, bias, gate.region];
        reads.extend(residual.as_ref().map(|r| r.region));
        // The gate's Mul comes first in the comment: it happens first in the graph.
        let conv_origin = std::mem::take(&mut self.origin);
        self.origin = self.g.node(m).origin.iter().cloned().chain(conv_origin).collect();
        let out = self.new_buffer(shape.iter().product());
        let scratch = self.new_buffer(scratch_len);
        self.push(Kernel::GatedGemm { p, images: batch, residual: residual.is_some() }, reads, out);
        if let Some(step) = self.steps.last_mut() {
            step.scratch = Some(scratch);
        }
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: false })
    }
}
