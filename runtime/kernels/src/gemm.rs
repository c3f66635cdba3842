//! Matrix multiply with a fused epilogue: `out = act(a · b + bias + residual)`.
//!
//! Serves 1x1 convolutions (a = NHWC pixels × input channels) and fully connected layers. The
//! compiler packs `b` as `[k][n]` (input channel major) so that a row of `b` is a run of output
//! channels: the SIMD microkernel keeps a tile of `MR` rows × 2 vectors of outputs in registers
//! and streams `b` once per tile.

use crate::act::Act;
use crate::cpu::Cpu;

/// `a` is `[m][k]`, `b` is `[k][n]`, `out` and `residual` are `[m][n]`, `bias` is `[n]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub act: Act,
}

pub fn gemm(cpu: Cpu, p: &Gemm, a: &[f32], b: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, out: &mut [f32]) {
    assert_eq!(a.len(), p.m * p.k, "gemm: a");
    assert_eq!(b.len(), p.k * p.n, "gemm: b");
    assert_eq!(out.len(), p.m * p.n, "gemm: out");
    assert!(bias.is_none_or(|b| b.len() == p.n), "gemm: bias");
    assert!(residual.is_none_or(|r| r.len() == p.m * p.n), "gemm: residual");
    if p.m == 0 || p.n == 0 {
        return;
    }
    dispatch!(cpu, entry, scalar(p, a, b, bias, residual, out), (p, a, b, bias, residual, out));
}

/// The reference: one output row at a time.
fn scalar(p: &Gemm, a: &[f32], b: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, out: &mut [f32]) {
    let (k, n) = (p.k, p.n);
    for i in 0..p.m {
        let row = &mut out[i * n..][..n];
        match bias {
            Some(bias) => row.copy_from_slice(bias),
            None => row.fill(0.0),
        }
        for kk in 0..k {
            let av = a[i * k + kk];
            for (o, &bv) in row.iter_mut().zip(&b[kk * n..][..n]) {
                *o += av * bv;
            }
        }
        if let Some(r) = residual {
            for (o, &rv) in row.iter_mut().zip(&r[i * n..][..n]) {
                *o += rv;
            }
        }
        for o in row.iter_mut() {
            *o = p.act.apply(*o);
        }
    }
}

#[cfg(target_arch = "x86_64")]
use simd::*;

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::Gemm;
    use crate::act::AffineClamp;
    use crate::x86::Simd;

    /// Rows per register tile.
    const MR: usize = 6;

    // Inlined into each #[target_feature] entry point, so the intrinsics compile with it.
    #[inline(always)]
    pub(super) fn gemm_simd<S: Simd>(
        p: &Gemm,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let (clamp, sigmoid_pass) = p.act.for_simd();
        let nr = 2 * S::LANES;
        let mut n0 = 0;
        while n0 < p.n {
            let width = nr.min(p.n - n0);
            let mut m0 = 0;
            while m0 + MR <= p.m {
                tile::<S, MR>(p, a, b, bias, residual, out, m0, n0, width, &clamp);
                m0 += MR;
            }
            while m0 < p.m {
                tile::<S, 1>(p, a, b, bias, residual, out, m0, n0, width, &clamp);
                m0 += 1;
            }
            n0 += width;
        }
        if sigmoid_pass {
            for o in out.iter_mut() {
                *o = p.act.apply(*o);
            }
        }
    }

    #[inline(always)]
    fn load_n<S: Simd>(s: &[f32], n: usize) -> S::V {
        if n == S::LANES { S::load(s) } else { S::load_partial(s, n) }
    }

    #[inline(always)]
    fn store_n<S: Simd>(s: &mut [f32], n: usize, v: S::V) {
        if n == S::LANES { S::store(s, v) } else { S::store_partial(s, n, v) }
    }

    /// Rows m0..m0+R, columns n0..n0+width (width <= 2 vectors).
    #[inline(always)]
    fn tile<S: Simd, const R: usize>(
        p: &Gemm,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        out: &mut [f32],
        m0: usize,
        n0: usize,
        width: usize,
        clamp: &AffineClamp,
    ) {
        let (k, n) = (p.k, p.n);
        let w0 = width.min(S::LANES);
        let w1 = width - w0;
        let init = match bias {
            Some(bias) => [
                load_n::<S>(&bias[n0..], w0),
                if w1 > 0 { load_n::<S>(&bias[n0 + S::LANES..], w1) } else { S::splat(0.0) },
            ],
            None => [S::splat(0.0); 2],
        };
        let mut acc = [init; R];
        let rows: [&[f32]; R] = core::array::from_fn(|r| &a[(m0 + r) * k..][..k]);
        if w1 > 0 {
            for kk in 0..k {
                let brow = &b[kk * n + n0..];
                let (b0, b1) = (load_n::<S>(brow, w0), load_n::<S>(&brow[S::LANES..], w1));
                for r in 0..R {
                    let av = S::splat(rows[r][kk]);
                    acc[r][0] = S::fma(av, b0, acc[r][0]);
                    acc[r][1] = S::fma(av, b1, acc[r][1]);
                }
            }
        } else {
            for kk in 0..k {
                let b0 = load_n::<S>(&b[kk * n + n0..], w0);
                for r in 0..R {
                    acc[r][0] = S::fma(S::splat(rows[r][kk]), b0, acc[r][0]);
                }
            }
        }
        for r in 0..R {
            let row = (m0 + r) * n + n0;
            for (v, w) in [(0, w0), (1, w1)] {
                if w == 0 {
                    continue;
                }
                let at = row + v * S::LANES;
                let mut x = acc[r][v];
                if let Some(res) = residual {
                    x = S::add(x, load_n::<S>(&res[at..], w));
                }
                store_n::<S>(&mut out[at..], w, S::activate(x, clamp));
            }
        }
    }

    simd_entry!(entry => gemm_simd(p: &Gemm, a: &[f32], b: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>, out: &mut [f32]));
}
