//! The inverted-residual block in one pass: expand 1x1 -> depthwise -> project 1x1 (+ residual),
//! computed a few output rows at a time so that neither the expanded tensor nor the depthwise
//! output ever exists whole. Expanded rows live in a ring of `ring_rows` rows, the depthwise
//! output of the current rows in a tile; both sit in the scratch region and stay in cache.
//! Without the expand conv (MobileNetV2's first block, MobileNetV1's pairs) the depthwise reads
//! the input rows directly, or (`stem`) rows that a general convolution computes from the
//! block's input into the ring: a model's first conv then streams into its first block, and its
//! output (MobileNetV2: 1.6 MB per image, the largest tensor of the model) never exists whole.
//!
//! The parts are the same kernels as when run alone (GEMM for the 1x1 convolutions, the
//! depthwise row core), called on rows through their dispatchers: each part's code exists once,
//! and the block stays small enough for the instruction cache.

use crate::act::Act;
use crate::check::{Check, ensure, expect, opt_is};
use crate::cpu::Cpu;
use crate::depthwise::{MAX_KERNEL_H, RowGeometry};
use crate::direct::Conv2d;
use crate::gemm::{COLUMN_ALIGN, Gemm, View, packed_b_len, padded};
use crate::threads::Threads;
use crate::window::Window;

#[derive(Clone, Copy, Debug, PartialEq)]
/// One inverted-residual block (expand, depthwise, project) computed in row tiles.
pub struct InvertedResidual {
    /// Images.
    pub batch: usize,
    /// Height of the depthwise input.
    pub in_h: usize,
    /// Width of the depthwise input.
    pub in_w: usize,
    /// Channels of the block input.
    pub in_c: usize,
    /// Channels of the depthwise conv: the expanded width, or `in_c` without expansion.
    pub hidden: usize,
    /// Whether an expand 1x1 conv comes first.
    pub expand: bool,
    /// Activation of the expand conv.
    pub expand_act: Act,
    /// A general convolution that comes first instead (not with `expand`): the block's input
    /// is this conv's input, and `in_h`, `in_w`, `in_c` (= `hidden`) describe its output, the
    /// depthwise input. Its weights and bias come in `Weights::expand` and `expand_bias`.
    pub stem: Option<Conv2d>,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// The depthwise window.
    pub win: Window,
    /// Activation of the depthwise conv.
    pub dw_act: Act,
    /// Output channels.
    pub out_c: usize,
    /// Activation of the project conv (usually none).
    pub project_act: Act,
    /// Output rows computed per step (the project GEMM runs on `tile_rows * strip_w` pixels).
    pub tile_rows: usize,
    /// Output columns computed per pass over the rows: `out_w`, or (with `tile_rows` 1) less,
    /// so that the ring holds only the input columns of one strip (MobileNetV2's second block:
    /// 2 strips halve its 129 KB ring). Strips overlap by the columns the window shares.
    pub strip_w: usize,
}

/// The six weight arrays: expand (packed GEMM `b`, padded bias; with `stem`, the conv's
/// weights and bias as `direct` takes them; empty without either),
/// depthwise (`[kh][kw][hidden]`, bias), project (packed GEMM `b`, padded bias).
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    /// Expand weights.
    pub expand: &'a [f32],
    /// Expand bias.
    pub expand_bias: &'a [f32],
    /// Depthwise weights.
    pub depthwise: &'a [f32],
    /// Depthwise bias.
    pub depthwise_bias: &'a [f32],
    /// Project weights.
    pub project: &'a [f32],
    /// Project bias.
    pub project_bias: &'a [f32],
}

impl InvertedResidual {
    /// Expanded rows the ring holds: what one tile of output rows reads.
    pub const fn ring_rows(&self) -> usize {
        self.win.rows_read(self.tile_rows)
    }

    /// Whether the depthwise reads computed rows from a ring (rather than the block's input).
    pub const fn has_ring(&self) -> bool {
        self.expand || self.stem.is_some()
    }

