//! The 8-bit inverted residual block in one call: [stem conv | expand 1x1] -> depthwise ->
//! project 1x1, by output rows, so that the tensors between the convolutions never exist
//! whole. Each output row needs `kernel_h` rows of the depthwise input: those the stem or the
//! expand GEMM computes are kept in a ring of `(kernel_h - 1) * dilation_h + 1` rows (a row
//! computed once serves every output row that reads it), then the depthwise row and the
//! project GEMM follow. Each thread takes a range of output rows with a ring of its own (rows
//! at the edges of two ranges are computed by both).
//!
//! Narrow images (the 14x14 and 7x7 blocks) would give GEMMs of 7 or 14 rows, whose row
//! tiles of 2 and 1 load every panel of `b` for one or two rows: there the ring holds the
//! whole depthwise input image, the rows a group of output rows needs are expanded in one
//! GEMM, and the project GEMM takes several output rows at once (`QBlock::row_group`).
//!
//! The arithmetic is that of the separate kernels (`conv::gemm_row`, `gemm`, `depthwise`), on
//! the same packed weights, so the block gives exactly their bytes.

use super::conv::QConvGemm;
use super::depthwise::{self, QDepthwise};
use super::gemm::{self, QGemm};
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::threads::Threads;

/// What computes the depthwise input from the block's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    /// Nothing: the block's input is the depthwise input.
    None,
    /// A pointwise expand GEMM (`k` = input channels, `n` = hidden channels; `m` unused).
    Expand(QGemm),
    /// An ungrouped convolution (the model's first layer).
    Stem(QConvGemm),
}

/// Shapes of an 8-bit block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QBlock {
    /// Images in the batch.
    pub images: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// The first convolution, if any.
    pub first: First,
    /// The depthwise convolution (its `in_h`, `in_w`, `channels`: the depthwise input's).
    pub dw: QDepthwise,
    /// The project GEMM (`k` = hidden channels, `n` = output channels; `m` unused).
    pub project: QGemm,
}

/// Most bytes of a depthwise input image that the ring holds whole (`QBlock::whole_image`).
const WHOLE_IMAGE_BYTES: usize = 192 * 1024;

/// GEMM rows a project call aims for (several output rows of a narrow image per call).
const GROUP_ROWS: usize = 64;

impl QBlock {
    /// Rows of the ring (0 without a first convolution).
    pub fn ring_rows(&self) -> usize {
        match self.first {
            First::None => 0,
            _ if self.whole_image() => self.dw.in_h,
            _ => self.window_rows() + (self.row_group() - 1) * self.dw.win.stride_h,
        }
    }

    /// Input rows one output row's window spans.
    fn window_rows(&self) -> usize {
        (self.dw.win.kernel_h - 1) * self.dw.win.dilation_h + 1
    }

    /// Whether the ring holds the whole expanded image: for an expand GEMM on images narrower
    /// than 16 pixels (its rows one at a time would be GEMMs of fewer than 16 rows) that fit
    /// `WHOLE_IMAGE_BYTES`.
    pub fn whole_image(&self) -> bool {
        matches!(self.first, First::Expand(_))
            && self.dw.in_w < 16
            && self.dw.in_h * self.row_bytes() <= WHOLE_IMAGE_BYTES
    }

    /// Output rows per project GEMM: enough for about `GROUP_ROWS` GEMM rows, within an image
    /// (and, with a ring of rows, as many as a ring of `MAX_TAPS` rows serves: the group's
    /// input rows are all expanded before its depthwise rows).
    pub fn row_group(&self) -> usize {
        let g = (GROUP_ROWS / self.dw.out_w.max(1)).clamp(1, self.dw.out_h.max(1));
        match self.first {
            First::None => g,
            _ if self.whole_image() => g,
            _ => g.min(depthwise::MAX_TAPS.saturating_sub(self.window_rows()) / self.dw.win.stride_h.max(1) + 1),
        }
    }

    /// Bytes of one depthwise input row.
    fn row_bytes(&self) -> usize {
        self.dw.in_w * self.dw.channels
    }

    /// f32 words of scratch per thread: the ring and a group of depthwise output rows.
    pub fn scratch_words(&self) -> usize {
        (self.ring_rows() * self.row_bytes() + self.row_group() * self.dw.out_w * self.dw.channels).div_ceil(4)
    }

    /// Output bytes.
    pub fn output_len(&self) -> usize {
        self.images * self.dw.out_h * self.dw.out_w * self.project.n
    }
}

