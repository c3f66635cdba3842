//! General 2-D convolution, NHWC, any kernel/stride/dilation/padding/groups, with the fused
//! epilogue `act(conv + bias + residual)`. It serves what neither the pointwise GEMM nor the
//! depthwise kernel covers: the first 3x3 convolution of MobileNets (3 input channels) and
//! grouped convolutions. Weights are packed `[group][kh][kw][in_per_group][out_per_group]`, so
//! the innermost run is output channels, loaded as vectors.

use crate::act::Act;
use crate::cpu::Cpu;
use crate::depthwise::Depthwise;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2d {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub groups: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub act: Act,
}

impl Conv2d {
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }
    pub fn weights_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c * (self.out_c / self.groups.max(1))
    }
}

pub fn conv2d(
    cpu: Cpu,
    p: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    assert!(p.groups > 0 && p.in_c.is_multiple_of(p.groups) && p.out_c.is_multiple_of(p.groups), "conv2d: groups");
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0, "conv2d: zero stride");
    assert_eq!(input.len(), p.input_len(), "conv2d: input");
    assert_eq!(output.len(), p.output_len(), "conv2d: output");
    assert_eq!(weights.len(), p.weights_len(), "conv2d: weights");
    assert_eq!(bias.len(), p.out_c, "conv2d: bias");
    assert!(residual.is_none_or(|r| r.len() == p.output_len()), "conv2d: residual");
    dispatch!(
        cpu,
        entry,
        scalar(p, input, weights, bias, residual, output),
        (p, input, weights, bias, residual, output)
    );
}

fn scalar(p: &Conv2d, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
    let (cig, cog) = (p.in_c / p.groups, p.out_c / p.groups);
    for b in 0..p.batch {
        for oy in 0..p.out_h {
            let ky = Depthwise::taps(oy, p.stride_h, p.dilation_h, p.pad_top, p.in_h, p.kernel_h);
            for ox in 0..p.out_w {
                let kx = Depthwise::taps(ox, p.stride_w, p.dilation_w, p.pad_left, p.in_w, p.kernel_w);
                let at = ((b * p.out_h + oy) * p.out_w + ox) * p.out_c;
                let out = &mut output[at..][..p.out_c];
                out.copy_from_slice(bias);
                for g in 0..p.groups {
                    let out = &mut out[g * cog..][..cog];
                    for y in ky.clone() {
                        let iy = oy * p.stride_h + y * p.dilation_h - p.pad_top;
                        for x in kx.clone() {
                            let ix = ox * p.stride_w + x * p.dilation_w - p.pad_left;
                            let src = &input[((b * p.in_h + iy) * p.in_w + ix) * p.in_c + g * cig..][..cig];
                            let w = &weights[(((g * p.kernel_h + y) * p.kernel_w + x) * cig) * cog..][..cig * cog];
                            for (ci, &v) in src.iter().enumerate() {
                                for (o, &wv) in out.iter_mut().zip(&w[ci * cog..][..cog]) {
                                    *o += v * wv;
                                }
                            }
                        }
                    }
                }
                if let Some(r) = residual {
                    for (o, &rv) in out.iter_mut().zip(&r[at..][..p.out_c]) {
                        *o += rv;
                    }
                }
                for o in out.iter_mut() {
                    *o = p.act.apply(*o);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
use simd::*;

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::Conv2d;
    use crate::depthwise::Depthwise;
    use crate::x86::Simd;

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(super) fn conv2d_simd<S: Simd>(
        p: &Conv2d,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
    ) {
        let (cig, cog) = (p.in_c / p.groups, p.out_c / p.groups);
        let (clamp, sigmoid_pass) = p.act.for_simd();
        for b in 0..p.batch {
            for oy in 0..p.out_h {
                let ky = Depthwise::taps(oy, p.stride_h, p.dilation_h, p.pad_top, p.in_h, p.kernel_h);
                for ox in 0..p.out_w {
                    let kx = Depthwise::taps(ox, p.stride_w, p.dilation_w, p.pad_left, p.in_w, p.kernel_w);
                    let at = ((b * p.out_h + oy) * p.out_w + ox) * p.out_c;
                    for g in 0..p.groups {
                        let mut m0 = 0;
                        while m0 < cog {
                            let w = S::LANES.min(cog - m0);
                            let o = at + g * cog + m0;
                            let mut acc = S::load_n(&bias[g * cog + m0..], w);
                            for y in ky.clone() {
                                let iy = oy * p.stride_h + y * p.dilation_h - p.pad_top;
                                for x in kx.clone() {
                                    let ix = ox * p.stride_w + x * p.dilation_w - p.pad_left;
                                    let src = &input[((b * p.in_h + iy) * p.in_w + ix) * p.in_c + g * cig..][..cig];
                                    let wbase = (((g * p.kernel_h + y) * p.kernel_w + x) * cig) * cog + m0;
                                    for (ci, &v) in src.iter().enumerate() {
                                        acc = S::fma(S::splat(v), S::load_n(&weights[wbase + ci * cog..], w), acc);
                                    }
                                }
                            }
                            if let Some(r) = residual {
                                acc = S::add(acc, S::load_n(&r[o..], w));
                            }
                            let y = S::activate(acc, &clamp);
                            if w == S::LANES {
                                S::store(&mut output[o..], y)
                            } else {
                                S::store_partial(&mut output[o..], w, y)
                            }
                            m0 += w;
                        }
                    }
                }
            }
        }
        if sigmoid_pass {
            for o in output.iter_mut() {
                *o = p.act.apply(*o);
            }
        }
    }

    simd_entry!(entry => conv2d_simd(p: &Conv2d, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, output: &mut [f32]));
}
