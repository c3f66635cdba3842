//! Property tests: random small layers and blocks (odd sizes, channel counts that are not
//! multiples of the SIMD width, stride 2 on odd inputs, asymmetric padding, dilation, batch > 1,
//! every activation, residuals, squeeze-and-excitation gates) are built as ONNX, compiled (import, passes, lowering, plan) and
//! run by `exec` on every SIMD path with 1 and 2 threads, against the reference interpreter.

use mobilenet_compiler::ir::Tensor;
use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::{Options, exec, frontend_from_model, interp, lower, plan};
use mobilenet_kernels::{Cpu, SimdLevel, Threads};
use mobilenet_tests::check_close;
use proptest::prelude::*;

/// Deterministic values from a seed (proptest shrinks the seed like any other input).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Act {
    None,
    Relu,
    Relu6,
    HardSwish,
    HardSigmoid,
}

fn act_strategy() -> impl Strategy<Value = Act> {
    prop_oneof![Just(Act::None), Just(Act::Relu), Just(Act::Relu6), Just(Act::HardSwish), Just(Act::HardSigmoid)]
}

/// Appends the activation after `x` and returns the new value's name.
fn activate(b: ModelBuilder, x: &str, act: &Act, tag: &str) -> (ModelBuilder, String) {
    let y = format!("{x}_{tag}");
    let b = match act {
        Act::None => return (b, x.to_string()),
        Act::Relu => b.node("Relu", &[x], &[&y], vec![]),
        Act::Relu6 => {
            let (lo, hi) = (format!("{y}_lo"), format!("{y}_hi"));
            b.initializer(&lo, &[], &[0.0]).initializer(&hi, &[], &[6.0]).node("Clip", &[x, &lo, &hi], &[&y], vec![])
        }
        Act::HardSwish => b.node("HardSwish", &[x], &[&y], vec![]),
        Act::HardSigmoid => b.node("HardSigmoid", &[x], &[&y], vec![attr_float("alpha", 0.2)]),
    };
    (b, y)
}

#[derive(Clone, Debug)]
struct Conv {
    cin_per_group: usize,
    cout_per_group: usize,
    groups: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: usize,
    pads: [usize; 4],
}

fn conv_strategy() -> impl Strategy<Value = Conv> {
    (
        1..5usize,
        1..20usize,
        prop_oneof![Just(1usize), Just(2), Just(3)],
        (1..6usize, 1..6usize),
        (1..3usize, 1..3usize),
        1..3usize,
    )
        .prop_flat_map(|(cig, cog, groups, kernel, stride, dilation)| {
            (Just((cig, cog, groups, kernel, stride, dilation)), [0..kernel.0, 0..kernel.1, 0..kernel.0, 0..kernel.1])
        })
        .prop_map(|((cig, cog, groups, kernel, stride, dilation), pads)| Conv {
            cin_per_group: cig,
            cout_per_group: cog,
            groups,
            kernel,
            stride,
            dilation,
            pads,
        })
}

/// Input size large enough for the dilated kernel.
fn fits(c: &Conv, h: usize, w: usize) -> bool {
    h + c.pads[0] + c.pads[2] > (c.kernel.0 - 1) * c.dilation
        && w + c.pads[1] + c.pads[3] > (c.kernel.1 - 1) * c.dilation
}

fn conv_node(b: ModelBuilder, x: &str, y: &str, c: &Conv, seed: u64) -> ModelBuilder {
    let (cin, cout) = (c.cin_per_group * c.groups, c.cout_per_group * c.groups);
    let wn = cin / c.groups * cout * c.kernel.0 * c.kernel.1;
    let (wname, bname) = (format!("{y}_w"), format!("{y}_b"));
    let (k0, k1) = (c.kernel.0 as i64, c.kernel.1 as i64);
    b.initializer(&wname, &[cout as i64, c.cin_per_group as i64, k0, k1], &values(seed, wn))
        .initializer(&bname, &[cout as i64], &values(seed + 1, cout))
        .node(
            "Conv",
            &[x, &wname, &bname],
            &[y],
            vec![
                attr_ints("kernel_shape", &[k0, k1]),
                attr_ints("strides", &[c.stride.0 as i64, c.stride.1 as i64]),
                attr_ints("dilations", &[c.dilation as i64; 2]),
                attr_ints("pads", &c.pads.map(|p| p as i64)),
                attr_int("group", c.groups as i64),
            ],
        )
}