/// The lengths of a block's weights, in the units of their types, in call order.
#[derive(Clone, Copy, Debug)]
pub struct WeightLens {
    /// The first convolution's packed weights, constants and multipliers (empty without one).
    pub first: [usize; 3],
    /// The depthwise weights, bias and multipliers.
    pub dw: [usize; 3],
    /// The project GEMM's packed weights, constants and multipliers.
    pub project: [usize; 3],
}

/// The block's weights.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    /// The first convolution's packed `b` (empty without one).
    pub first_b: &'a [i8],
    /// Its constants.
    pub first_consts: &'a [i32],
    /// Its multipliers.
    pub first_mult: &'a [f32],
    /// The depthwise weights (packed int16).
    pub dw: &'a [i16],
    /// The depthwise bias (packed).
    pub dw_bias: &'a [i32],
    /// The depthwise multipliers (packed).
    pub dw_mult: &'a [f32],
    /// The project GEMM's packed `b`.
    pub project_b: &'a [i8],
    /// Its constants.
    pub project_consts: &'a [i32],
    /// Its multipliers.
    pub project_mult: &'a [f32],
}

/// What `qblock` requires: consistent shapes, every part's own check, and room for scratch.
pub fn check(threads: usize, p: &QBlock, input: usize, w: &WeightLens, out: usize, scratch: usize) -> Check {
    let dw = &p.dw;
    ensure!(dw.images == p.images, "qblock: images");
    ensure!(dw.win.kernel_h * dw.win.kernel_w <= depthwise::MAX_TAPS, "qblock: depthwise window too large");
    ensure!(input >= p.images * p.in_h * p.in_w * p.in_c, "qblock: input too short");
    match p.first {
        First::None => ensure!(
            (p.in_h, p.in_w, p.in_c) == (dw.in_h, dw.in_w, dw.channels),
            "qblock: the input is not the depthwise input"
        ),
        First::Expand(e) => {
            ensure!((p.in_h, p.in_w) == (dw.in_h, dw.in_w), "qblock: expand changes the size");
            ensure!(e.k == p.in_c && e.n == dw.channels, "qblock: expand channels");
            gemm::check(1, &QGemm { m: 0, ..e }, 0, w.first[0], w.first[1], w.first[2], 0)?;
        }
        First::Stem(s) => {
            ensure!(s.images == p.images && (s.in_h, s.in_w, s.in_c) == (p.in_h, p.in_w, p.in_c), "qblock: stem input");
            ensure!((s.out_h, s.out_w, s.out_c) == (dw.in_h, dw.in_w, dw.channels), "qblock: stem output");
            super::conv::check_gemm(
                1,
                &s,
                input,
                w.first[0],
                w.first[1],
                w.first[2],
                s.images * s.out_h * s.out_w * s.out_c,
            )?;
        }
    }
    ensure!(p.whole_image() || p.ring_rows() <= depthwise::MAX_TAPS, "qblock: ring too tall");
    let (dw_in, dw_out) = (dw.images * dw.in_h * dw.in_w * dw.channels, dw.images * dw.out_h * dw.out_w * dw.channels);
    depthwise::check(1, dw, dw_in, w.dw[0], w.dw[1], w.dw[2], dw_out)?;
    ensure!(p.project.k == dw.channels, "qblock: project channels");
    gemm::check(1, &QGemm { m: 0, ..p.project }, 0, w.project[0], w.project[1], w.project[2], 0)?;
    ensure!(out >= p.output_len(), "qblock: output too short");
    ensure!(scratch >= threads.max(1) * p.scratch_words(), "qblock: scratch too short");
    Ok(())
}

