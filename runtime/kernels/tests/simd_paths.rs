//! Every SIMD path of every kernel against the scalar path, on shapes chosen to hit the edges:
//! channel counts that are not multiples of 8 or 16, row counts that are not multiples of the
//! register tile, stride 2 with odd sizes, asymmetric padding, dilation, batch > 1, every
//! activation. (The scalar path itself is checked against the reference interpreter, and that
//! against onnxruntime, by the workspace tests.)

use mobilenet_kernels::depthwise::{Depthwise, depthwise};
use mobilenet_kernels::direct::{Conv2d, conv2d};
use mobilenet_kernels::gemm::{Gemm, gemm};
use mobilenet_kernels::{Act, Cpu, SimdLevel, Threads, Window};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
    }
    /// Like `values`, with one value in 40 (in one case of four) NaN, +inf or -inf: the
    /// paths must agree on those too (NaN where the scalar path has NaN).
    fn inputs(&mut self, n: usize) -> Vec<f32> {
        let special = self.below(4) == 0;
        let mut v = self.values(n);
        if special {
            for x in v.iter_mut() {
                if self.below(40) == 0 {
                    *x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][self.below(3)];
                }
            }
        }
        v
    }
    fn act(&mut self) -> Act {
        [
            Act::None,
            Act::Relu,
            Act::Clip { min: 0.0, max: 6.0 },
            Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Act::HardSwish,
            Act::Sigmoid,
            // A NaN bound is no bound (the model's Clip may carry one).
            Act::Clip { min: f32::NAN, max: 0.5 },
        ][self.below(7)]
    }
}

/// The SIMD levels this machine has (a missing one is reported, not silently skipped).
fn levels() -> Vec<Cpu> {
    for level in SimdLevel::ALL.into_iter().filter(|l| l.is_for_this_arch() && !l.is_supported()) {
        eprintln!("note: this CPU (or build) lacks {}; that path is not tested here", level.name());
    }
    SimdLevel::ALL.into_iter().filter_map(Cpu::with_level).filter(|c| c.level() != SimdLevel::Scalar).collect()
}

/// On aarch64 and on wasm32 built with simd128 the vector path exists whatever the CPU: these
/// tests must run it, not only the scalar one.
#[test]
fn the_targets_vector_path_is_tested() {
    let tested: Vec<SimdLevel> = levels().iter().map(|c| c.level()).collect();
    if cfg!(target_arch = "aarch64") {
        assert!(tested.contains(&SimdLevel::Neon), "{tested:?}");
    }
    if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        assert!(tested.contains(&SimdLevel::Simd128), "{tested:?}");
    }
    assert_eq!(Cpu::detect().level(), SimdLevel::ALL.into_iter().rev().find(|l| l.is_supported()).unwrap());
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = if w.is_nan() || w.is_infinite() {
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())
        } else {
            (g - w).abs() <= 1e-5 * scale
        };
        assert!(same, "{what}: element {i}: {g} vs {w}");
    }
}

/// Runs `kernel` (writing `len` outputs) on the scalar path and on every SIMD path of this CPU,
/// and checks that they agree.
fn paths_agree(len: usize, what: impl std::fmt::Display, kernel: impl Fn(Cpu, &mut [f32])) {
    let mut want = vec![0.0; len];
    kernel(Cpu::scalar(), &mut want);
    for cpu in levels() {
        let mut got = vec![f32::NAN; len];
        kernel(cpu, &mut got);
        assert_close(&got, &want, &format!("{what} on {:?}", cpu.level()));
    }
}

