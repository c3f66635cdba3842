//! 8-bit matrix product: `out[m][n] = requantize(bias'[j] - w_zero[j] * rowsum(a[i]) +
//! sum_k a[i][k] * b[k][j])`, for pointwise convolutions (rows = pixels of an NHWC image) and
//! Gemm / MatMul.
//!
//! `a` is u8, `b` int8. The compiler folds the zero points into the constants:
//! `sum((a - a_zero) * (b - w_zero)) = sum(a * b) - w_zero * sum(a) - a_zero * sum(b) + k *
//! a_zero * w_zero`, the last two terms per column, in `bias'`. The row sums are only needed
//! where the weights have a zero point (uint8 weights): `QGemm::row_sums`.
//!
//! `b` is packed in panels of `NR` columns, each `[k / 4][NR][4]` (four consecutive `k` of one
//! column together, zero-padded), the layout of `vpdpbusd`, which multiplies four u8 of `a` by
//! four int8 of a column and adds them to one int32 lane.
//!
//! Arithmetic is modulo 2^32 (wrapping): the compiler bounds the exact accumulator to int32,
//! so the decomposed sum, whatever its intermediate values, ends at the exact one.

use super::Requant;
use crate::check::{Check, ensure, expect};
use crate::cpu::Cpu;
use crate::threads::Threads;

/// Columns per panel of packed `b`.
pub const NR: usize = 16;

/// Columns rounded up to whole panels (the length of the per-column constants).
pub fn padded(n: usize) -> usize {
    n.next_multiple_of(NR)
}

/// Length of packed `b` for a `[k][n]` matrix.
pub fn packed_b_len(k: usize, n: usize) -> usize {
    padded(n) * k.div_ceil(4) * 4
}

/// Packs a row-major `[k][n]` int8 matrix into panels (`out` holds `packed_b_len(k, n)`).
pub fn pack_b(b: &[i8], k: usize, n: usize, out: &mut [i8]) {
    let k4 = k.div_ceil(4);
    for p in 0..padded(n) / NR {
        for kq in 0..k4 {
            for j in 0..NR {
                for t in 0..4 {
                    let (kk, col) = (kq * 4 + t, p * NR + j);
                    out[((p * k4 + kq) * NR + j) * 4 + t] = if kk < k && col < n { b[kk * n + col] } else { 0 };
                }
            }
        }
    }
}

/// Sizes and output rule of an 8-bit matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QGemm {
    /// Rows of `a` and of the output.
    pub m: usize,
    /// Columns of `a`, rows of `b`.
    pub k: usize,
    /// Columns of `b` and of the output.
    pub n: usize,
    /// Subtract `w_zero[j] * rowsum(a[i])` (the weights have zero points).
    pub row_sums: bool,
    /// Output zero point and bounds.
    pub requant: Requant,
}

/// What `qgemm` requires: `a` holds `m * k` bytes, `b` is packed, `consts` holds `bias'` and
/// `w_zero` (`padded(n)` each), `mult` `padded(n)` multipliers, `out` `m * n` bytes.
pub fn check(_threads: usize, p: &QGemm, a: usize, b: usize, consts: usize, mult: usize, out: usize) -> Check {
    ensure!(p.requant.is_valid(), "qgemm: output bounds");
    ensure!(a >= p.m * p.k, "qgemm: a is shorter than m * k");
    ensure!(b >= packed_b_len(p.k, p.n), "qgemm: packed b is too short");
    ensure!(consts >= 2 * padded(p.n), "qgemm: constants too short");
    ensure!(mult >= padded(p.n), "qgemm: multipliers too short");
    ensure!(out >= p.m * p.n, "qgemm: out is shorter than m * n");
    Ok(())
}

