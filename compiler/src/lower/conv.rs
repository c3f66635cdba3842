//! Conv: pointwise (GEMM over NHWC pixels), depthwise, or the general direct kernel, with
//! weights packed for the chosen kernel and the epilogue (bias, residual, activation) fused.

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, act_of, nhwc, pack, window_of};
use crate::error::{Result, err};
use crate::ir::{Conv, ConvKind, NodeId};

impl Lowering<'_> {
    pub(super) fn conv(&mut self, n: NodeId, c: &Conv, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        // The general kernel reads an NCHW image in place (the first conv of a torch model,
        // whose input the caller gives as NCHW); every other kernel reads NHWC.
        let direct = !matches!(self.g.conv_kind(n), Some(ConvKind::Pointwise | ConvKind::Depthwise));
        let input_nchw = direct && c.group == 1 && x.is_row_major() && !x.is_nhwc();
        let x = if input_nchw { x } else { self.nhwc_of(x)? };
        let [batch, in_c, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "Conv input is not 4-D")) };
        let [_, out_c, out_h, out_w] = shape[..] else { return Err(err!(internal, "Conv output is not 4-D")) };
        let w = self.constant_operand(n, 1, "convolution weight")?.clone();
        let wv = w.as_f32().unwrap_or_default();
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
        let win = &c.window;
        let [kh, kw] = win.kernel;
        let act = act_of(c.act);
        let (kernel, packed) = match self.g.conv_kind(n) {
            Some(ConvKind::Pointwise) => {
                let p = k::gemm::Gemm { m: batch * in_h * in_w, k: in_c, n: out_c, act };
                let b = pack::gemm_b(&pack::transpose_2d(wv, out_c, in_c), in_c, out_c);
                (Kernel::Gemm { p, bias: true, residual: residual.is_some() }, b)
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
                let p = k::direct::Conv2d {
                    batch,
                    in_h,
                    in_w,
                    in_c,
                    out_h,
                    out_w,
                    out_c,
                    groups: c.group,
                    win: window_of(win),
                    act,
                    input_nchw,
                };
                (
                    Kernel::Conv2d { p, residual: residual.is_some() },
                    pack::direct(wv, out_c, in_c / c.group, kh, kw, c.group),
                )
            }
        };
        let weights = self.add_weights(&packed);
        let bias = if matches!(kernel, Kernel::Gemm { .. }) { pack::gemm_bias(&bias) } else { bias };
        let bias = self.add_weights(&bias);
        let mut reads = vec![x.region, weights, bias];
        reads.extend(residual.map(|r| r.region));
        let out = self.new_buffer(shape.iter().product());
        self.push(kernel, reads, out);
        Ok(Value { region: out, strides: nhwc(&shape), shape })
    }
}