#[test]
fn gemm_paths_agree() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    // Random shapes, then every width whose last vector is a half one on AVX-512 (n = 16j + 8).
    let half_tails = [8, 24, 40, 56, 72, 88, 1000].map(|n| (1 + r.below(9), 1 + r.below(40), n));
    for case in 0..300 + half_tails.len() {
        let (m, k, n) = half_tails
            .get(case.wrapping_sub(300))
            .copied()
            .unwrap_or_else(|| (1 + r.below(40), 1 + r.below(70), 1 + r.below(90)));
        let p = Gemm { m, k, n, act: r.act() };
        let a = r.inputs(p.m * p.k);
        let b_rows = r.values(p.k * p.n);
        let mut b = vec![f32::NAN; mobilenet_kernels::gemm::packed_b_len(p.k, p.n)];
        mobilenet_kernels::gemm::pack_b(&b_rows, p.k, p.n, &mut b);
        let bias = (r.below(2) == 0).then(|| {
            let mut v = r.values(p.n);
            v.resize(mobilenet_kernels::gemm::padded(p.n), 0.0);
            v
        });
        let res = (r.below(2) == 0).then(|| r.values(p.m * p.n));
        paths_agree(p.m * p.n, format!("case {case} {p:?}"), |cpu, out| {
            gemm(cpu, &p, &a, &b, bias.as_deref(), res.as_deref(), out)
        });
    }
}

/// A product by part of a packed matrix (rows k0.., columns n0..) equals the product by that
/// part packed alone, on every path (views starting mid-panel included).
#[test]
fn gemm_view_matches_the_part_packed_alone() {
    use mobilenet_kernels::gemm::{View, gemm_view, pack_b, packed_b_len, padded};
    let mut r = Rng(0x0bad_cafe_5eed_0042);
    for case in 0..200 {
        let (rows, cols) = (1 + r.below(60), 1 + r.below(200));
        let n0 = r.below(cols.div_ceil(16)) * 16;
        let k0 = r.below(rows);
        let p = Gemm { m: 1 + r.below(20), k: 1 + r.below(rows - k0), n: 1 + r.below(cols - n0), act: r.act() };
        let view = View { rows, cols, k0, n0 };
        let whole = r.values(rows * cols);
        let mut b = vec![f32::NAN; packed_b_len(rows, cols)];
        pack_b(&whole, rows, cols, &mut b);
        let part: Vec<f32> =
            (k0..k0 + p.k).flat_map(|kk| whole[kk * cols + n0..kk * cols + n0 + p.n].to_vec()).collect();
        let mut b_part = vec![f32::NAN; packed_b_len(p.k, p.n)];
        pack_b(&part, p.k, p.n, &mut b_part);
        let mut bias = r.values(cols);
        bias.resize(padded(cols), 0.0);
        let mut bias_part = bias[n0..n0 + p.n].to_vec();
        bias_part.resize(padded(p.n), 0.0);
        let a = r.values(p.m * p.k);
        let res = (r.below(2) == 0).then(|| r.values(p.m * p.n));
        let mut want = vec![0.0; p.m * p.n];
        gemm(Cpu::scalar(), &p, &a, &b_part, Some(&bias_part), res.as_deref(), &mut want);
        for cpu in SimdLevel::ALL.into_iter().filter_map(Cpu::with_level) {
            let mut got = vec![f32::NAN; p.m * p.n];
            gemm_view(cpu, &p, &view, &a, &b, Some(&bias), res.as_deref(), &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} {view:?} on {:?}", cpu.level()));
        }
    }
}

/// The gated GEMM (a squeeze-and-excitation gate folded into `b`) against a plain GEMM on
/// rows of `a` scaled by their image's gate, on every path, with 1 and 2 threads.
#[test]
fn gated_gemm_matches_gemm_on_gated_rows() {
    let mut r = Rng(0x5eed_9a7e_0000_0001);
    for case in 0..60 {
        let images = 1 + r.below(3);
        let (rows, k, n) = (1 + r.below(20), 1 + r.below(50), 1 + r.below(90));
        let p = Gemm { m: images * rows, k, n, act: r.act() };
        let (a, gate) = (r.values(p.m * k), r.values(images * k));
        let mut b = vec![0.0; mobilenet_kernels::gemm::packed_b_len(k, n)];
        mobilenet_kernels::gemm::pack_b(&r.values(k * n), k, n, &mut b);
        let mut bias = r.values(n);
        bias.resize(mobilenet_kernels::gemm::padded(n), 0.0);
        let res = (r.below(2) == 0).then(|| r.values(p.m * n));
        let gated: Vec<f32> = a.iter().enumerate().map(|(i, v)| v * gate[(i / k / rows) * k + i % k]).collect();
        let mut want = vec![0.0; p.m * n];
        gemm(Cpu::scalar(), &p, &gated, &b, Some(&bias), res.as_deref(), &mut want);
        for cpu in [Cpu::scalar()].into_iter().chain(levels()) {
            for threads in [Threads::single(), Threads::new(2)] {
                let mut got = vec![f32::NAN; p.m * n];
                let mut scratch = vec![f32::NAN; b.len()];
                mobilenet_kernels::gemm::gated_parallel(
                    &threads,
                    cpu,
                    &p,
                    images,
                    &a,
                    &b,
                    &gate,
                    Some(&bias),
                    res.as_deref(),
                    &mut got,
                    &mut scratch,
                );
                assert_close(&got, &want, &format!("case {case} {p:?} images {images} on {:?}", cpu.level()));
            }
        }
    }
}

