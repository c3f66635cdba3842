//! Runs a lowered, planned `Program` by calling the kernels directly: the same calls, in the same
//! order, with the same arguments as the generated code makes. Tests use it to check lowering,
//! planning and every kernel path without compiling generated code.

use mobilenet_kernels::{self as k, Cpu, Threads};

use crate::error::{Result, err};
use crate::lower::{Kernel, Loc, Program, Region, Step};
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
    // borrowed from the pieces in between (arena::split does the same in generated code).
    let scratch_range = step.scratch.as_ref().and_then(|s| plan.arena_range(s)).unwrap_or((w.0 + w.1, 0));
    let mut writes: Vec<(usize, &mut [f32])> = Vec::new();
    let mut gaps: Vec<(usize, &[f32])> = Vec::new();
    {
        let mut cuts = [w, scratch_range];
        cuts.sort();
        let mut rest: &mut [f32] = arena;
        let mut at = 0;
        for (i, (o, l)) in cuts.into_iter().enumerate() {
            let (gap, tail) = rest.split_at_mut(o - at);
            let (cut, tail) = tail.split_at_mut(l);
            gaps.push((at, gap));
            writes.push((i, cut));
            at = o + l;
            rest = tail;
        }
        gaps.push((at, rest));
        // writes[0] is the lower cut; put the output first.
        if cuts[0] != w {
            writes.swap(0, 1);
        }
    }
    let (out, scratch) = {
        let mut it = writes.into_iter().map(|(_, s)| s);
        (it.next().expect("output"), it.next().expect("scratch"))
    };
    let skip = usize::from(step.in_place);
    let reads: Vec<&[f32]> = step.reads[skip..]
        .iter()
        .map(|r: &Region| match r.loc {
            Loc::Input => &input[r.offset..r.offset + r.len],
            Loc::Weights => &prog.weights[r.offset..r.offset + r.len],
            Loc::Arena(_) => {
                let (o, l) = plan.arena_range(r).expect("arena region");
                let (start, gap) = gaps
                    .iter()
                    .find(|(s, g)| o >= *s && o + l <= s + g.len())
                    .expect("the plan keeps reads apart from writes");
                &gap[o - start..o - start + l]
            }
        })
        .collect();
    let opt = |present: bool, i: usize| present.then(|| reads[i]);
    match &step.kernel {
        Kernel::Gemm { p, bias, residual, .. } => k::gemm::gemm_parallel(
            threads,
            cpu,
            p,
            reads[0],
            reads[1],
            opt(*bias, 2),
            opt(*residual, 2 + *bias as usize),
            out,
        ),
        Kernel::GatedGemm { p, images, residual } => k::gemm::gated_parallel(
            threads,
            cpu,
            p,
            *images,
            reads[0],
            reads[1],
            reads[3],
            Some(reads[2]),
            opt(*residual, 4),
            out,
            scratch,
        ),
        Kernel::Depthwise { p, residual } => {
            k::depthwise::depthwise_parallel(threads, cpu, p, reads[0], reads[1], reads[2], opt(*residual, 3), out)
        }
        Kernel::Conv2d { p, residual } => {
            k::direct::conv2d_parallel(threads, cpu, p, reads[0], reads[1], reads[2], opt(*residual, 3), out)
        }
        Kernel::Fused { p, residual } => {
            let w = k::fused::Weights {
                expand: reads[1],
                expand_bias: reads[2],
                depthwise: reads[3],
                depthwise_bias: reads[4],
                project: reads[5],
                project_bias: reads[6],
            };
            k::fused::inverted_residual(threads, cpu, p, reads[0], &w, opt(*residual, 7), out, scratch)
        }
        Kernel::Pool2d(p) => k::pool::pool2d(cpu, p, reads[0], out),
        Kernel::GlobalAverage(p) => k::pool::global_average(cpu, p, reads[0], out),
        Kernel::MeanRows { rows, len } => k::pool::mean_rows(cpu, *rows, *len, reads[0], out),
        Kernel::Binary(p) if step.in_place => k::elementwise::binary_in_place(cpu, p, out, reads[0]),
        Kernel::Binary(p) => k::elementwise::binary(cpu, p, reads[0], reads[1], out),
        Kernel::Activation(a) if step.in_place => k::elementwise::activation_in_place(cpu, *a, out),
        Kernel::Activation(a) => k::elementwise::activation(cpu, *a, reads[0], out),
        Kernel::Softmax(p) => k::softmax::softmax(cpu, p, reads[0], out),
        Kernel::Copy(p) => k::layout::copy(cpu, p, reads[0], out),
        Kernel::Fill(v) => k::layout::fill(out, *v),
    }
}
