//! Micro-benchmarks per kernel kind, on the shapes of MobileNetV2 1.0/224, for each SIMD level.
//! Throughput is in multiply-accumulates per second (elements per second for pooling).
//!
//!     cargo bench -p mobilenet-kernels --bench kernels [-- FILTER]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mobilenet_kernels::depthwise::{Depthwise, depthwise};
use mobilenet_kernels::direct::{Conv2d, conv2d};
use mobilenet_kernels::gemm::{Gemm, gemm};
use mobilenet_kernels::pool::{GlobalPool, global_average};
use mobilenet_kernels::{Act, Cpu, SimdLevel, Window};

fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect()
}

fn cpus() -> Vec<Cpu> {
    SimdLevel::ALL.into_iter().filter_map(Cpu::with_level).collect()
}

const RELU6: Act = Act::Clip { min: 0.0, max: 6.0 };

fn bench_gemm(c: &mut Criterion) {
    // (pixels, in, out): expand and project 1x1 convolutions of MobileNetV2, and the last layers.
    let shapes = [
        (224, 16, 96),
        (12544, 16, 96),
        (3136, 24, 144),
        (3136, 144, 24),
        (784, 192, 32),
        (784, 120, 40),
        (784, 32, 192),
        (196, 64, 384),
        (196, 384, 64),
        (49, 160, 960),
        (49, 960, 160),
        (49, 320, 1280),
        (1, 1280, 1000),
    ];
    let mut g = c.benchmark_group("gemm");
    for (m, k, n) in shapes {
        let p = Gemm { m, k, n, act: RELU6 };
        let (a, b, bias) = (
            values(m * k),
            values(mobilenet_kernels::gemm::packed_b_len(k, n)),
            values(mobilenet_kernels::gemm::padded(n)),
        );
        let mut out = vec![0.0; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for cpu in cpus() {
            g.bench_function(format!("{}/{m}x{k}x{n}", cpu.level().name()), |bench| {
                bench.iter(|| gemm(cpu, &p, &a, &b, Some(&bias), None, &mut out))
            });
        }
    }
}

fn bench_depthwise(c: &mut Criterion) {
    // (size, channels, stride, kernel): MobileNetV2's, then V3's 5x5.
    let shapes = [
        (112, 32, 1, 3),
        (112, 96, 2, 3),
        (56, 144, 1, 3),
        (56, 144, 2, 3),
        (28, 192, 1, 3),
        (14, 576, 1, 3),
        (7, 960, 1, 3),
        (14, 480, 1, 5),
        (7, 576, 1, 5),
        // MobileNetV3-large's, whose channels end in half an AVX-512 vector.
        (28, 120, 1, 5),
        (56, 72, 2, 5),
        (14, 184, 1, 3),
    ];
    let mut g = c.benchmark_group("depthwise");
    for (size, ch, s, k) in shapes {
        let out_size = (size + 2 * (k / 2) - k) / s + 1;
        let p = Depthwise {
            batch: 1,
            in_h: size,
            in_w: size,
            channels: ch,
            out_h: out_size,
            out_w: out_size,
            win: Window::square(k, s, k / 2),
            act: RELU6,
        };
        let (x, w, b) = (values(p.input_len()), values(k * k * ch), values(ch));
        let mut out = vec![0.0; p.output_len()];
        g.throughput(Throughput::Elements((p.output_len() * k * k) as u64));
        for cpu in cpus() {
            g.bench_function(format!("{}/{size}x{size}x{ch}_s{s}_k{k}", cpu.level().name()), |bench| {
                bench.iter(|| depthwise(cpu, &p, &x, &w, &b, None, &mut out))
            });
        }
    }
}

fn bench_stem(c: &mut Criterion) {
    let mut g = c.benchmark_group("direct");
    // MobileNetV2's first layer (32 channels, Relu6), and V1 0.5's and V3's (16, HardSwish).
    for (out_c, act) in [(32, RELU6), (16, Act::HardSwish)] {
        let p = Conv2d {
            batch: 1,
            in_h: 224,
            in_w: 224,
            in_c: 3,
            out_h: 112,
            out_w: 112,
            out_c,
            groups: 1,
            win: Window::square(3, 2, 1),
            act,
            input_nchw: true,
        };
        let (x, w, b) = (values(p.input_len()), values(p.weights_len()), values(out_c));
        let mut out = vec![0.0; p.output_len()];
        g.throughput(Throughput::Elements((p.output_len() * 27) as u64));
        for cpu in cpus() {
            g.bench_function(format!("{}/stem_224x224x3_to_{out_c}_s2", cpu.level().name()), |bench| {
                bench.iter(|| conv2d(cpu, &p, &x, &w, &b, None, &mut out))
            });
        }
    }
}

fn bench_pool(c: &mut Criterion) {
    let p = GlobalPool { batch: 1, pixels: 49, channels: 1280 };
    let x = values(49 * 1280);
    let mut out = vec![0.0; 1280];
    let mut g = c.benchmark_group("global_average");
    g.throughput(Throughput::Elements((49 * 1280) as u64));
    for cpu in cpus() {
        g.bench_function(format!("{}/7x7x1280", cpu.level().name()), |bench| {
            bench.iter(|| global_average(cpu, &p, &x, &mut out))
        });
    }
}

fn bench_fused(c: &mut Criterion) {
    use mobilenet_kernels::fused::{InvertedResidual, Weights, inverted_residual};
    use mobilenet_kernels::gemm::{packed_b_len, padded};
    // (size, in, hidden, out, stride, tile rows): blocks of MobileNetV2.
    let blocks = [
        (112, 16, 96, 24, 2, 1),
        (56, 24, 144, 24, 1, 2),
        (28, 32, 192, 32, 1, 3),
        (14, 96, 576, 96, 1, 2),
        (7, 160, 960, 160, 1, 2),
    ];
    let mut g = c.benchmark_group("fused");
    for (size, in_c, hidden, out_c, s, tile_rows) in blocks {
        let out = (size + 2 - 3) / s + 1;
        let p = InvertedResidual {
            batch: 1,
            in_h: size,
            in_w: size,
            in_c,
            hidden,
            expand: true,
            expand_act: RELU6,
            stem: None,
            out_h: out,
            out_w: out,
            win: Window::square(3, s, 1),
            dw_act: RELU6,
            out_c,
            project_act: Act::None,
            tile_rows,
            strip_w: out,
        };
        let (ew, eb, dw, db, pw, pb) = (
            values(packed_b_len(in_c, hidden)),
            values(padded(hidden)),
            values(9 * hidden),
            values(hidden),
            values(packed_b_len(hidden, out_c)),
            values(padded(out_c)),
        );
        let w = Weights {
            expand: &ew,
            expand_bias: &eb,
            depthwise: &dw,
            depthwise_bias: &db,
            project: &pw,
            project_bias: &pb,
        };
        let x = values(p.input_len());
        let mut y = vec![0.0; p.output_len()];
        let mut scratch = vec![0.0; p.scratch_len(1)];
        let macs = size * size * in_c * hidden + out * out * hidden * (9 + out_c);
        g.throughput(Throughput::Elements(macs as u64));
        for cpu in cpus() {
            g.bench_function(format!("{}/{size}x{size}_{in_c}_{hidden}_{out_c}_s{s}", cpu.level().name()), |bench| {
                bench.iter(|| {
                    inverted_residual(
                        &mobilenet_kernels::Threads::single(),
                        cpu,
                        &p,
                        &x,
                        &w,
                        None,
                        &mut y,
                        &mut scratch,
                    )
                })
            });
        }
    }
}

/// The machine's FMA throughput (independent chains, nothing else): the ceiling every kernel
/// figure is measured against. Throughput is in multiply-accumulates per second.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] // the peak is measured on x86 only
fn bench_peak(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        const ITERS: usize = 10_000;
        #[target_feature(enable = "avx512f")]
        fn fma512(a: f32, b: f32) -> f32 {
            let mut acc = [_mm512_set1_ps(0.0); 16];
            let (a, b) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
            for _ in 0..ITERS {
                for i in 0..16 {
                    acc[i] = _mm512_fmadd_ps(acc[i], a, b);
                }
            }
            let mut s = _mm512_set1_ps(0.0);
            for v in acc {
                s = _mm512_add_ps(s, v);
            }
            _mm512_reduce_add_ps(s)
        }
        #[target_feature(enable = "avx2,fma")]
        fn fma256(a: f32, b: f32) -> f32 {
            let mut acc = [_mm256_set1_ps(0.0); 12];
            let (a, b) = (_mm256_set1_ps(a), _mm256_set1_ps(b));
            for _ in 0..ITERS {
                for i in 0..12 {
                    acc[i] = _mm256_fmadd_ps(acc[i], a, b);
                }
            }
            let mut t = [0f32; 8];
            // SAFETY: t holds 8 f32.
            unsafe {
                _mm256_storeu_ps(t.as_mut_ptr(), acc.iter().fold(_mm256_set1_ps(0.0), |s, v| _mm256_add_ps(s, *v)))
            };
            t.iter().sum()
        }
        let mut g = c.benchmark_group("peak");
        if SimdLevel::Avx512.is_supported() {
            g.throughput(Throughput::Elements((ITERS * 16 * 16) as u64));
            // SAFETY: AVX-512F is present (checked above).
            g.bench_function("avx512_fma", |bench| {
                bench.iter(|| unsafe { fma512(std::hint::black_box(0.999_999), std::hint::black_box(1e-7)) })
            });
        }
        if SimdLevel::Avx2.is_supported() {
            g.throughput(Throughput::Elements((ITERS * 12 * 8) as u64));
            // SAFETY: AVX2 and FMA are present (checked above).
            g.bench_function("avx2_fma", |bench| {
                bench.iter(|| unsafe { fma256(std::hint::black_box(0.999_999), std::hint::black_box(1e-7)) })
            });
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! { name = kernels; config = config(); targets = bench_peak, bench_gemm, bench_depthwise, bench_stem, bench_pool, bench_fused }
criterion_main!(kernels);