/// Compiles `model` and checks every path against the interpreter.
fn check(model: mobilenet_compiler::onnx::ModelProto, input_shape: &[usize], seed: u64) -> Result<(), TestCaseError> {
    let fe = frontend_from_model(&model, None, &Options::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let x = Tensor::f32(input_shape.to_vec(), values(seed ^ 0xabcdef, input_shape.iter().product()));
    let want = interp::run(&fe.imported, std::slice::from_ref(&x)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // A batch also runs with every first step that can image by image (threshold 0).
    let loops: &[Option<usize>] = if input_shape[0] > 1 { &[None, Some(0)] } else { &[None] };
    for threads in [1, 2] {
        for &image_loop in loops {
            let lowered = match image_loop {
                None => lower::lower(&fe.optimized, threads),
                bytes => lower::lower_with(&fe.optimized, threads, bytes, &Default::default()),
            };
            let mut prog = lowered.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let plan = plan::plan(&mut prog).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let pool = Threads::new(threads);
            for level in SimdLevel::ALL {
                let Some(cpu) = Cpu::with_level(level) else { continue };
                let got = exec::run(&prog, &plan, cpu, &pool, x.as_f32().unwrap())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let got = Tensor::f32(prog.output_shape.clone(), got);
                let looped = prog.image_loop.as_ref().map_or(0, |lp| lp.steps);
                check_close(&got, &want[0], 1e-4, 1e-5, false).map_err(|e| {
                    TestCaseError::fail(format!(
                        "{} with {threads} threads, {looped} steps image by image: {e}",
                        level.name()
                    ))
                })?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any 2-D convolution (regular, grouped, depthwise-like, pointwise), then an activation
    /// and maybe a residual Add: the passes fuse them, the kernels run them.
    #[test]
    fn convolutions(c in conv_strategy(), batch in 1..3usize, h in 1..12usize, w in 1..12usize,
                    act in act_strategy(), residual in any::<bool>(), seed in any::<u64>()) {
        prop_assume!(fits(&c, h, w));
        let cin = c.cin_per_group * c.groups;
        let shape = [batch, cin, h, w];
        let b = ModelBuilder::new(14).input("x", &shape.map(|d| d as i64));
        let b = conv_node(b, "x", "c", &c, seed);
        let (mut b, mut y) = activate(b, "c", &act, "act");
        let out_h = (h + c.pads[0] + c.pads[2] - (c.kernel.0 - 1) * c.dilation - 1) / c.stride.0 + 1;
        let out_w = (w + c.pads[1] + c.pads[3] - (c.kernel.1 - 1) * c.dilation - 1) / c.stride.1 + 1;
        if residual && out_h == h && out_w == w && c.cout_per_group * c.groups == cin {
            b = b.node("Add", &["x", &y], &["sum"], vec![]);
            y = "sum".into();
        }
        check(b.output(&y).build(), &shape, seed)?;
    }

    /// expand 1x1 -> depthwise -> project 1x1 (+ residual): the fused block, with odd sizes and
    /// channel counts, strides 1 and 2, kernels 3 and 5.
    #[test]
    fn inverted_residual_blocks(batch in 1..3usize, h in 1..15usize, w in 1..15usize, cin in 1..20usize,
                                hidden in 1..40usize, cout in 1..20usize, k in prop_oneof![Just(3usize), Just(5)],
                                stride in 1..3usize, expand in any::<bool>(), acts in (act_strategy(), act_strategy()),
                                stem in prop_oneof![Just(None), (1..4usize, 1..3usize).prop_map(Some)], seed in any::<u64>()) {
        let hidden = if expand { hidden } else { cin };
        // Without expansion, maybe a first conv (3x3 or 1x1 from 3 channels, stride 1 or 2)
        // computes the block's input: it streams into the block.
        let stem = stem.filter(|_| !expand).map(|(k, s)| Conv { cin_per_group: 3, cout_per_group: cin, groups: 1, kernel: (k, k), stride: (s, s), dilation: 1, pads: [k / 2; 4] });
        let shape = [batch, if stem.is_some() { 3 } else { cin }, h, w];
        let mut b = ModelBuilder::new(14).input("x", &shape.map(|d| d as i64));
        let mut x = "x".to_string();
        let mut residual_ok = true;
        if let Some(c) = &stem {
            prop_assume!(fits(c, h, w));
            b = conv_node(b, &x, "s", c, seed + 3);
            (b, x) = activate(b, "s", &acts.0, "stem");
            residual_ok = false;
        }
        if expand {
            let e = Conv { cin_per_group: cin, cout_per_group: hidden, groups: 1, kernel: (1, 1), stride: (1, 1), dilation: 1, pads: [0; 4] };
            b = conv_node(b, &x, "e", &e, seed);
            (b, x) = activate(b, "e", &acts.0, "act");
        }
        let p = k / 2;
        let d = Conv { cin_per_group: 1, cout_per_group: 1, groups: hidden, kernel: (k, k), stride: (stride, stride), dilation: 1, pads: [p; 4] };
        b = conv_node(b, &x, "d", &d, seed + 7);
        let (nb, dx) = activate(b, "d", &acts.1, "act");
        let pj = Conv { cin_per_group: hidden, cout_per_group: cout, groups: 1, kernel: (1, 1), stride: (1, 1), dilation: 1, pads: [0; 4] };
        b = conv_node(nb, &dx, "p", &pj, seed + 13);
        let mut y = "p".to_string();
        if stride == 1 && cin == cout && residual_ok {
            b = b.node("Add", &["x", "p"], &["sum"], vec![]);
            y = "sum".into();
        }
        check(b.output(&y).build(), &shape, seed)?;
    }

    /// A squeeze-and-excitation gate (global average -> 1x1 -> ReLU -> 1x1 -> HardSigmoid,
    /// multiplied into the input) before a pointwise conv: folded into the conv's weights per
    /// image when the conv is narrower than the image, a broadcast Mul otherwise.
    #[test]
    fn squeeze_excitation(batch in 1..4usize, c in 1..24usize, squeeze in 1..12usize, h in 1..9usize,
                          w in 1..9usize, cout in 1..24usize, act in act_strategy(), seed in any::<u64>()) {
        let shape = [batch, c, h, w];
        let pw = |cin, cout| Conv { cin_per_group: cin, cout_per_group: cout, groups: 1, kernel: (1, 1), stride: (1, 1), dilation: 1, pads: [0; 4] };
        let b = ModelBuilder::new(14).input("x", &shape.map(|d| d as i64)).node("GlobalAveragePool", &["x"], &["pool"], vec![]);
        let b = conv_node(b, "pool", "s1", &pw(c, squeeze), seed).node("Relu", &["s1"], &["s1r"], vec![]);
        let b = conv_node(b, "s1r", "s2", &pw(squeeze, c), seed + 3)
            .node("HardSigmoid", &["s2"], &["gate"], vec![attr_float("alpha", 1.0 / 6.0)])
            .node("Mul", &["x", "gate"], &["gated"], vec![]);
        let b = conv_node(b, "gated", "y", &pw(c, cout), seed + 5);
        let (b, y) = activate(b, "y", &act, "act");
        check(b.output(&y).build(), &shape, seed)?;
    }

    /// Max and average pooling (with and without padding counted) and global pooling.
    #[test]
    fn pooling(batch in 1..3usize, c in 1..20usize, h in 1..12usize, w in 1..12usize,
               k in (1..4usize, 1..4usize), s in (1..3usize, 1..3usize), pads in [0..2usize, 0..2, 0..2, 0..2],
               kind in 0..4usize, seed in any::<u64>()) {
        let pads: [usize; 4] = [pads[0].min(k.0 - 1), pads[1].min(k.1 - 1), pads[2].min(k.0 - 1), pads[3].min(k.1 - 1)];
        prop_assume!(h + pads[0] + pads[2] >= k.0 && w + pads[1] + pads[3] >= k.1);
        let shape = [batch, c, h, w];
        let b = ModelBuilder::new(14).input("x", &shape.map(|d| d as i64));
        let attrs = |include: i64| vec![
            attr_ints("kernel_shape", &[k.0 as i64, k.1 as i64]),
            attr_ints("strides", &[s.0 as i64, s.1 as i64]),
            attr_ints("pads", &pads.map(|p| p as i64)),
            attr_int("count_include_pad", include),
        ];
        let b = match kind {
            0 => b.node("MaxPool", &["x"], &["y"], attrs(0)[..3].to_vec()),
            1 => b.node("AveragePool", &["x"], &["y"], attrs(0)),
            2 => b.node("AveragePool", &["x"], &["y"], attrs(1)),
            _ => b.node("GlobalAveragePool", &["x"], &["y"], vec![]),
        };
        check(b.output("y").build(), &shape, seed)?;
    }
}