#[test]
fn depthwise_paths_agree() {
    let mut r = Rng(0x0bad_cafe_f00d_1234);
    for case in 0..200 {
        let k = [1, 3, 5, 7][r.below(4)];
        let (kh, kw) = if r.below(4) == 0 { (k, 1 + r.below(3)) } else { (k, k) };
        let (sh, sw) = ([1, 2][r.below(2)], [1, 2][r.below(2)]);
        let (dh, dw) = if r.below(5) == 0 { (2, 2) } else { (1, 1) };
        // Pads up to one more than the kernel: whole rows and columns of windows in the padding.
        let (pt, pl, pb, pr) = (r.below(kh + 2), r.below(kw + 2), r.below(kh + 2), r.below(kw + 2));
        // A third of the rows are 7, 14, 21 or 28 output columns wide (blocks of 7 columns).
        let in_w = if r.below(3) == 0 {
            let ext = (kw - 1) * dw + 1;
            ((7 * (1 + r.below(4)) - 1) * sw + ext).saturating_sub(pl + pr).max(1)
        } else {
            1 + r.below(12)
        };
        let (in_h, in_w) = (1 + r.below(12), in_w);
        let span = |size: usize, k: usize, d: usize, p0: usize, p1: usize, s: usize| {
            let padded = size + p0 + p1;
            let ext = (k - 1) * d + 1;
            (padded >= ext).then(|| (padded - ext) / s + 1)
        };
        let (Some(out_h), Some(out_w)) = (span(in_h, kh, dh, pt, pb, sh), span(in_w, kw, dw, pl, pr, sw)) else {
            continue;
        };
        let p = Depthwise {
            batch: 1 + r.below(2),
            in_h,
            in_w,
            // A quarter end in half an AVX-512 vector (8, 24, 40: the AVX2 tail block).
            channels: if r.below(4) == 0 { 8 + 16 * r.below(3) } else { 1 + r.below(40) },
            out_h,
            out_w,
            win: Window {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                dilation_h: dh,
                dilation_w: dw,
                pad_top: pt,
                pad_left: pl,
            },
            act: r.act(),
        };
        let x = r.inputs(p.input_len());
        let w = r.values(kh * kw * p.channels);
        let b = r.values(p.channels);
        let res = (r.below(2) == 0).then(|| r.values(p.output_len()));
        paths_agree(p.output_len(), format!("case {case} {p:?}"), |cpu, out| {
            depthwise(cpu, &p, &x, &w, &b, res.as_deref(), out)
        });
    }
}

