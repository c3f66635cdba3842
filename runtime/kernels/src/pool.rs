//! Pooling over NHWC images: max and average windows, and the global average.

use crate::cpu::Cpu;
use crate::depthwise::Depthwise;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// `count_include_pad`: padded positions count in the divisor (ONNX semantics).
    Average {
        count_include_pad: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
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
    pub pad_bottom: usize,
    pub pad_right: usize,
    pub kind: PoolKind,
}

pub fn pool2d(cpu: Cpu, p: &Pool2d, input: &[f32], output: &mut [f32]) {
    let c = p.channels;
    assert_eq!(input.len(), p.batch * p.in_h * p.in_w * c, "pool2d: input");
    assert_eq!(output.len(), p.batch * p.out_h * p.out_w * c, "pool2d: output");
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0, "pool2d: zero stride");
    let _ = cpu; // Pooling is a sliver of a MobileNet's time; the scalar loop vectorises well.
    for b in 0..p.batch {
        for oy in 0..p.out_h {
            let ky = Depthwise::taps(oy, p.stride_h, p.dilation_h, p.pad_top, p.in_h, p.kernel_h);
            for ox in 0..p.out_w {
                let kx = Depthwise::taps(ox, p.stride_w, p.dilation_w, p.pad_left, p.in_w, p.kernel_w);
                let out = &mut output[((b * p.out_h + oy) * p.out_w + ox) * c..][..c];
                out.fill(if p.kind == PoolKind::Max { f32::NEG_INFINITY } else { 0.0 });
                for y in ky.clone() {
                    let iy = oy * p.stride_h + y * p.dilation_h - p.pad_top;
                    for x in kx.clone() {
                        let ix = ox * p.stride_w + x * p.dilation_w - p.pad_left;
                        let src = &input[((b * p.in_h + iy) * p.in_w + ix) * c..][..c];
                        match p.kind {
                            PoolKind::Max => out.iter_mut().zip(src).for_each(|(o, &v)| *o = o.max(v)),
                            PoolKind::Average { .. } => out.iter_mut().zip(src).for_each(|(o, &v)| *o += v),
                        }
                    }
                }
                if let PoolKind::Average { count_include_pad } = p.kind {
                    let count = if count_include_pad {
                        // The window clipped to the padded input (not beyond it, as in ceil mode).
                        let span = |o: usize, s: usize, k: usize, pad_begin: usize, size: usize, pad_end: usize| {
                            let start = o * s;
                            (start + k).min(size + pad_begin + pad_end) - start
                        };
                        span(oy, p.stride_h, p.kernel_h, p.pad_top, p.in_h, p.pad_bottom)
                            * span(ox, p.stride_w, p.kernel_w, p.pad_left, p.in_w, p.pad_right)
                    } else {
                        ky.len() * kx.len()
                    };
                    let scale = if count > 0 { 1.0 / count as f32 } else { 0.0 };
                    out.iter_mut().for_each(|o| *o *= scale);
                }
            }
        }
    }
}

/// Average over all pixels of each image: `[batch][pixels][channels] -> [batch][channels]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalPool {
    pub batch: usize,
    pub pixels: usize,
    pub channels: usize,
}

pub fn global_average(cpu: Cpu, p: &GlobalPool, input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), p.batch * p.pixels * p.channels, "global_average: input");
    assert_eq!(output.len(), p.batch * p.channels, "global_average: output");
    let _ = cpu;
    let c = p.channels;
    let scale = 1.0 / p.pixels.max(1) as f32;
    for b in 0..p.batch {
        let out = &mut output[b * c..][..c];
        out.fill(0.0);
        for px in 0..p.pixels {
            for (o, &v) in out.iter_mut().zip(&input[(b * p.pixels + px) * c..][..c]) {
                *o += v;
            }
        }
        out.iter_mut().for_each(|o| *o *= scale);
    }
}

/// Mean of each row: `[rows][len] -> [rows]` (the generic ReduceMean, after a transpose that
/// puts the reduced axes last).
pub fn mean_rows(rows: usize, len: usize, input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), rows * len, "mean_rows: input");
    assert_eq!(output.len(), rows, "mean_rows: output");
    for (o, row) in output.iter_mut().zip(input.chunks_exact(len.max(1))) {
        *o = row.iter().sum::<f32>() / len.max(1) as f32;
    }
}