/// The product on `threads`, split by rows.
#[allow(clippy::too_many_arguments)]
pub fn qgemm(threads: &Threads, cpu: Cpu, p: &QGemm, a: &[u8], b: &[i8], consts: &[i32], mult: &[f32], out: &mut [u8]) {
    expect(check(threads.count(), p, a.len(), b.len(), consts.len(), mult.len(), out.len()));
    let out = &mut out[..p.m * p.n];
    // Each thread at least 8 rows, so that tiny products stay on one.
    threads.for_rows(p.m, 8, out, p.n, &|rows, o| rows_of(cpu, p, a, b, consts, mult, rows, o));
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn rows_of(
    cpu: Cpu,
    p: &QGemm,
    a: &[u8],
    b: &[i8],
    consts: &[i32],
    mult: &[f32],
    rows: core::ops::Range<usize>,
    out: &mut [u8],
) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if cpu.level() == crate::cpu::SimdLevel::Simd128 {
        return crate::arch::int8::qgemm(p, a, b, consts, mult, rows, out);
    }
    #[cfg(target_arch = "aarch64")]
    if cpu.int8_dot() {
        // SAFETY: `int8_dot` is true at the NEON level only where dotprod was detected; the
        // slice lengths were checked by `check`.
        return unsafe { crate::arch::int8::qgemm_dot(p, a, b, consts, mult, rows, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if cpu.int8_dot() {
        // SAFETY: `int8_dot` is true only where AVX-512F, BW, VL and VNNI were detected; the
        // slice lengths were checked by `check`.
        return unsafe { crate::arch::int8::qgemm_vnni(p, a, b, consts, mult, rows, out) };
    }
    #[cfg(target_arch = "x86_64")]
    match cpu.dot256() {
        // SAFETY: a Cpu with `Dot256::Vex` exists only where AVX2 and AVX-VNNI were detected,
        // with `Evex` only where AVX-512 VNNI and VL were; lengths checked.
        crate::cpu::Dot256::Vex => {
            return unsafe { crate::arch::int8::qgemm_avx_vnni(p, a, b, consts, mult, rows, out) };
        }
        crate::cpu::Dot256::Evex => {
            return unsafe { crate::arch::int8::qgemm_vnni256(p, a, b, consts, mult, rows, out) };
        }
        crate::cpu::Dot256::None => {}
    }
    #[cfg(target_arch = "x86_64")]
    if cpu.level() >= crate::cpu::SimdLevel::Avx2 {
        // SAFETY: a Cpu of this level exists only where AVX2 was detected; lengths checked.
        return unsafe { crate::arch::int8::qgemm_avx2(p, a, b, consts, mult, rows, out) };
    }
    let _ = cpu;
    scalar(p, a, b, consts, mult, rows, out);
}

/// The reference path: one output at a time.
fn scalar(p: &QGemm, a: &[u8], b: &[i8], consts: &[i32], mult: &[f32], rows: core::ops::Range<usize>, out: &mut [u8]) {
    let (k, n, k4) = (p.k, p.n, p.k.div_ceil(4));
    let (bias, w_zero) = consts.split_at(padded(n));
    for (r, i) in rows.enumerate() {
        let row = &a[i * k..][..k];
        let sum: i32 = if p.row_sums { row.iter().map(|&v| v as i32).sum() } else { 0 };
        for j in 0..n {
            let panel = &b[(j / NR) * k4 * NR * 4..];
            let mut acc = bias[j].wrapping_sub(w_zero[j].wrapping_mul(sum));
            for (kk, &x) in row.iter().enumerate() {
                let w = panel[((kk / 4) * NR + j % NR) * 4 + kk % 4];
                acc = acc.wrapping_add(x as i32 * w as i32);
            }
            out[r * n + j] = p.requant.apply(acc, mult[j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::SimdLevel;
    use std::vec;
    use std::vec::Vec;

    /// A small xorshift generator for test data.
    fn bytes(seed: u64, len: usize) -> impl Iterator<Item = u8> {
        let mut s = seed | 1;
        (0..len).map(move |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
    }

    /// Every path against the plain definition, for sizes around the panel and tile edges.
    #[test]
    fn every_path_matches_the_definition() {
        for (case, &(m, k, n, zero)) in [
            (1, 1, 1, false),
            (5, 7, 17, true),
            (13, 16, 32, false),
            (9, 33, 70, true),
            (30, 96, 24, false),
            (6, 20, 50, true),
            (7, 12, 64, false),
            (6, 12, 40, true),
            (10, 24, 16, true),
            (9, 8, 16, false),
            (13, 16, 40, true),
            (5, 64, 20, true),
            (7, 18, 90, true),
            (6, 100, 33, true),
            (5, 130, 20, true),
            (70, 20, 24, true),
        ]
        .iter()
        .enumerate()
        {
            let a: Vec<u8> = bytes(case as u64 * 7 + 1, m * k).collect();
            let b: Vec<i8> = bytes(case as u64 * 7 + 2, k * n).map(|v| v as i8).collect();
            // Cases 8, 12 and 13 have one zero point for all columns (TF1 style), the others one
            // per column. (Rows up to 64 bytes and longer ones take different row-sum loops; case 15 has more
            // rows than a chunk of the aarch64 kernel.)
            let w_zero: Vec<i32> = (0..padded(n))
                .map(|j| match (zero && j < n, case) {
                    (false, _) => 0,
                    (true, 8 | 12 | 13) => 5,
                    (true, _) => j as i32 % 7 - 3,
                })
                .collect();
            let bias: Vec<i32> = (0..padded(n)).map(|j| j as i32 * 37 - 500).collect();
            // Small multipliers (the usual case; the AVX-512 epilogue then converts without a
            // cap), and large ones in cases 6, 7 and 9 (most outputs saturate; in 7 and 9,
            // products beyond the int32 range both ways, which need the cap).
            let scale = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 900.0, 1e9, 1.0, 1e7, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0][case];
            let mult: Vec<f32> = (0..padded(n)).map(|j| (0.0007 + j as f32 * 0.00003) * scale).collect();
            let requant = Requant { zero_point: 100, lo: 3, hi: 250 };
            let p = QGemm { m, k, n, row_sums: zero, requant };
            let mut packed = vec![0i8; packed_b_len(k, n)];
            pack_b(&b, k, n, &mut packed);
            let consts: Vec<i32> = bias.iter().chain(&w_zero).copied().collect();
            let want: Vec<u8> = (0..m * n)
                .map(|o| {
                    let (i, j) = (o / n, o % n);
                    let acc: i32 = bias[j]
                        + (0..k).map(|kk| a[i * k + kk] as i32 * (b[kk * n + j] as i32 - w_zero[j])).sum::<i32>();
                    requant.apply(acc, mult[j])
                })
                .collect();
            let cpus = SimdLevel::ALL.into_iter().filter_map(Cpu::with_level);
            for cpu in cpus.chain(Cpu::with_dot256()) {
                for cpu in [cpu, cpu.without_int8_dot()] {
                    for threads in [1, 2] {
                        let mut out = vec![0u8; m * n];
                        qgemm(&Threads::new(threads), cpu, &p, &a, &packed, &consts, &mult, &mut out);
                        assert_eq!(out, want, "{m}x{k}x{n} {cpu:?} threads {threads}");
                    }
                }
            }
        }
    }
}