#[test]
fn conv2d_paths_agree() {
    let mut r = Rng(0x5eed_5eed_1357_2468);
    for case in 0..150 {
        let groups = [1, 1, 2, 3][r.below(4)];
        // Multiples of 16 output channels take the full-vector tile path on both SIMD levels.
        let out_per_group = [1 + r.below(24), 16, 32, 48][r.below(4)];
        let (in_c, out_c) = (groups * (1 + r.below(6)), groups * out_per_group);
        let (kh, kw) = ([1, 3, 5][r.below(3)], [1, 3, 5][r.below(3)]);
        let (sh, sw) = ([1, 2][r.below(2)], [1, 2][r.below(2)]);
        // Rows wide enough for interior groups of 16 pixels at stride 2 (the AVX-512 tile of one
        // vector of channels), and narrower.
        let (in_h, in_w) = (kh + r.below(9), kw + r.below(72));
        // Pads up to one more than the kernel: whole rows and columns of windows in the padding.
        let (pt, pl, pb, pr) = (r.below(kh + 2), r.below(kw + 2), r.below(kh + 2), r.below(kw + 2));
        let p = Conv2d {
            batch: 1 + r.below(2),
            in_h,
            in_w,
            in_c,
            out_h: (in_h + pt + pb - kh) / sh + 1,
            out_w: (in_w + pl + pr - kw) / sw + 1,
            out_c,
            groups,
            win: Window {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: pt,
                pad_left: pl,
            },
            act: r.act(),
            input_nchw: r.below(2) == 0,
        };
        let x = r.inputs(p.input_len());
        let w = r.values(p.weights_len());
        let b = r.values(out_c);
        let res = (r.below(2) == 0).then(|| r.values(p.output_len()));
        paths_agree(p.output_len(), format!("case {case} {p:?}"), |cpu, out| {
            conv2d(cpu, &p, &x, &w, &b, res.as_deref(), out)
        });
    }
}

#[test]
fn pooling_paths_agree() {
    use mobilenet_kernels::pool::{GlobalPool, Pool2d, PoolKind, global_average, pool2d};
    let mut r = Rng(0x9999_1111_2222_3333);
    for case in 0..150 {
        let (kh, kw) = (1 + r.below(3), 1 + r.below(3));
        let (sh, sw) = (1 + r.below(2), 1 + r.below(2));
        let (in_h, in_w) = (kh + r.below(7), kw + r.below(7));
        let (pt, pl, pb, pr) = (r.below(kh), r.below(kw), r.below(kh), r.below(kw));
        let kind = [
            PoolKind::Max,
            PoolKind::Average { count_include_pad: false },
            PoolKind::Average { count_include_pad: true },
        ][r.below(3)];
        let p = Pool2d {
            batch: 1 + r.below(2),
            in_h,
            in_w,
            channels: 1 + r.below(40),
            out_h: (in_h + pt + pb - kh) / sh + 1,
            out_w: (in_w + pl + pr - kw) / sw + 1,
            win: Window {
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: pt,
                pad_left: pl,
            },
            pad_bottom: pb,
            pad_right: pr,
            kind,
        };
        let x = r.inputs(p.batch * in_h * in_w * p.channels);
        let n = p.batch * p.out_h * p.out_w * p.channels;
        let mut want = vec![0.0; n];
        pool2d(Cpu::scalar(), &p, &x, &mut want);
        let g = GlobalPool { batch: p.batch, pixels: in_h * in_w, channels: p.channels };
        let mut want_g = vec![0.0; p.batch * p.channels];
        global_average(Cpu::scalar(), &g, &x, &mut want_g);
        for cpu in levels() {
            let mut got = vec![f32::NAN; n];
            pool2d(cpu, &p, &x, &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} on {:?}", cpu.level()));
            let mut got_g = vec![f32::NAN; want_g.len()];
            global_average(cpu, &g, &x, &mut got_g);
            assert_close(&got_g, &want_g, &format!("case {case} {g:?} on {:?}", cpu.level()));
        }
    }
}

