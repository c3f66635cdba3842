//! The compiler against onnxruntime on one generated case (fuzz/diff): a model, its input, and
//! onnxruntime's output or its reason for refusing the model. The reference interpreter and
//! the lowered program, on every SIMD path of this CPU and on 1 and 2 threads, must give
//! onnxruntime's output wherever both accept the model, and nothing may panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use mobilenet_compiler::ir::Tensor;
use mobilenet_compiler::{Frontend, InputShape, Options, ShapeOptions, exec, frontend, interp, lower, npy, plan};
use mobilenet_kernels::{Cpu, SimdLevel, Threads};

/// One case: `NAME.onnx`, `NAME.in.npy`, and `NAME.ort.npy` or `NAME.ort_error`.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
}

impl Case {
    pub fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    /// Every case in `dir`, by name.
    pub fn all_in(dir: &Path) -> Vec<Case> {
        let mut cases: Vec<Case> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".onnx").map(|n| Case { name: n.to_string(), dir: dir.to_path_buf() })
            })
            .collect();
        cases.sort_by(|a, b| a.name.cmp(&b.name));
        cases
    }

    /// The files of the case, to keep it as a regression.
    pub fn files(&self) -> Vec<PathBuf> {
        ["onnx", "in.npy", "ort.npy", "ort_error"].iter().map(|e| self.file(e)).filter(|p| p.exists()).collect()
    }
}

/// What became of a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Both refuse the model.
    BothRefuse,
    /// onnxruntime runs it, the compiler refuses it (with this message): allowed.
    Refused(String),
    /// The compiler accepts a model onnxruntime refuses (with this message).
    Lenient(String),
    /// Every path gives onnxruntime's output.
    Agree,
    /// The interpreter gives onnxruntime's output; code generation refuses the model (for this
    /// reason: several inputs, integer outputs).
    InterpreterAgrees(String),
    /// A path disagrees with onnxruntime.
    Mismatch(String),
    /// Something panicked.
    Panic(String),
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Mismatch(_) | Outcome::Panic(_))
    }
}

/// `got` within the fixtures' tolerance of `want`: NaN where it has NaN, the same infinities, and
/// finite values within 1e-4 of its largest finite magnitude (plus 1e-5).
pub fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.shape != want.shape {
        return Err(format!("shape {:?}, expected {:?}", got.shape, want.shape));
    }
    if let (Some(g), Some(w)) = (got.as_i64(), want.as_i64()) {
        return match g.iter().zip(w).position(|(a, b)| a != b) {
            Some(i) => Err(format!("element {i}: {}, expected {}", g[i], w[i])),
            None => Ok(()),
        };
    }
    let (Some(g), Some(w)) = (got.as_f32(), want.as_f32()) else {
        return Err(format!("type {}, expected {}", got.dtype, want.dtype));
    };
    let scale = w.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
    for (i, (&a, &b)) in g.iter().zip(w).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            a.is_finite() && (a - b).abs() <= 1e-4 * scale + 1e-5
        };
        if !ok {
            return Err(format!("element {i}: {a}, expected {b}"));
        }
    }
    Ok(())
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Runs a case through the front half, the interpreter, and the lowered program on every SIMD
/// path and on 1 and 2 threads.
pub fn run(case: &Case) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| run_inner(case))) {
        Ok(o) => o,
        Err(p) => Outcome::Panic(panic_message(p)),
    }
}

fn run_inner(case: &Case) -> Outcome {
    let x = match npy::read(&case.file("in.npy"), 1 << 30) {
        Ok(x) => x,
        Err(e) => return Outcome::Mismatch(format!("the case's input does not read: {e}")),
    };
    let ort_error = std::fs::read_to_string(case.file("ort_error")).ok();
    let want = match &ort_error {
        Some(_) => None,
        None => match npy::read(&case.file("ort.npy"), 1 << 30) {
            Ok(y) => Some(vec![y]),
            Err(e) => return Outcome::Mismatch(format!("the case's output does not read: {e}")),
        },
    };
    let options = Options {
        shapes: ShapeOptions { batch: None, input_shapes: vec![InputShape { name: None, dims: x.shape.clone() }] },
        ..Options::default()
    };
    let outcome = check(frontend(&case.file("onnx"), &options), &[x], want.as_deref());
    match outcome {
        Outcome::Lenient(_) => Outcome::Lenient(ort_error.unwrap_or_default().trim().to_string()),
        o => o,
    }
}

/// The compiler's answer for a model (`fe`: the front half's result) on `inputs`, against the
/// reference `want` (`None`: the reference refused the model): the interpreter, then, where the
/// model has one float input and output, the lowered program on every SIMD path and on 1 and 2
/// threads.
pub fn check(fe: mobilenet_compiler::Result<Frontend>, inputs: &[Tensor], want: Option<&[Tensor]>) -> Outcome {
    let fe = match fe {
        Ok(fe) => fe,
        Err(e) => {
            return match want {
                Some(_) => Outcome::Refused(e.to_string()),
                None => Outcome::BothRefuse,
            };
        }
    };
    // Lowering may refuse what the interpreter runs (several outputs, integer results).
    let mut programs = Vec::new();
    let mut refusal = None;
    for threads in [1, 2] {
        match lower::lower(&fe.optimized, threads).and_then(|mut p| plan::plan(&mut p).map(|plan| (p, plan))) {
            Ok(p) => programs.push((threads, p)),
            Err(e) => refusal = Some(e.to_string()),
        }
    }
    let Some(want) = want else {
        return Outcome::Lenient(String::new());
    };
    let ys = match interp::run(&fe.optimized, inputs) {
        Ok(y) => y,
        Err(e) => return Outcome::Refused(format!("the interpreter: {e}")),
    };
    if ys.len() != want.len() {
        return Outcome::Mismatch(format!("{} outputs, expected {}", ys.len(), want.len()));
    }
    for (i, (y, w)) in ys.iter().zip(want).enumerate() {
        if let Err(e) = compare(y, w) {
            return Outcome::Mismatch(format!("interpreter, output {i}: {e}"));
        }
    }
    if let Some(e) = refusal.filter(|_| programs.is_empty()) {
        return Outcome::InterpreterAgrees(e);
    }
    for (threads, (prog, plan)) in &programs {
        let pool = Threads::new(*threads);
        for cpu in SimdLevel::ALL.into_iter().filter_map(Cpu::with_level) {
            // (the element types the program takes and gives: f32, or bytes)
            let out = match exec::run_tensor(prog, plan, cpu, &pool, &inputs[0]) {
                Ok(t) => t,
                Err(e) => return Outcome::Mismatch(format!("{} on {threads} thread(s): {e}", cpu.level().name())),
            };
            if let Err(e) = compare(&out, &want[0]) {
                return Outcome::Mismatch(format!("lowered, {} on {threads} thread(s): {e}", cpu.level().name()));
            }
        }
    }
    Outcome::Agree
}