    /// Input columns of the widest strip.
    pub const fn strip_in_w(&self) -> usize {
        let read = self.win.cols_read(self.strip_w);
        if read < self.in_w && self.strip_w < self.out_w { read } else { self.in_w }
    }

    /// f32 elements of scratch memory the block needs per thread when it runs on `threads`.
    pub const fn scratch_len(&self, threads: usize) -> usize {
        if self.splits_channels(threads) {
            self.channel_part_len(self.widest_part(threads))
        } else {
            self.ring_len(self.hidden) + self.tile_rows * self.strip_w * self.hidden
        }
    }

    /// f32 elements of scratch memory for any thread count up to `max_threads`.
    pub const fn scratch_for(&self, max_threads: usize) -> usize {
        let (mut most, mut t) = (0, 1);
        while t <= max_threads {
            let len = t * self.scratch_len(t);
            if len > most {
                most = len;
            }
            t += 1;
        }
        most
    }

    /// The ring of expanded rows, for `channels` of the hidden channels.
    const fn ring_len(&self, channels: usize) -> usize {
        if self.has_ring() { self.ring_rows() * self.strip_in_w() * channels } else { 0 }
    }

    /// Whether `threads` threads split the hidden channels between them rather than the output
    /// rows. They do where the rows are few (MobileNetV2's 7x7 blocks: 7 rows split 3 / 4), as
    /// a row split then leaves one thread waiting on the other, and each thread expands again
    /// the rows at its border. Split by channels, each thread expands its columns of the expand
    /// matrix over the whole image, runs the depthwise on them and multiplies by its rows of the
    /// project matrix into a partial sum; the threads then add the partial sums. Only for an
    /// expanded block in whole rows, with at least two vectors of channels per thread.
    pub const fn splits_channels(&self, threads: usize) -> bool {
        threads > 1
            && self.expand
            && self.stem.is_none()
            && self.strip_w == self.out_w
            && self.batch * self.out_h < CHANNEL_SPLIT_ROWS * threads
            && self.hidden >= threads * 2 * COLUMN_ALIGN
    }

    /// First hidden channel of part `i` of `parts`: a multiple of [`COLUMN_ALIGN`] (the column
    /// windows of the expand matrix start there), the parts as even as that allows.
    const fn channel_bound(&self, i: usize, parts: usize) -> usize {
        if i == parts { self.hidden } else { self.hidden.div_ceil(COLUMN_ALIGN) * i / parts * COLUMN_ALIGN }
    }

    /// Hidden channels of the widest of `parts` parts.
    const fn widest_part(&self, parts: usize) -> usize {
        let (mut most, mut i) = (0, 0);
        while i < parts {
            let len = self.channel_bound(i + 1, parts) - self.channel_bound(i, parts);
            if len > most {
                most = len;
            }
            i += 1;
        }
        most
    }

    /// Scratch of a part of `channels` hidden channels: ring, tile, its depthwise weights and
    /// bias, and its partial sum of the output.
    const fn channel_part_len(&self, channels: usize) -> usize {
        let taps = self.win.kernel_h * self.win.kernel_w;
        self.ring_len(channels) + self.tile_rows * self.out_w * channels + (taps + 1) * channels + self.output_len()
    }

    /// Elements of the input.
    pub const fn input_len(&self) -> usize {
        match &self.stem {
            Some(c) => c.input_len(),
            None => self.batch * self.in_h * self.in_w * self.in_c,
        }
    }

    /// Elements of the output.
    pub const fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }
}

/// The lengths of a block's weight arrays (`Weights` without the data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLens {
    /// Elements of `Weights::expand`.
    pub expand: usize,
    /// Elements of `Weights::expand_bias`.
    pub expand_bias: usize,
    /// Elements of `Weights::depthwise`.
    pub depthwise: usize,
    /// Elements of `Weights::depthwise_bias`.
    pub depthwise_bias: usize,
    /// Elements of `Weights::project`.
    pub project: usize,
    /// Elements of `Weights::project_bias`.
    pub project_bias: usize,
}