#[test]
fn elementwise_paths_agree() {
    use mobilenet_kernels::elementwise::{BinOp, Binary, activation, activation_in_place, binary, binary_in_place};
    let mut r = Rng(0x4444_5555_6666_7777);
    let ops = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Max, BinOp::Min];
    for case in 0..200 {
        let shape = [1, 1, 1 + r.below(2), 1 + r.below(4), 1 + r.below(5), 1 + r.below(37)];
        let contiguous = |s: &[usize; 6]| {
            let mut st = [1usize; 6];
            for i in (0..5).rev() {
                st[i] = st[i + 1] * s[i + 1];
            }
            st
        };
        let full = contiguous(&shape);
        // b broadcasts along a random subset of axes (stride 0 there).
        let mut b_shape = shape;
        for d in b_shape.iter_mut() {
            if r.below(2) == 0 {
                *d = 1;
            }
        }
        let bs = contiguous(&b_shape);
        let b_strides: [usize; 6] = core::array::from_fn(|i| if b_shape[i] == 1 { 0 } else { bs[i] });
        let p = Binary { op: ops[r.below(6)], shape, a_strides: full, b_strides };
        let len: usize = shape.iter().product();
        let a = r.inputs(len);
        let b: Vec<f32> =
            r.values(b_shape.iter().product()).into_iter().map(|v| if v.abs() < 0.05 { 0.5 } else { v }).collect();
        let mut want = vec![0.0; len];
        binary(Cpu::scalar(), &p, &a, &b, &mut want);
        let act = r.act();
        let mut want_act = vec![0.0; len];
        activation(Cpu::scalar(), act, &a, &mut want_act);
        for cpu in levels() {
            let mut got = vec![f32::NAN; len];
            binary(cpu, &p, &a, &b, &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} on {:?}", cpu.level()));
            let mut in_place = a.clone();
            binary_in_place(cpu, &p, &mut in_place, &b);
            assert_close(&in_place, &want, &format!("in place, case {case} on {:?}", cpu.level()));
            let mut got_act = a.clone();
            activation_in_place(cpu, act, &mut got_act);
            assert_close(&got_act, &want_act, &format!("{act:?} on {:?}", cpu.level()));
        }
    }
}

#[test]
fn softmax_and_copy_paths_agree() {
    use mobilenet_kernels::layout::{StridedCopy, copy};
    use mobilenet_kernels::softmax::{Softmax, softmax};
    let mut r = Rng(0x1111_2222_3333_4444);
    for _ in 0..50 {
        let p = Softmax { outer: 1 + r.below(3), len: 1 + r.below(1001), inner: 1 + r.below(3) };
        let x: Vec<f32> = r.values(p.outer * p.len * p.inner).into_iter().map(|v| v * 20.0).collect();
        let mut want = vec![0.0; x.len()];
        softmax(Cpu::scalar(), &p, &x, &mut want);
        // NCHW -> NHWC of a random image.
        let (c, h, w) = (1 + r.below(9), 1 + r.below(9), 1 + r.below(9));
        let img = r.values(c * h * w);
        let t = StridedCopy {
            shape: [1, 1, 1, h, w, c],
            src_strides: [0, 0, 0, w, 1, h * w],
            src_offset: 0,
            dst_strides: [0, 0, 0, w * c, c, 1],
            dst_offset: 0,
        };
        let mut want_t = vec![0.0; img.len()];
        copy(Cpu::scalar(), &t, &img, &mut want_t);
        for cpu in levels() {
            let mut got = vec![f32::NAN; x.len()];
            softmax(cpu, &p, &x, &mut got);
            assert_close(&got, &want, &format!("{p:?} on {:?}", cpu.level()));
            let mut got_t = vec![f32::NAN; img.len()];
            copy(cpu, &t, &img, &mut got_t);
            assert_eq!(got_t, want_t);
        }
    }
}

