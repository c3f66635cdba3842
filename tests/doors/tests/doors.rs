//! Generated code, compiled by rustc through both doors, against onnxruntime's reference output
//! on every SIMD path (max |diff| <= 1e-4 * max |ref| + 1e-6, same argmax); batch-4 models
//! against four batch-1 runs; models reading a copy of their weights against the same models
//! reading them in place. Quantised models through both doors, on every SIMD path, give exactly
//! what `exec` gives for the same program (itself exactly the interpreter, tests/int8.rs), and
//! Coral's two pretrained int8 MobileNetV2 files classify the bundled photos through the
//! example's own input code.

use libtest_mimic::{Arguments, Failed, Trial};
use mobilenet_compiler::ir::Tensor;
use mobilenet_door_tests::{AnyRunner, Entry, INT8_MODELS, Int8Entry, MODELS, Runner};
use mobilenet_runtime::{Cpu, SimdLevel};
use mobilenet_tests::{all_fixtures, check_close};

fn main() {
    let args = Arguments::from_args();
    let fixtures = all_fixtures();
    let mut trials = Vec::new();
    for e in MODELS {
        let f = fixtures[e.fixture].clone();
        assert_eq!(f.name, e.name, "registry and fixture list agree");
        for level in SimdLevel::ALL {
            for (door, runner) in
                [("build_rs", e.build_door), ("macro", e.macro_door), ("macro_2_threads", e.macro_threads2)]
            {
                let f = f.clone();
                let name = format!("{door}::{}::{}", level.name(), e.name);
                trials.push(
                    Trial::test(name, move || reference(runner, level, &f)).with_ignored_flag(!level.is_supported()),
                );
            }
        }
        if e.name == "coral_mobilenet_v2_1.0_224_quant.float" {
            for (image, class, label) in [("chelsea.png", 286, "Egyptian cat"), ("coffee.png", 968, "espresso")] {
                let dir = f.path.parent().unwrap().parent().unwrap().to_path_buf();
                trials.push(Trial::test(format!("classify_example::{image}"), move || {
                    classify_example(e.build_door, &dir, image, class, label)
                }));
            }
        }
        let copied = f.clone();
        trials.push(Trial::test(format!("copied_weights::{}", e.name), move || copied_weights(e, &copied)));
        if let Some(b4) = e.batch4 {
            let f = f.clone();
            trials.push(Trial::test(format!("batch4::{}", e.name), move || batch4(e, b4, &f)));
        }
    }
    let int8 = mobilenet_tests::int8_fixtures().unwrap_or_default();
    for e in INT8_MODELS {
        let f = int8[e.fixture].clone();
        assert_eq!(f.name, e.name, "registry and fixture list agree");
        for level in SimdLevel::ALL {
            for (door, runner) in [("build_rs", e.build_door), ("macro_2_threads", e.macro_threads2)] {
                let f = f.clone();
                trials.push(
                    Trial::test(format!("int8::{door}::{}::{}", level.name(), e.name), move || {
                        int8_exact(runner, level, &f)
                    })
                    .with_ignored_flag(!level.is_supported()),
                );
            }
        }
        if e.name.starts_with("coral_") {
            for (image, class, label) in [("chelsea.png", 286, "Egyptian cat"), ("coffee.png", 968, "espresso")] {
                let dir = f.path.parent().unwrap().parent().unwrap().to_path_buf();
                trials.push(Trial::test(format!("classify_example_int8::{image}::{}", e.name), move || {
                    classify_int8(e, &dir, image, class, label)
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn values_f64(t: &Tensor) -> Vec<f64> {
    match (t.as_f32(), t.as_i64()) {
        (Some(v), _) => v.iter().map(|&x| x as f64).collect(),
        (_, Some(v)) => v.iter().map(|&x| x as f64).collect(),
        _ => Vec::new(),
    }
}

/// The generated code's output is exactly what `exec` computes for the same program.
fn int8_exact(run: AnyRunner, level: SimdLevel, f: &mobilenet_tests::Int8Fixture) -> Result<(), Failed> {
    use mobilenet_compiler::{exec, frontend, lower, plan};
    let cpu = Cpu::with_level(level).ok_or("unsupported")?;
    let x = f.input();
    let fe = frontend(&f.path, &f.options()).map_err(|e| e.to_string())?;
    let mut prog = lower::lower(&fe.optimized, 1).map_err(|e| e.to_string())?;
    let plan = plan::plan(&mut prog).map_err(|e| e.to_string())?;
    let want =
        exec::run_tensor(&prog, &plan, cpu, &mobilenet_runtime::Threads::single(), &x).map_err(|e| e.to_string())?;
    let got = run(cpu, &values_f64(&x));
    if got != values_f64(&want) {
        let same = got.iter().zip(values_f64(&want)).filter(|(a, b)| **a == *b).count();
        return Err(format!("{}: {same} of {} outputs equal exec's", f.name, got.len()).into());
    }
    Ok(())
}

/// Coral's int8 MobileNetV2 on the photo's bytes, ranked by the example's code.
fn classify_int8(
    e: &Int8Entry,
    models: &std::path::Path,
    image: &str,
    class: usize,
    label: &str,
) -> Result<(), Failed> {
    use classify::{InputLayout, load_image, read_labels, to_bytes, top_k};
    let img = load_image(&models.join("images").join(image))?;
    let x: Vec<f64> = to_bytes(&img, InputLayout::from_shape(&[1, 224, 224, 3])?).into_iter().map(f64::from).collect();
    let scores: Vec<f32> = (e.build_door)(Cpu::detect(), &x).into_iter().map(|v| v as f32).collect();
    let labels =
        read_labels(Some(&models.join("labels/imagenet_labels_1001_with_background.coral.txt")), scores.len())?;
    let (top, p) = top_k(&scores, 1)[0];
    if top != class || labels[top] != label {
        return Err(format!("{image}: top-1 {top} '{}' (score {p}), expected {class} '{label}'", labels[top]).into());
    }
    Ok(())
}

fn reference(run: Runner, level: SimdLevel, f: &mobilenet_tests::Fixture) -> Result<(), Failed> {
    let cpu = Cpu::with_level(level).ok_or("unsupported")?;
    let out = run(cpu, f.input().as_f32().unwrap());
    let out = Tensor::f32(f.output_shape.clone(), out);
    check_close(&out, &f.output(), 1e-4, 1e-6, true).map_err(|e| format!("{} on {}: {e}", f.name, level.name()).into())
}

/// A model reading the copy of its weights computes exactly what it computes reading them
/// where they are embedded.
fn copied_weights(e: &Entry, f: &mobilenet_tests::Fixture) -> Result<(), Failed> {
    let x = f.input();
    let x = x.as_f32().unwrap();
    let (embedded, copied) = ((e.build_door)(Cpu::detect(), x), (e.copied_weights)(Cpu::detect(), x));
    if embedded != copied {
        return Err("the outputs differ once the weights are copied".into());
    }
    Ok(())
}

/// Four different images in one batch-4 run give what four batch-1 runs give.
fn batch4(e: &Entry, run4: Runner, f: &mobilenet_tests::Fixture) -> Result<(), Failed> {
    let x = f.input();
    let x = x.as_f32().unwrap();
    let images: Vec<Vec<f32>> = (0..4)
        .map(|k| {
            x.iter().enumerate().map(|(i, v)| v * (1.0 - 0.1 * k as f32) + 0.01 * ((i * (k + 1)) % 7) as f32).collect()
        })
        .collect();
    let cpu = Cpu::detect();
    let singles: Vec<f32> = images.iter().flat_map(|img| (e.build_door)(cpu, img)).collect();
    let batched = run4(cpu, &images.concat());
    let mut shape = f.output_shape.clone();
    shape[0] = 4;
    check_close(&Tensor::f32(shape.clone(), batched), &Tensor::f32(shape, singles), 1e-5, 1e-7, true)
        .map_err(|e| format!("batch 4 vs 4 x batch 1: {e}").into())
}

/// The pretrained MobileNetV2 through the example's own preprocessing and ranking.
fn classify_example(
    run: Runner,
    models: &std::path::Path,
    image: &str,
    class: usize,
    label: &str,
) -> Result<(), Failed> {
    use classify::{InputLayout, Preprocess, load_image, read_labels, to_input, top_k};
    let img = load_image(&models.join("images").join(image))?;
    let layout = InputLayout::from_shape(&[1, 3, 224, 224])?;
    let x = to_input(&img, layout, Preprocess::Coral);
    let scores = run(Cpu::detect(), &x);
    let labels =
        read_labels(Some(&models.join("labels/imagenet_labels_1001_with_background.coral.txt")), scores.len())?;
    let (top, p) = top_k(&scores, 1)[0];
    if top != class || labels[top] != label {
        return Err(format!("{image}: top-1 {top} '{}' (p {p:.3}), expected {class} '{label}'", labels[top]).into());
    }
    Ok(())
}
