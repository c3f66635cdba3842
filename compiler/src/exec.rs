//! Runs a lowered, planned `Program` by calling the kernels directly: the same calls, in the same
//! order, with the same arguments as the generated code makes. Tests use it to check lowering,
//! planning and every kernel path without compiling generated code.

use mobilenet_kernels::{self as k, Cpu};

use crate::error::{Result, err};
use crate::lower::{Kernel, Loc, Program, Region, Step};
use crate::plan::Plan;

/// Runs `prog` on `input` and returns a copy of its output.
pub fn run(prog: &Program, plan: &Plan, cpu: Cpu, input: &[f32]) -> Result<Vec<f32>> {
    if input.len() != prog.input_len() {
        return Err(err!(usage, "the input has {} elements, the model takes {}", input.len(), prog.input_len()));
    }
    let mut arena = vec![f32::NAN; plan.arena_len];
    for step in &prog.steps {
        run_step(step, prog, plan, cpu, input, &mut arena);
    }
    let (o, l) = plan.arena_range(&prog.output).ok_or_else(|| err!(internal, "the output is not in the arena"))?;
    Ok(arena[o..o + l].to_vec())
}

fn run_step(step: &Step, prog: &Program, plan: &Plan, cpu: Cpu, input: &[f32], arena: &mut [f32]) {
    let w = plan.arena_range(&step.write).expect("steps write to the arena");
    // Reads from the arena are borrowed around the written region (the kernels' arena::split
    // does the same with a fixed count in generated code).
    let (before, rest) = arena.split_at_mut(w.0);
    let (out, after) = rest.split_at_mut(w.1);
    let (before, after): (&[f32], &[f32]) = (before, after);
    let skip = usize::from(step.in_place);
    let reads: Vec<&[f32]> = step.reads[skip..]
        .iter()
        .map(|r: &Region| match r.loc {
            Loc::Input => &input[r.offset..r.offset + r.len],
            Loc::Weights => &prog.weights[r.offset..r.offset + r.len],
            Loc::Arena(_) => {
                let (o, l) = plan.arena_range(r).expect("arena region");
                if o + l <= w.0 { &before[o..o + l] } else { &after[o - w.0 - w.1..o - w.0 - w.1 + l] }
            }
        })
        .collect();
    let opt = |present: bool, i: usize| present.then(|| reads[i]);
    match &step.kernel {
        Kernel::Gemm { p, bias, residual } => {
            k::gemm::gemm(cpu, p, reads[0], reads[1], opt(*bias, 2), opt(*residual, 2 + *bias as usize), out)
        }
        Kernel::Depthwise { p, residual } => {
            k::depthwise::depthwise(cpu, p, reads[0], reads[1], reads[2], opt(*residual, 3), out)
        }
        Kernel::Conv2d { p, residual } => {
            k::direct::conv2d(cpu, p, reads[0], reads[1], reads[2], opt(*residual, 3), out)
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
