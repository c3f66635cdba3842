//! Depthwise convolution (one filter per channel), NHWC, with the fused epilogue
//! `act(conv + bias + residual)`. Weights are packed `[kh][kw][channels]` so that one tap of the
//! filter is a contiguous run of channels, loaded as vectors.

use crate::act::Act;
use crate::cpu::Cpu;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Depthwise {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub out_h: usize,
    pub out_w: usize,
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

impl Depthwise {
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.channels
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.channels
    }

    /// Kernel taps (ky or kx) that land inside the input for output coordinate `o` along an axis:
    /// the t with `0 <= o*stride + t*dilation - pad < size`.
    #[inline(always)]
    pub(crate) fn taps(
        o: usize,
        stride: usize,
        dilation: usize,
        pad: usize,
        size: usize,
        kernel: usize,
    ) -> core::ops::Range<usize> {
        let base = o * stride;
        let first = pad.saturating_sub(base).div_ceil(dilation).min(kernel);
        let end = (pad + size).saturating_sub(base).div_ceil(dilation).min(kernel);
        first..end.max(first)
    }
}

pub fn depthwise(
    cpu: Cpu,
    p: &Depthwise,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    assert_eq!(input.len(), p.input_len(), "depthwise: input");
    assert_eq!(output.len(), p.output_len(), "depthwise: output");
    assert_eq!(weights.len(), p.kernel_h * p.kernel_w * p.channels, "depthwise: weights");
    assert_eq!(bias.len(), p.channels, "depthwise: bias");
    assert!(residual.is_none_or(|r| r.len() == p.output_len()), "depthwise: residual");
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0, "depthwise: zero stride");
    dispatch!(
        cpu,
        entry,
        scalar(p, input, weights, bias, residual, output),
        (p, input, weights, bias, residual, output)
    );
}

fn scalar(p: &Depthwise, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
    let c = p.channels;
    for b in 0..p.batch {
        for oy in 0..p.out_h {
            let ky = Depthwise::taps(oy, p.stride_h, p.dilation_h, p.pad_top, p.in_h, p.kernel_h);
            for ox in 0..p.out_w {
                let kx = Depthwise::taps(ox, p.stride_w, p.dilation_w, p.pad_left, p.in_w, p.kernel_w);
                let at = ((b * p.out_h + oy) * p.out_w + ox) * c;
                let out = &mut output[at..][..c];
                out.copy_from_slice(bias);
                for y in ky.clone() {
                    let iy = oy * p.stride_h + y * p.dilation_h - p.pad_top;
                    for x in kx.clone() {
                        let ix = ox * p.stride_w + x * p.dilation_w - p.pad_left;
                        let src = &input[((b * p.in_h + iy) * p.in_w + ix) * c..][..c];
                        let w = &weights[(y * p.kernel_w + x) * c..][..c];
                        for ch in 0..c {
                            out[ch] += src[ch] * w[ch];
                        }
                    }
                }
                if let Some(r) = residual {
                    for (o, &rv) in out.iter_mut().zip(&r[at..][..c]) {
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
    use super::Depthwise;
    use crate::x86::Simd;

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(super) fn depthwise_simd<S: Simd>(
        p: &Depthwise,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
    ) {
        let c = p.channels;
        let (clamp, sigmoid_pass) = p.act.for_simd();
        for b in 0..p.batch {
            for oy in 0..p.out_h {
                let ky = Depthwise::taps(oy, p.stride_h, p.dilation_h, p.pad_top, p.in_h, p.kernel_h);
                for ox in 0..p.out_w {
                    let kx = Depthwise::taps(ox, p.stride_w, p.dilation_w, p.pad_left, p.in_w, p.kernel_w);
                    let at = ((b * p.out_h + oy) * p.out_w + ox) * c;
                    let mut c0 = 0;
                    while c0 < c {
                        let w = S::LANES.min(c - c0);
                        let load = |s: &[f32]| if w == S::LANES { S::load(s) } else { S::load_partial(s, w) };
                        let mut acc = load(&bias[c0..]);
                        for y in ky.clone() {
                            let iy = oy * p.stride_h + y * p.dilation_h - p.pad_top;
                            let row = ((b * p.in_h + iy) * p.in_w) * c;
                            for x in kx.clone() {
                                let ix = ox * p.stride_w + x * p.dilation_w - p.pad_left;
                                let v = load(&input[row + ix * c + c0..]);
                                acc = S::fma(v, load(&weights[(y * p.kernel_w + x) * c + c0..]), acc);
                            }
                        }
                        if let Some(r) = residual {
                            acc = S::add(acc, load(&r[at + c0..]));
                        }
                        let y = S::activate(acc, &clamp);
                        if w == S::LANES {
                            S::store(&mut output[at + c0..], y)
                        } else {
                            S::store_partial(&mut output[at + c0..], w, y)
                        }
                        c0 += w;
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

    simd_entry!(entry => depthwise_simd(p: &Depthwise, input: &[f32], weights: &[f32], bias: &[f32], residual: Option<&[f32]>, output: &mut [f32]));
}