/// The fused block against its three parts run one after the other, on every level.
#[test]
fn fused_block_matches_its_parts() {
    use mobilenet_kernels::fused::{InvertedResidual, Weights, inverted_residual};
    use mobilenet_kernels::gemm::{packed_b_len, padded};
    let mut r = Rng(0xfeed_beef_0123_4567);
    let (mut strips, mut by_channels) = (0, 0);
    for case in 0..120 {
        let k = [1, 3, 5][r.below(3)];
        let s = 1 + r.below(2);
        let expand = r.below(4) != 0;
        let in_c = 1 + r.below(20);
        // Without expansion, half the cases compute the depthwise input by a first conv.
        let stem = (!expand && r.below(2) == 0).then(|| {
            let (sk, ss) = ([1, 3][r.below(2)], 1 + r.below(2));
            let (img_h, img_w) = (sk + r.below(12), sk + r.below(12));
            Conv2d {
                batch: 0, // set below
                in_h: img_h,
                in_w: img_w,
                in_c: 1 + r.below(4),
                out_h: (img_h + 2 * (sk / 2) - sk) / ss + 1,
                out_w: (img_w + 2 * (sk / 2) - sk) / ss + 1,
                out_c: in_c,
                groups: 1,
                win: Window::square(sk, ss, sk / 2),
                act: r.act(),
                input_nchw: r.below(2) == 0,
            }
        });
        let (in_h, in_w) = match &stem {
            Some(c) => (c.out_h, c.out_w),
            None => (1 + r.below(11), 1 + r.below(11)),
        };
        let pad = k / 2;
        let out_h = (in_h + 2 * pad - k) / s + 1;
        let out_w = (in_w + 2 * pad - k) / s + 1;
        let batch = 1 + r.below(2);
        let stem = stem.map(|c| Conv2d { batch, ..c });
        // One row per tile: sometimes in strips of columns (any width, down to 1).
        let tile_rows = if r.below(2) == 0 { 1 } else { 1 + r.below(4) };
        let strip_w = if tile_rows == 1 && stem.is_none() && r.below(2) == 0 { 1 + r.below(out_w) } else { out_w };
        strips += usize::from(strip_w < out_w);
        // Expanded blocks of 64 or more channels split them across 2 or 3 threads when their
        // rows are few (see `splits_channels`).
        let hidden = if !expand {
            in_c
        } else if r.below(3) == 0 {
            64 + r.below(60)
        } else {
            1 + r.below(50)
        };
        let out_c = 1 + r.below(30);
        let p = InvertedResidual {
            batch,
            in_h,
            in_w,
            in_c,
            hidden,
            expand,
            expand_act: r.act(),
            stem,
            out_h,
            out_w,
            win: Window::square(k, s, pad),
            dw_act: r.act(),
            out_c,
            project_act: r.act(),
            tile_rows,
            strip_w,
        };
        let pack = |r: &mut Rng, k: usize, n: usize| {
            let mut b = vec![0.0; packed_b_len(k, n)];
            mobilenet_kernels::gemm::pack_b(&r.values(k * n), k, n, &mut b);
            b
        };
        let padded_bias = |r: &mut Rng, n: usize| {
            let mut v = r.values(n);
            v.resize(padded(n), 0.0);
            v
        };
        let (ew, eb) = match &stem {
            _ if expand => (pack(&mut r, in_c, hidden), padded_bias(&mut r, hidden)),
            Some(c) => (r.values(c.weights_len()), r.values(c.out_c)),
            None => (vec![], vec![]),
        };
        let (dw, db) = (r.values(k * k * hidden), r.values(hidden));
        let (pw, pb) = (pack(&mut r, hidden, out_c), padded_bias(&mut r, out_c));
        let w = Weights {
            expand: &ew,
            expand_bias: &eb,
            depthwise: &dw,
            depthwise_bias: &db,
            project: &pw,
            project_bias: &pb,
        };
        let x = r.inputs(p.input_len());
        let res = (r.below(2) == 0).then(|| r.values(p.output_len()));
        // The parts, on the scalar path.
        let cpu = Cpu::scalar();
        let pixels = p.batch * in_h * in_w;
        let e = if expand {
            let mut e = vec![0.0; pixels * hidden];
            gemm(cpu, &Gemm { m: pixels, k: in_c, n: hidden, act: p.expand_act }, &x, &ew, Some(&eb), None, &mut e);
            e
        } else if let Some(c) = &stem {
            let mut e = vec![0.0; c.output_len()];
            conv2d(cpu, c, &x, &ew, &eb, None, &mut e);
            e
        } else {
            x.clone()
        };
        let d = Depthwise {
            batch: p.batch,
            in_h,
            in_w,
            channels: hidden,
            out_h,
            out_w,
            win: Window::square(k, s, pad),
            act: p.dw_act,
        };
        let mut dout = vec![0.0; d.output_len()];
        depthwise(cpu, &d, &e, &dw, &db, None, &mut dout);
        let mut want = vec![0.0; p.output_len()];
        gemm(
            cpu,
            &Gemm { m: p.batch * out_h * out_w, k: hidden, n: out_c, act: p.project_act },
            &dout,
            &pw,
            Some(&pb),
            res.as_deref(),
            &mut want,
        );
        for cpu in SimdLevel::ALL.into_iter().filter_map(Cpu::with_level) {
            for threads in [1, 2, 3] {
                let pool = Threads::new(threads);
                let mut got = vec![f32::NAN; p.output_len()];
                let mut scratch = vec![f32::NAN; threads * p.scratch_len(threads)];
                inverted_residual(&pool, cpu, &p, &x, &w, res.as_deref(), &mut got, &mut scratch);
                by_channels += usize::from(p.splits_channels(threads));
                assert_close(&got, &want, &format!("case {case} {p:?} on {:?} with {threads} threads", cpu.level()));
            }
        }
    }
    assert!(strips >= 10, "only {strips} cases in strips");
    assert!(by_channels >= 20, "only {by_channels} runs split by channels");
}