impl WeightLens {
    /// The lengths of `w`.
    pub fn of(w: &Weights) -> Self {
        WeightLens {
            expand: w.expand.len(),
            expand_bias: w.expand_bias.len(),
            depthwise: w.depthwise.len(),
            depthwise_bias: w.depthwise_bias.len(),
            project: w.project.len(),
            project_bias: w.project_bias.len(),
        }
    }
}

/// What `inverted_residual` requires on `threads` threads (`scratch`: at least
/// `threads * scratch_len(threads)`).
pub fn check(
    threads: usize,
    p: &InvertedResidual,
    input: usize,
    w: &WeightLens,
    residual: Option<usize>,
    output: usize,
    scratch: usize,
) -> Check {
    ensure!(p.tile_rows > 0 && p.win.is_valid(), "fused: geometry");
    ensure!(
        p.strip_w == p.out_w || (p.strip_w > 0 && p.strip_w < p.out_w && p.tile_rows == 1 && p.stem.is_none()),
        "fused: strips narrower than the output need one row per tile and no stem"
    );
    ensure!(p.win.kernel_h <= MAX_KERNEL_H, "fused: kernel taller than MAX_KERNEL_H");
    ensure!(p.expand || p.hidden == p.in_c, "fused: without expansion the depthwise takes the input channels");
    if let Some(c) = &p.stem {
        ensure!(!p.expand, "fused: a stem conv or an expand conv, not both");
        ensure!(
            c.groups > 0 && c.in_c.is_multiple_of(c.groups) && c.out_c.is_multiple_of(c.groups),
            "fused: stem groups"
        );
        ensure!(c.win.is_valid(), "fused: stem geometry");
        ensure!(
            (c.batch, c.out_h, c.out_w, c.out_c) == (p.batch, p.in_h, p.in_w, p.in_c),
            "fused: the stem's output is not the depthwise input"
        );
        ensure!(w.expand == c.weights_len(), "fused: stem weights");
        ensure!(w.expand_bias == c.out_c, "fused: stem bias");
    }
    ensure!(input == p.input_len(), "fused: input");
    ensure!(output == p.output_len(), "fused: output");
    ensure!(opt_is(residual, p.output_len()), "fused: residual");
    if p.expand {
        ensure!(w.expand == packed_b_len(p.in_c, p.hidden), "fused: expand weights");
        ensure!(w.expand_bias == padded(p.hidden), "fused: expand bias");
    }
    ensure!(w.depthwise == p.win.kernel_h * p.win.kernel_w * p.hidden, "fused: depthwise weights");
    ensure!(w.depthwise_bias == p.hidden, "fused: depthwise bias");
    ensure!(w.project == packed_b_len(p.hidden, p.out_c), "fused: project weights");
    ensure!(w.project_bias == padded(p.out_c), "fused: project bias");
    ensure!(threads >= 1 && scratch >= threads * p.scratch_len(threads), "fused: scratch");
    Ok(())
}

/// Runs the block, its output rows (or its hidden channels, see
/// [`InvertedResidual::splits_channels`]) split across `threads`; `scratch` holds
/// `scratch_len(threads.count())` elements per thread. A thread starting mid-image expands the
/// rows above its first output row again (at most `kernel_h - stride_h` rows).
pub fn inverted_residual(
    threads: &Threads,
    cpu: Cpu,
    p: &InvertedResidual,
    input: &[f32],
    w: &Weights,
    residual: Option<&[f32]>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let lens = WeightLens::of(w);
    expect(check(threads.count(), p, input.len(), &lens, residual.map(<[f32]>::len), output.len(), scratch.len()));
    if p.splits_channels(threads.count()) {
        return by_channels(threads, cpu, p, input, w, residual, output, scratch);
    }
    let min_rows = p.tile_rows.max(2);
    threads.for_rows_with_scratch(
        p.batch * p.out_h,
        min_rows,
        output,
        p.out_w * p.out_c,
        scratch,
        p.scratch_len(threads.count()),
        &|rows, out, scratch| body(cpu, p, &Hidden::all(p, w), input, w, residual, rows.start, rows.end, out, scratch),
    );
}

