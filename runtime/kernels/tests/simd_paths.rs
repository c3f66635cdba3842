//! Every SIMD path of every kernel against the scalar path, on shapes chosen to hit the edges:
//! channel counts that are not multiples of 8 or 16, row counts that are not multiples of the
//! register tile, stride 2 with odd sizes, asymmetric padding, dilation, batch > 1, every
//! activation. (The scalar path itself is checked against the reference interpreter, and that
//! against onnxruntime, by the workspace tests.)

use mobilenet_kernels::depthwise::{Depthwise, depthwise};
use mobilenet_kernels::direct::{Conv2d, conv2d};
use mobilenet_kernels::gemm::{Gemm, gemm};
use mobilenet_kernels::{Act, Cpu, SimdLevel};

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
    fn act(&mut self) -> Act {
        [
            Act::None,
            Act::Relu,
            Act::Clip { min: 0.0, max: 6.0 },
            Act::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Act::HardSwish,
            Act::Sigmoid,
        ][self.below(6)]
    }
}

/// The SIMD levels this machine has (a missing one is reported, not silently skipped).
fn levels() -> Vec<Cpu> {
    for level in SimdLevel::ALL.into_iter().filter(|l| !l.is_supported()) {
        eprintln!("note: this CPU lacks {}; that path is not tested here", level.name());
    }
    SimdLevel::ALL.into_iter().filter_map(Cpu::with_level).filter(|c| c.level() != SimdLevel::Scalar).collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * scale, "{what}: element {i}: {g} vs {w}");
    }
}

#[test]
fn gemm_paths_agree() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for case in 0..300 {
        let p = Gemm { m: 1 + r.below(40), k: 1 + r.below(70), n: 1 + r.below(90), act: r.act() };
        let a = r.values(p.m * p.k);
        let b = r.values(p.k * p.n);
        let bias = (r.below(2) == 0).then(|| r.values(p.n));
        let res = (r.below(2) == 0).then(|| r.values(p.m * p.n));
        let mut want = vec![0.0; p.m * p.n];
        gemm(Cpu::scalar(), &p, &a, &b, bias.as_deref(), res.as_deref(), &mut want);
        for cpu in levels() {
            let mut got = vec![f32::NAN; p.m * p.n];
            gemm(cpu, &p, &a, &b, bias.as_deref(), res.as_deref(), &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} on {:?}", cpu.level()));
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
        let (in_h, in_w) = (1 + r.below(12), 1 + r.below(12));
        let (pt, pl, pb, pr) = (r.below(kh), r.below(kw), r.below(kh), r.below(kw));
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
            channels: 1 + r.below(40),
            out_h,
            out_w,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
            pad_top: pt,
            pad_left: pl,
            act: r.act(),
        };
        let x = r.values(p.input_len());
        let w = r.values(kh * kw * p.channels);
        let b = r.values(p.channels);
        let res = (r.below(2) == 0).then(|| r.values(p.output_len()));
        let mut want = vec![0.0; p.output_len()];
        depthwise(Cpu::scalar(), &p, &x, &w, &b, res.as_deref(), &mut want);
        for cpu in levels() {
            let mut got = vec![f32::NAN; p.output_len()];
            depthwise(cpu, &p, &x, &w, &b, res.as_deref(), &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} on {:?}", cpu.level()));
        }
    }
}

#[test]
fn conv2d_paths_agree() {
    let mut r = Rng(0x5eed_5eed_1357_2468);
    for case in 0..150 {
        let groups = [1, 1, 2, 3][r.below(4)];
        let (in_c, out_c) = (groups * (1 + r.below(6)), groups * (1 + r.below(24)));
        let (kh, kw) = ([1, 3, 5][r.below(3)], [1, 3, 5][r.below(3)]);
        let (sh, sw) = ([1, 2][r.below(2)], [1, 2][r.below(2)]);
        let (in_h, in_w) = (kh + r.below(9), kw + r.below(9));
        let (pt, pl) = (r.below(kh), r.below(kw));
        let p = Conv2d {
            batch: 1 + r.below(2),
            in_h,
            in_w,
            in_c,
            out_h: (in_h + pt - kh) / sh + 1,
            out_w: (in_w + pl - kw) / sw + 1,
            out_c,
            groups,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pt,
            pad_left: pl,
            act: r.act(),
        };
        let x = r.values(p.input_len());
        let w = r.values(p.weights_len());
        let b = r.values(out_c);
        let res = (r.below(2) == 0).then(|| r.values(p.output_len()));
        let mut want = vec![0.0; p.output_len()];
        conv2d(Cpu::scalar(), &p, &x, &w, &b, res.as_deref(), &mut want);
        for cpu in levels() {
            let mut got = vec![f32::NAN; p.output_len()];
            conv2d(cpu, &p, &x, &w, &b, res.as_deref(), &mut got);
            assert_close(&got, &want, &format!("case {case} {p:?} on {:?}", cpu.level()));
        }
    }
}
