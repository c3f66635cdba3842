//! Runs a lowered, planned `Program` by calling the kernels directly: the same calls, in the same
//! order, with the same arguments as the generated code makes. Tests use it to check lowering,
//! planning and every kernel path without compiling generated code.

use mobilenet_kernels::{self as k, Cpu, Threads};

use crate::error::{Result, err};
use crate::ir::{DType, Tensor};
use crate::lower::call::{self, RunArgs};
use crate::lower::{ElemType, Loc, Program, Region, Step};
use crate::plan::Plan;

/// What a program reads: f32 values, or bytes (u8, or the bits of i8).
#[derive(Clone, Copy, Debug)]
enum Input<'a> {
    F32(&'a [f32]),
    Bytes(&'a [u8]),
}

impl<'a> Input<'a> {
    fn words(self) -> &'a [f32] {
        if let Input::F32(v) = self { v } else { &[] }
    }
    fn bytes(self) -> &'a [u8] {
        if let Input::Bytes(v) = self { v } else { &[] }
    }
}

/// Runs a float-input, float-output `prog` on `input` and returns a copy of its output.
pub fn run(prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: &[f32]) -> Result<Vec<f32>> {
    if prog.input_type != ElemType::F32 || prog.output_type != ElemType::F32 {
        return Err(err!(
            usage,
            "the model takes {} and gives {}: use run_tensor",
            prog.input_type.rust(),
            prog.output_type.rust()
        ));
    }
    let arena = run_arena(prog, plan, cpu, threads, Input::F32(input))?;
    let (o, l) = plan.arena_range(&prog.output).ok_or_else(|| err!(internal, "the output is not in the arena"))?;
    Ok(arena[o..o + l].to_vec())
}

/// Runs `prog` on a tensor of the type and size it takes, and returns its output tensor.
pub fn run_tensor(prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: &Tensor) -> Result<Tensor> {
    let bytes = tensor_bytes(prog, input)?;
    let input = match &bytes {
        Some(b) => Input::Bytes(b),
        None => Input::F32(input.as_f32().unwrap_or_default()),
    };
    let arena = run_arena(prog, plan, cpu, threads, input)?;
    let (o, l) = plan.arena_range(&prog.output).ok_or_else(|| err!(internal, "the output is not in the arena"))?;
    let out = &arena[o..o + l];
    let shape = prog.output_shape.clone();
    let n = prog.output_len();
    Ok(match prog.output_type {
        ElemType::F32 => Tensor::f32(shape, out.to_vec()),
        ElemType::U8 => Tensor::int(DType::U8, shape, k::arena::bytes(out)[..n].iter().map(|&b| b as i64).collect()),
        ElemType::I8 => Tensor::int(DType::I8, shape, k::arena::signed(out)[..n].iter().map(|&b| b as i64).collect()),
    })
}

/// An input for `prog` with every element the same middling value (0.5, or byte 128).
pub fn constant_input(prog: &Program) -> Tensor {
    let (shape, n) = (prog.input_shape.clone(), prog.input_len());
    match prog.input_type {
        ElemType::F32 => Tensor::f32(shape, vec![0.5; n]),
        ElemType::U8 => Tensor::int(DType::U8, shape, vec![128; n]),
        ElemType::I8 => Tensor::int(DType::I8, shape, vec![0; n]),
    }
}

/// The input's bytes for an 8-bit model (`None` for a float one), checked against the type and
/// size the model takes.
fn tensor_bytes(prog: &Program, input: &Tensor) -> Result<Option<Vec<u8>>> {
    let want = match prog.input_type {
        ElemType::F32 => DType::F32,
        ElemType::U8 => DType::U8,
        ElemType::I8 => DType::I8,
    };
    if input.dtype != want {
        return Err(err!(usage, "the input is {}, the model takes {}", input.dtype, want));
    }
    if input.shape.iter().product::<usize>() != prog.input_len() {
        return Err(err!(
            usage,
            "the input has {} elements, the model takes {}",
            input.shape.iter().product::<usize>(),
            prog.input_len()
        ));
    }
    if want == DType::F32 {
        return Ok(None);
    }
    let v = input.as_i64().ok_or_else(|| err!(internal, "an integer tensor without integers"))?;
    Ok(Some(v.iter().map(|&x| x as u8).collect()))
}

fn run_arena(prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: Input) -> Result<Vec<f32>> {
    let len = match input {
        Input::F32(v) => v.len(),
        Input::Bytes(b) => b.len(),
    };
    if len != prog.input_len() {
        return Err(err!(usage, "the input has {} elements, the model takes {}", len, prog.input_len()));
    }
    let mut arena = vec![f32::NAN; plan.arena_len];
    for (i, image) in prog.schedule() {
        run_step(&prog.step_at(i, image), prog, plan, cpu, threads, input, &mut arena);
    }
    Ok(arena)
}

/// Median time of every step over `runs` runs (after one warm-up run), in seconds: where the
/// time of a model goes (`mobilenetc profile`). Kernels and arguments are those of the
/// generated code; only the per-step clock is added. A step of the image loop counts the
/// time of all its images.
pub fn profile(
    prog: &Program,
    plan: &Plan,
    cpu: Cpu,
    threads: &Threads,
    input: &Tensor,
    runs: usize,
) -> Result<Vec<f64>> {
    let bytes = tensor_bytes(prog, input)?;
    let input = match &bytes {
        Some(b) => Input::Bytes(b),
        None => Input::F32(input.as_f32().unwrap_or_default()),
    };
    let mut arena = vec![0.0; plan.arena_len];
    let mut times = vec![Vec::with_capacity(runs); prog.steps.len()];
    for run in 0..=runs {
        let mut took = vec![0.0; prog.steps.len()];
        for (i, image) in prog.schedule() {
            let step = prog.step_at(i, image);
            let t = std::time::Instant::now();
            run_step(&step, prog, plan, cpu, threads, input, &mut arena);
            took[i] += t.elapsed().as_secs_f64();
        }
        if run > 0 {
            times.iter_mut().zip(took).for_each(|(t, s)| t.push(s));
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t.get(t.len() / 2).copied().unwrap_or(0.0)
        })
        .collect())
}

fn run_step(step: &Step, prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: Input, arena: &mut [f32]) {
    let w = plan.arena_range(&step.write).expect("steps write to the arena");
    // The written regions (output, and scratch for fused blocks) split the arena; reads are
    // borrowed from the rest, as `rt::arena::split` does in generated code.
    let s = step.scratch.as_ref().and_then(|s| plan.arena_range(s)).unwrap_or((w.0 + w.1, 0));
    let (rest, out, scratch) = k::arena::around(arena, w, s);
    let skip = usize::from(step.in_place);
    let reads: Vec<&[f32]> = step.reads[skip..]
        .iter()
        .map(|r: &Region| match r.loc {
            Loc::Input => &input.words()[r.offset..r.offset + r.len],
            Loc::Weights => &prog.weights[r.offset..r.offset + r.len],
            Loc::Arena(_) => rest.view(plan.arena_range(r).expect("arena region")),
        })
        .collect();
    call::run(step, &mut RunArgs { threads, cpu, reads, out, scratch, input_bytes: input.bytes() });
}