/// Output rows a thread must have at least for the block to split its rows rather than its
/// hidden channels (see [`InvertedResidual::splits_channels`]).
const CHANNEL_SPLIT_ROWS: usize = 4;

/// The block split by hidden channels: each thread computes its channels into a partial sum of
/// the output (at the start of its scratch), then the threads add the sums, split by pixels.
#[allow(clippy::too_many_arguments)]
fn by_channels(
    threads: &Threads,
    cpu: Cpu,
    p: &InvertedResidual,
    input: &[f32],
    w: &Weights,
    residual: Option<&[f32]>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let (parts, part_len, out_len) = (threads.count(), p.scratch_len(threads.count()), p.output_len());
    let taps = p.win.kernel_h * p.win.kernel_w;
    // One "row" per part, with no output of its own: each writes only its scratch.
    threads.for_rows_with_scratch(parts, 1, &mut [] as &mut [f32], 0, scratch, part_len, &|part, _, scratch| {
        let (h0, h1) = (p.channel_bound(part.start, parts), p.channel_bound(part.end, parts));
        let hc = h1 - h0;
        let (partial, rest) = scratch.split_at_mut(out_len);
        let (dw, rest) = rest.split_at_mut(taps * hc);
        let (db, work) = rest.split_at_mut(hc);
        // This part's depthwise weights, contiguous as the row core reads them (a few KB).
        for (t, dst) in dw.chunks_exact_mut(hc).enumerate() {
            dst.copy_from_slice(&w.depthwise[t * p.hidden + h0..t * p.hidden + h1]);
        }
        db.copy_from_slice(&w.depthwise_bias[h0..h1]);
        let hidden = Hidden { h0, h1, depthwise: dw, depthwise_bias: db };
        body(cpu, p, &hidden, input, w, None, 0, p.batch * p.out_h, partial, work);
    });
    let sums = PartialSums { parts, part_len, out_c: p.out_c, act: p.project_act };
    let (scratch, bias) = (&*scratch, &w.project_bias[..p.out_c]);
    threads.for_rows(p.batch * p.out_h * p.out_w, 8, output, p.out_c, &|pixels, out| {
        let res = residual.map(|r| &r[pixels.start * p.out_c..pixels.end * p.out_c]);
        dispatch!(
            cpu,
            add_sums_entry,
            add_sums(&sums, scratch, pixels.start, bias, res, out),
            (&sums, scratch, pixels.start, bias, res, out)
        );
    });
}

/// Where the threads' partial sums of the output are: at the start of each part's scratch.
pub(crate) struct PartialSums {
    parts: usize,
    part_len: usize,
    out_c: usize,
    act: Act,
}

/// `out = act(bias + residual + the partial sums)` for the pixels from `first` that `out` holds.
#[inline(always)]
fn add_sums(s: &PartialSums, scratch: &[f32], first: usize, bias: &[f32], res: Option<&[f32]>, out: &mut [f32]) {
    let at = first * s.out_c;
    for (j, o) in out.chunks_exact_mut(s.out_c).enumerate() {
        o.copy_from_slice(bias);
        if let Some(r) = res {
            for (x, &v) in o.iter_mut().zip(&r[j * s.out_c..]) {
                *x += v;
            }
        }
        for i in 0..s.parts {
            let from = i * s.part_len + at + j * s.out_c;
            for (x, &v) in o.iter_mut().zip(&scratch[from..from + s.out_c]) {
                *x += v;
            }
        }
        for x in o.iter_mut() {
            *x = s.act.apply(*x);
        }
    }
}

#[cfg(kernel_simd)]
simd_entry!(add_sums_entry => same add_sums(s: &PartialSums, scratch: &[f32], first: usize, bias: &[f32], res: Option<&[f32]>, out: &mut [f32]));