/// Runs the block on `threads`, split by output rows.
#[allow(clippy::too_many_arguments)]
pub fn qblock(threads: &Threads, cpu: Cpu, p: &QBlock, input: &[u8], w: &Weights, out: &mut [u8], scratch: &mut [f32]) {
    let lens = WeightLens {
        first: [w.first_b.len(), w.first_consts.len(), w.first_mult.len()],
        dw: [w.dw.len(), w.dw_bias.len(), w.dw_mult.len()],
        project: [w.project_b.len(), w.project_consts.len(), w.project_mult.len()],
    };
    expect(check(threads.count(), p, input.len(), &lens, out.len(), scratch.len()));
    let (dw, ring_rows, row_bytes) = (&p.dw, p.ring_rows(), p.row_bytes());
    let (whole, group) = (p.whole_image(), p.row_group());
    let out_row = dw.out_w * p.project.n;
    let rows = p.images * dw.out_h;
    let image = p.in_h * p.in_w * p.in_c;
    threads.for_rows_with_scratch(
        rows,
        2,
        &mut out[..rows * out_row],
        out_row,
        scratch,
        p.scratch_words(),
        &|rows, o, s| {
            let s = crate::arena::bytes_mut(s);
            let (ring, dw_out) = s.split_at_mut(ring_rows * row_bytes);
            let dw_out = &mut dw_out[..group * dw.out_w * dw.channels];
            // Which depthwise input row (image * in_h + row) each ring slot holds.
            let mut held = [usize::MAX; depthwise::MAX_TAPS];
            // With the whole image: its rows `expanded` of image `held_image` are in the ring.
            let (mut held_image, mut expanded) = (usize::MAX, 0..0);
            let first_row = rows.start;
            let mut oy0 = rows.start;
            while oy0 < rows.end {
                let (img, y0) = (oy0 / dw.out_h, oy0 % dw.out_h);
                // A group of output rows, within one image.
                let count = group.min(rows.end - oy0).min(dw.out_h - y0);
                if whole {
                    // The input rows the group's windows read, those not yet expanded in one
                    // GEMM (the groups go down the image, so what is held is a prefix).
                    let top = (y0 * dw.win.stride_h).saturating_sub(dw.win.pad_top);
                    let bottom = ((y0 + count - 1) * dw.win.stride_h + (dw.win.kernel_h - 1) * dw.win.dilation_h + 1)
                        .saturating_sub(dw.win.pad_top)
                        .min(dw.in_h);
                    if held_image != img {
                        (held_image, expanded) = (img, top..top);
                    }
                    let from = expanded.end.max(top);
                    if let (First::Expand(e), true) = (p.first, from < bottom) {
                        let x = &input[img * image + from * p.in_w * p.in_c..][..(bottom - from) * p.in_w * p.in_c];
                        let e = QGemm { m: (bottom - from) * p.in_w, ..e };
                        let slot = &mut ring[from * row_bytes..bottom * row_bytes];
                        gemm::rows_of(cpu, &e, x, w.first_b, w.first_consts, w.first_mult, 0..e.m, slot);
                        expanded = expanded.start.min(from)..bottom;
                    }
                } else if ring_rows > 0 {
                    for y in y0..y0 + count {
                        for ky in 0..dw.win.kernel_h {
                            let iy = (y * dw.win.stride_h + ky * dw.win.dilation_h).wrapping_sub(dw.win.pad_top);
                            if iy >= dw.in_h || held[iy % ring_rows] == img * dw.in_h + iy {
                                continue;
                            }
                            let slot = &mut ring[(iy % ring_rows) * row_bytes..][..row_bytes];
                            match p.first {
                                First::Expand(e) => {
                                    let x = &input[img * image + iy * p.in_w * p.in_c..][..p.in_w * p.in_c];
                                    let e = QGemm { m: p.in_w, ..e };
                                    gemm::rows_of(cpu, &e, x, w.first_b, w.first_consts, w.first_mult, 0..p.in_w, slot);
                                }
                                First::Stem(st) => super::conv::gemm_row(
                                    cpu,
                                    &st,
                                    input,
                                    w.first_b,
                                    w.first_consts,
                                    w.first_mult,
                                    img,
                                    iy,
                                    slot,
                                ),
                                First::None => {}
                            }
                            held[iy % ring_rows] = img * dw.in_h + iy;
                        }
                    }
                }
                let ring = &*ring;
                let src = |iy: usize| -> &[u8] {
                    if ring_rows > 0 {
                        &ring[(iy % ring_rows) * row_bytes..][..row_bytes]
                    } else {
                        &input[img * image + iy * row_bytes..][..row_bytes]
                    }
                };
                let dw_row = dw.out_w * dw.channels;
                for (i, y) in (y0..y0 + count).enumerate() {
                    let d = &mut dw_out[i * dw_row..][..dw_row];
                    depthwise::row_from(cpu, dw, y, &src, w.dw, w.dw_bias, w.dw_mult, d);
                }
                let pr = QGemm { m: count * dw.out_w, ..p.project };
                let o = &mut o[(oy0 - first_row) * out_row..][..count * out_row];
                gemm::rows_of(
                    cpu,
                    &pr,
                    &dw_out[..count * dw_row],
                    w.project_b,
                    w.project_consts,
                    w.project_mult,
                    0..pr.m,
                    o,
                );
                oy0 += count;
            }
        },
    );
}