/// Splitting rows across threads changes nothing (exactly: each output is computed by one
/// thread with the same code).
#[test]
fn parallel_kernels_match_one_thread() {
    use mobilenet_kernels::depthwise::depthwise_parallel;
    use mobilenet_kernels::direct::conv2d_parallel;
    use mobilenet_kernels::gemm::gemm_parallel;
    let mut r = Rng(0x7777_8888_9999_aaaa);
    let cpu = Cpu::detect();
    for threads in [2, 3, 4] {
        let pool = Threads::new(threads);
        let p = Gemm { m: 1 + r.below(300), k: 1 + r.below(40), n: 1 + r.below(70), act: Act::Relu };
        let a = r.values(p.m * p.k);
        let b = r.values(mobilenet_kernels::gemm::packed_b_len(p.k, p.n));
        let res = r.values(p.m * p.n);
        let (mut one, mut many) = (vec![0.0; p.m * p.n], vec![f32::NAN; p.m * p.n]);
        gemm(cpu, &p, &a, &b, None, Some(&res), &mut one);
        gemm_parallel(&pool, cpu, &p, &a, &b, None, Some(&res), &mut many);
        assert_eq!(one, many, "gemm with {threads} threads");
        // One row: the threads split the columns by panels (up to 3 panels and a bit).
        for n in [1 + r.below(64), 65 + r.below(64), 129 + r.below(100), 192] {
            let p = Gemm { m: 1, k: 1 + r.below(40), n, act: Act::Relu };
            let a = r.values(p.k);
            let b = r.values(mobilenet_kernels::gemm::packed_b_len(p.k, p.n));
            let bias = r.values(mobilenet_kernels::gemm::padded(p.n));
            let res = r.values(p.n);
            let (mut one, mut many) = (vec![0.0; p.n], vec![f32::NAN; p.n]);
            gemm(cpu, &p, &a, &b, Some(&bias), Some(&res), &mut one);
            gemm_parallel(&pool, cpu, &p, &a, &b, Some(&bias), Some(&res), &mut many);
            assert_eq!(one, many, "gemv {p:?} with {threads} threads");
        }

        let d = Depthwise {
            batch: 2,
            in_h: 9,
            in_w: 7,
            channels: 20,
            out_h: 9,
            out_w: 7,
            win: Window::square(3, 1, 1),
            act: Act::HardSwish,
        };
        let (x, w, bias, res) = (r.values(d.input_len()), r.values(9 * 20), r.values(20), r.values(d.output_len()));
        let (mut one, mut many) = (vec![0.0; d.output_len()], vec![f32::NAN; d.output_len()]);
        depthwise(cpu, &d, &x, &w, &bias, Some(&res), &mut one);
        depthwise_parallel(&pool, cpu, &d, &x, &w, &bias, Some(&res), &mut many);
        assert_eq!(one, many, "depthwise with {threads} threads");

        let c = Conv2d {
            batch: 2,
            in_h: 11,
            in_w: 10,
            in_c: 3,
            out_h: 6,
            out_w: 5,
            out_c: 24,
            groups: 1,
            win: Window::square(3, 2, 1),
            act: Act::Relu,
            input_nchw: true,
        };
        let (x, w, bias, res) =
            (r.values(c.input_len()), r.values(c.weights_len()), r.values(24), r.values(c.output_len()));
        let (mut one, mut many) = (vec![0.0; c.output_len()], vec![f32::NAN; c.output_len()]);
        conv2d(cpu, &c, &x, &w, &bias, Some(&res), &mut one);
        conv2d_parallel(&pool, cpu, &c, &x, &w, &bias, Some(&res), &mut many);
        assert_eq!(one, many, "conv2d with {threads} threads");
    }
}