/// The hidden channels a call computes: all of them, or (split by channels) h0..h1, with the
/// depthwise weights and bias of just those.
struct Hidden<'a> {
    h0: usize,
    h1: usize,
    depthwise: &'a [f32],
    depthwise_bias: &'a [f32],
}

impl<'a> Hidden<'a> {
    fn all(p: &InvertedResidual, w: &Weights<'a>) -> Hidden<'a> {
        Hidden { h0: 0, h1: p.hidden, depthwise: w.depthwise, depthwise_bias: w.depthwise_bias }
    }

    fn len(&self) -> usize {
        self.h1 - self.h0
    }
}

/// Output rows r0..r1 (over every image) into `output`, which holds just those rows: of all
/// hidden channels, or of some (then a partial sum: no bias, residual or activation).
#[allow(clippy::too_many_arguments)]
fn body(
    cpu: Cpu,
    p: &InvertedResidual,
    hidden: &Hidden,
    input: &[f32],
    w: &Weights,
    residual: Option<&[f32]>,
    r0: usize,
    r1: usize,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let (ring, tile) = scratch.split_at_mut(p.ring_len(hidden.len()));
    let image_len = p.input_len() / p.batch;
    for b in r0 / p.out_h..r1.div_ceil(p.out_h) {
        let image = &input[b * image_len..(b + 1) * image_len];
        let (first, last) = (r0.max(b * p.out_h) - b * p.out_h, r1.min((b + 1) * p.out_h) - b * p.out_h);
        let mut ox0 = 0;
        while ox0 < p.out_w {
            let strip = Strip::new(p, ox0, (ox0 + p.strip_w).min(p.out_w));
            let at = Rows { b, first, last, r0 };
            strip_rows(cpu, p, &strip, hidden, &at, image, w, residual, output, ring, tile);
            ox0 = strip.ox1;
        }
    }
}

/// Output columns ox0..ox1 and the input columns ix0..ix1 they read, with the depthwise
/// geometry of that part of a row.
struct Strip {
    ox0: usize,
    ox1: usize,
    ix0: usize,
    ix1: usize,
    g: RowGeometry,
}

impl Strip {
    fn new(p: &InvertedResidual, ox0: usize, ox1: usize) -> Strip {
        let win = p.win;
        // Input column of the first tap of column ox0 (padding clamps to column 0), and one
        // past the last tap of column ox1 - 1; a strip of every column takes whole rows.
        let whole = ox0 == 0 && ox1 == p.out_w;
        let ix0 = if whole { 0 } else { (ox0 * win.stride_w).saturating_sub(win.pad_left) };
        let ix1 = if whole {
            p.in_w
        } else {
            ((ox1 - 1) * win.stride_w + win.cols_read(1)).saturating_sub(win.pad_left).min(p.in_w)
        };
        // Relative to ix0, output column ox0 + j reads from j * stride + pad_left + ix0 - ox0 * stride.
        let pad_left = win.pad_left + ix0 - ox0 * win.stride_w;
        let g = RowGeometry { in_w: ix1 - ix0, channels: p.hidden, out_w: ox1 - ox0, win: Window { pad_left, ..win } };
        Strip { ox0, ox1, ix0, ix1, g }
    }
}

/// Which rows of which image, and where the output slice starts.
struct Rows {
    b: usize,
    first: usize,
    last: usize,
    r0: usize,
}

/// Rows first..last of image b, output columns of one strip.
#[allow(clippy::too_many_arguments)]
fn strip_rows(
    cpu: Cpu,
    p: &InvertedResidual,
    strip: &Strip,
    hidden: &Hidden,
    at: &Rows,
    image: &[f32],
    w: &Weights,
    residual: Option<&[f32]>,
    output: &mut [f32],
    ring: &mut [f32],
    tile: &mut [f32],
) {
    let (ring_rows, width, cols) = (p.ring_rows(), strip.ix1 - strip.ix0, strip.ox1 - strip.ox0);
    let (row_in, row_out) = (p.in_w * p.in_c, p.out_w * p.out_c);
    let hc = hidden.len();
    let (slot_len, tile_row) = (width * hc, cols * hc);
    let whole_rows = width == p.in_w;
    // This call's columns of the expand matrix, its rows of the project matrix.
    let expand = Gemm { m: 0, k: p.in_c, n: hc, act: p.expand_act };
    let expand_view = View { rows: p.in_c, cols: p.hidden, k0: 0, n0: hidden.h0 };
    let partial = hc < p.hidden;
    let project_view = View { rows: p.hidden, cols: p.out_c, k0: hidden.h0, n0: 0 };
    let g = RowGeometry { channels: hc, ..strip.g };
    let stem = p.stem.map(|c| Conv2d { batch: 1, ..c });
    // Next input row to compute into the ring (row iy lives in slot iy % ring_rows).
    let mut next = 0;
    let mut oy0 = at.first;
    while oy0 < at.last {
        let t = p.tile_rows.min(at.last - oy0);
        if p.has_ring() {
            // Input rows the tile reads: up to the last tap of its last output row.
            let end = (oy0 * p.win.stride_h + p.win.rows_read(t)).saturating_sub(p.win.pad_top).min(p.in_h);
            // Rows before the tile's first needed row are never read again: skip them.
            next = next.max((oy0 * p.win.stride_h).saturating_sub(p.win.pad_top));
            while next < end {
                // A run of rows whose ring slots are contiguous (and, for a strip, one row:
                // its pixels are not contiguous with the next row's), computed in one call.
                let slot = next % ring_rows;
                let n = (end - next).min(ring_rows - slot).min(if whole_rows { usize::MAX } else { 1 });
                let dst = &mut ring[slot * slot_len..(slot + n) * slot_len];
                if let Some(c) = &stem {
                    crate::direct::rows(cpu, c, image, w.expand, w.expand_bias, next, next + n, dst);
                } else {
                    let e = Gemm { m: n * width, ..expand };
                    let from = next * row_in + strip.ix0 * p.in_c;
                    let src = &image[from..from + ((n - 1) * p.in_w + width) * p.in_c];
                    crate::gemm::gemm_view(cpu, &e, &expand_view, src, w.expand, Some(w.expand_bias), None, dst);
                }
                next += n;
            }
        }
        // Depthwise rows into the tile.
        let mut rows: [Option<&[f32]>; MAX_KERNEL_H] = [None; MAX_KERNEL_H];
        for r in 0..t {
            let oy = oy0 + r;
            for (ky, slot) in rows.iter_mut().enumerate().take(p.win.kernel_h) {
                let iy = p.win.input_row(oy, ky, p.in_h);
                *slot = iy.map(|iy| {
                    if p.has_ring() {
                        let s = iy % ring_rows;
                        &ring[s * slot_len..(s + 1) * slot_len]
                    } else {
                        &image[iy * row_in + strip.ix0 * p.in_c..iy * row_in + strip.ix1 * p.in_c]
                    }
                });
            }
            crate::depthwise::row(
                cpu,
                &g,
                &rows[..p.win.kernel_h],
                hidden.depthwise,
                hidden.depthwise_bias,
                &mut tile[r * tile_row..(r + 1) * tile_row],
                p.dw_act,
            );
        }
        // Project the tile's rows into the output (with the residual's rows): whole rows are
        // contiguous; a strip is one row (tile_rows is 1).
        let global = at.b * p.out_h + oy0;
        let act = if partial { Act::None } else { p.project_act };
        let proj = Gemm { m: t * cols, k: hc, n: p.out_c, act };
        let start = global * row_out + strip.ox0 * p.out_c;
        let len = (t - 1) * row_out + cols * p.out_c;
        let res = residual.map(|x| &x[start..start + len]);
        let bias = (!partial).then_some(w.project_bias);
        let o = start - at.r0 * row_out;
        crate::gemm::gemm_view(
            cpu,
            &proj,
            &project_view,
            &tile[..t * tile_row],
            w.project,
            bias,
            res,
            &mut output[o..o + len],
        );
        oy0 += t;
    }
}
