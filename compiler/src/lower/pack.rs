//! Weight packing: ONNX weight layouts rearranged, at compile time, into the layouts the
//! kernels stream. Each function documents both layouts.

/// Pointwise conv `[m][c][1][1]` (or Gemm B as `[n][k]` when transposed) -> `[c][m]`.
pub fn transpose_2d(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = w[r * cols + c];
        }
    }
    out
}

/// A row-major `[k][n]` matrix in the GEMM kernel's layout (rows padded with zeros).
pub fn gemm_b(b: &[f32], k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; mobilenet_kernels::gemm::packed_b_len(k, n)];
    mobilenet_kernels::gemm::pack_b(b, k, n, &mut out);
    out
}

/// Pointwise conv weights `[out_c][in_c][1][1]` in the GEMM kernel's layout (`b` = `[in_c][out_c]`,
/// packed).
pub fn pointwise(w: &[f32], out_c: usize, in_c: usize) -> Vec<f32> {
    gemm_b(&transpose_2d(w, out_c, in_c), in_c, out_c)
}

/// A GEMM bias, padded like the rows of packed `b`.
pub fn gemm_bias(bias: &[f32]) -> Vec<f32> {
    let mut out = bias.to_vec();
    out.resize(mobilenet_kernels::gemm::padded(bias.len()), 0.0);
    out
}

/// Depthwise conv `[c][1][kh][kw]` -> `[kh][kw][c]`.
pub fn depthwise(w: &[f32], channels: usize, kh: usize, kw: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for c in 0..channels {
        for y in 0..kh {
            for x in 0..kw {
                out[(y * kw + x) * channels + c] = w[(c * kh + y) * kw + x];
            }
        }
    }
    out
}

/// General conv `[m][ci_g][kh][kw]` with `groups` groups -> `[g][kh][kw][ci_g][m_g]`.
pub fn direct(w: &[f32], m: usize, cig: usize, kh: usize, kw: usize, groups: usize) -> Vec<f32> {
    let mg = m / groups;
    let mut out = vec![0.0; w.len()];
    for oc in 0..m {
        let (g, mo) = (oc / mg, oc % mg);
        for ci in 0..cig {
            for y in 0..kh {
                for x in 0..kw {
                    out[(((g * kh + y) * kw + x) * cig + ci) * mg + mo] = w[((oc * cig + ci) * kh + y) * kw + x];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(transpose_2d(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // 2 channels, 1x2 kernel: [c0: a b][c1: c d] -> [tap0: a c][tap1: b d]
        assert_eq!(depthwise(&[1.0, 2.0, 3.0, 4.0], 2, 1, 2), [1.0, 3.0, 2.0, 4.0]);
        // 2 groups of one output and one input channel, 1x1: unchanged.
        assert_eq!(direct(&[5.0, 6.0], 2, 1, 1, 1, 2), [5.0, 6.0]);
        // one group, m=2, ci=2, 1x1: [m][ci] -> [ci][m]
        assert_eq!(direct(&[1.0, 2.0, 3.0, 4.0], 2, 2, 1, 1, 1), [1.0, 3.0, 2.0, 4.0]);
    }
}
