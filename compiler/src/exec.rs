//! Runs a lowered, planned `Program` by calling the kernels directly: the same calls, in the same
//! order, with the same arguments as the generated code makes. Tests use it to check lowering,
//! planning and every kernel path without compiling generated code.

use mobilenet_kernels::{self as k, Cpu, Threads};

use crate::error::{Result, err};
use crate::lower::call::{self, RunArgs};
use crate::lower::{Loc, Program, Region, Step};
use crate::plan::Plan;

/// Runs `prog` on `input` and returns a copy of its output.
pub fn run(prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: &[f32]) -> Result<Vec<f32>> {
    if input.len() != prog.input_len() {
        return Err(err!(usage, "the input has {} elements, the model takes {}", input.len(), prog.input_len()));
    }
    let mut arena = vec![f32::NAN; plan.arena_len];
    for (i, image) in prog.schedule() {
        run_step(&prog.step_at(i, image), prog, plan, cpu, threads, input, &mut arena);
    }
    let (o, l) = plan.arena_range(&prog.output).ok_or_else(|| err!(internal, "the output is not in the arena"))?;
    Ok(arena[o..o + l].to_vec())
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
    input: &[f32],
    runs: usize,
) -> Result<Vec<f64>> {
    if input.len() != prog.input_len() {
        return Err(err!(usage, "the input has {} elements, the model takes {}", input.len(), prog.input_len()));
    }
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

fn run_step(step: &Step, prog: &Program, plan: &Plan, cpu: Cpu, threads: &Threads, input: &[f32], arena: &mut [f32]) {
    let w = plan.arena_range(&step.write).expect("steps write to the arena");
    // The written regions (output, and scratch for fused blocks) split the arena; reads are
    // borrowed from the rest, as `rt::arena::split` does in generated code.
    let s = step.scratch.as_ref().and_then(|s| plan.arena_range(s)).unwrap_or((w.0 + w.1, 0));
    let (rest, out, scratch) = k::arena::around(arena, w, s);
    let skip = usize::from(step.in_place);
    let reads: Vec<&[f32]> = step.reads[skip..]
        .iter()
        .map(|r: &Region| match r.loc {
            Loc::Input => &input[r.offset..r.offset + r.len],
            Loc::Weights => &prog.weights[r.offset..r.offset + r.len],
            Loc::Arena(_) => rest.view(plan.arena_range(r).expect("arena region")),
        })
        .collect();
    call::run(step, &mut RunArgs { threads, cpu, reads, out, scratch });
}
