//! `mobilenetc`: look at what the compiler does with a MobileNet ONNX file, and run it.
//!
//! Exit status: 0 on success, 2 on bad input or usage (one line on stderr naming the problem).

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mobilenet_compiler::ir::{DType, print};
use mobilenet_compiler::lower::ElemType;
use mobilenet_compiler::{Compiler, Error, Frontend, InputShape, Options, ShapeOptions, frontend, interp, npy, stats};

mod runner;

#[derive(Parser)]
#[command(name = "mobilenetc", version, about = "Ahead-of-time MobileNet compiler: ONNX in, specialised Rust out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the IR, as imported or optimised, as text, Graphviz DOT or JSON.
    Dump {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, value_enum, default_value_t = Stage::Optimized)]
        stage: Stage,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Parameters, MACs (total and per layer), weight bytes, node counts, fusions applied.
    Stats {
        #[command(flatten)]
        model: ModelArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write the generated Rust source (OUTPUT) and its weight blob (OUTPUT's stem + .weights.bin).
    Emit {
        #[command(flatten)]
        model: ModelArgs,
        /// The .rs file to write; the blob goes beside it.
        #[arg(short, long)]
        output: PathBuf,
        /// Name of the generated struct (default: the model file's stem in CamelCase).
        #[arg(long)]
        struct_name: Option<String>,
    },
    /// Run the model on an input .npy and write the output .npy.
    Run {
        #[command(flatten)]
        model: ModelArgs,
        /// Input array (float32, the layout the model declares).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the output array.
        #[arg(long)]
        output: PathBuf,
        /// Run the reference interpreter on the optimised IR instead of compiled code.
        #[arg(long)]
        interpret: bool,
        /// SIMD path of the compiled code (default: the best this CPU, or the target, has).
        #[arg(long, value_enum)]
        simd: Option<Simd>,
        /// Cross-build the generated code for this target and run it under qemu-aarch64 or node
        /// (`scripts/setup-cross` installs them).
        #[arg(long, value_enum)]
        target: Option<Target>,
    },
    /// Where the time goes: the median time of every kernel call (run in this process, with the
    /// kernels and arguments of the generated code).
    Profile {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, value_enum)]
        simd: Option<Simd>,
        /// Threads inside each layer.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Median and min latency of the generated code over warm runs.
    ///
    /// The model reads its weights from a copy on 2 MiB pages, as a long-running process would
    /// (`copy_weights_to_huge_pages`); MOBILENET_WEIGHTS=embedded reads them where they are
    /// embedded, as `new()` alone does.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Timed runs.
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        /// Worker threads inside each layer.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// SIMD path (default: the best this CPU, or the target, has).
        #[arg(long, value_enum)]
        simd: Option<Simd>,
        /// Cross-build for this target and time it under qemu-aarch64 (whose timings say
        /// nothing about a real ARM core) or node.
        #[arg(long, value_enum)]
        target: Option<Target>,
        /// Machine-readable output: median_ms, min_ms, mean_ms, max_ms, runs, warmup, batch,
        /// simd, simd_path, arena_bytes.
        #[arg(long)]
        json: bool,
        /// Become a benchmark worker (the protocol of bench/compare.py) instead of timing here;
        /// with --print-binary, print the built runner's path and exit.
        #[arg(long, hide = true)]
        serve: bool,
        #[arg(long, hide = true)]
        print_binary: bool,
    },
}

#[derive(Args)]
struct ModelArgs {
    /// The ONNX file.
    model: PathBuf,
    /// Batch size for a model whose batch dimension is symbolic (default 1).
    #[arg(long)]
    batch: Option<usize>,
    /// Full input shape, for symbolic dimensions: 1,3,48,192 (or NAME=1,3,48,192). Repeatable.
    #[arg(long = "input-shape", value_parser = InputShape::parse)]
    input_shape: Vec<InputShape>,
}

impl ModelArgs {
    fn options(&self) -> Options {
        Options {
            shapes: ShapeOptions { batch: self.batch, input_shapes: self.input_shape.clone() },
            ..Options::default()
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Simd {
    Scalar,
    Avx2,
    Avx512,
    Neon,
    Simd128,
}

impl Simd {
    fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
            Simd::Neon => "neon",
            Simd::Simd128 => "simd128",
        }
    }
    /// Refuses a level this CPU (or the cross target) cannot run, rather than quietly running
    /// another.
    fn checked(level: Option<Simd>, target: Option<Target>) -> Result<Option<&'static str>, Error> {
        let Some(level) = level else { return Ok(None) };
        let parsed = mobilenet_kernels::SimdLevel::parse(level.name());
        match target {
            None if parsed.is_some_and(|l| l.is_supported()) => Ok(Some(level.name())),
            None => Err(Error::usage(format!("this CPU does not support --simd {}", level.name()))),
            Some(t) if parsed.is_some_and(|l| t.cross().has_level(l)) => Ok(Some(level.name())),
            Some(t) => {
                Err(Error::usage(format!("--target {} has no --simd {} path", t.cross().triple(), level.name())))
            }
        }
    }
}

/// The targets `run` and `bench` can cross-build for.
#[derive(Clone, Copy, ValueEnum)]
enum Target {
    #[value(name = "aarch64-unknown-linux-gnu")]
    Aarch64,
    #[value(name = "wasm32-wasip1")]
    Wasm32,
}

impl Target {
    fn cross(self) -> runner::CrossTarget {
        match self {
            Target::Aarch64 => runner::CrossTarget::Aarch64,
            Target::Wasm32 => runner::CrossTarget::Wasm32,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Stage {
    Imported,
    Optimized,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Dot,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A bug must still end in one line and status 2, as an internal error, not in a backtrace
    // and status 101: the panic's message is kept for that line.
    let message = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = message.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut m) = seen.lock() {
            *m = info.to_string();
        }
    }));
    let result = std::panic::catch_unwind(|| execute(cli.command)).unwrap_or_else(|_| {
        let m = message.lock().map(|m| m.replace('\n', " ")).unwrap_or_default();
        Err(Error::internal(format!("{m} (please report)")))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<(), Error> {
    match command {
        Command::Dump { model, stage, format, output } => {
            let fe = frontend(&model.model, &model.options())?;
            let (g, name) = match stage {
                Stage::Imported => (&fe.imported, "imported"),
                Stage::Optimized => (&fe.optimized, "optimized"),
            };
            let text = match format {
                Format::Text => print::to_text(g, name)?,
                Format::Dot => print::to_dot(g, name)?,
                Format::Json => print::to_json(g, name)? + "\n",
            };
            emit(&text, output.as_deref())
        }
        Command::Emit { model, output, struct_name } => {
            let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
            if output.extension().is_none_or(|e| e != "rs") {
                return Err(Error::usage(format!("-o {}: the output must be a .rs file", output.display())));
            }
            let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut compiler = Compiler::new(&model.model).options(model.options()).file_name(stem);
            if let Some(name) = struct_name {
                compiler = compiler.struct_name(name);
            }
            let written = compiler.write_to(dir)?;
            eprintln!("wrote {} and its weights", written.display());
            Ok(())
        }
        Command::Profile { model, runs, simd, threads } => {
            let compiled = Compiler::new(&model.model).options(model.options()).threads(threads).compile()?;
            let pool = mobilenet_kernels::Threads::new(threads);
            let level = Simd::checked(simd, None)?.and_then(mobilenet_kernels::SimdLevel::parse);
            let cpu = match level {
                Some(l) => mobilenet_kernels::Cpu::with_level(l).ok_or_else(|| Error::usage("unsupported --simd"))?,
                None => mobilenet_kernels::Cpu::detect(),
            };
            let input = mobilenet_compiler::exec::constant_input(&compiled.program);
            let times =
                mobilenet_compiler::exec::profile(&compiled.program, &compiled.plan, cpu, &pool, &input, runs.max(1))?;
            let total: f64 = times.iter().sum();
            let prog = &compiled.program;
            let looped = match &prog.image_loop {
                Some(lp) => format!(
                    "; steps 0-{} run image by image, their times summed over the {} images",
                    lp.steps - 1,
                    lp.images
                ),
                None => String::new(),
            };
            let mut text = format!(
                "{}: {:.3} ms in {} kernel calls ({} path, {threads} thread(s), median of {runs} runs{looped})\n",
                model.model.display(),
                total * 1e3,
                prog.schedule().count(),
                mobilenet_kernels::path_description(cpu.level(), mobilenet_kernels::target_has_simd())
            );
            text += "     #      ms      %  step\n";
            for (i, (t, step)) in times.iter().zip(&compiled.program.steps).enumerate() {
                // How the block ran is decided at run time, by the thread count.
                let split = match &step.kernel {
                    mobilenet_compiler::lower::Kernel::Fused { p, .. } if p.splits_channels(threads) => {
                        format!(", hidden channels split across {threads} threads")
                    }
                    _ => String::new(),
                };
                text += &format!(
                    "  {i:>4} {:>7.3} {:>6.1}  {}{split}\n",
                    t * 1e3,
                    100.0 * t / total,
                    mobilenet_compiler::codegen::describe(step)
                );
            }
            emit(&text, None)
        }
        Command::Stats { model, json } => {
            let fe = frontend(&model.model, &model.options())?;
            let s = stats::compute(&fe)?;
            let text = if json {
                serde_json::to_string_pretty(&s).map_err(|e| Error::internal(e.to_string()))? + "\n"
            } else {
                stats::to_text(&s)
            };
            emit(&text, None)
        }
        Command::Run { model, input, output, interpret, simd, target } => {
            let x = npy::read(&input, model.options().limits.max_file_bytes)?;
            let mut options = model.options();
            // Symbolic dimensions default to the input array's shape.
            if options.shapes.input_shapes.is_empty() && options.shapes.batch.is_none() {
                options.shapes.input_shapes.push(InputShape { name: None, dims: x.shape.clone() });
            }
            let (y, how) = if interpret {
                let fe: Frontend = frontend(&model.model, &options)?;
                let limit = options.limits.max_arena_bytes;
                let outputs = interp::run_limited(&fe.optimized, &[x], limit).map_err(|e| e.in_file(&input))?;
                (
                    outputs.into_iter().next().ok_or_else(|| Error::internal("no output"))?,
                    "reference interpreter".to_string(),
                )
            } else {
                let simd = Simd::checked(simd, target)?;
                let compiled = Compiler::new(&model.model).options(options).compile()?;
                let expected = compiled.program.input_shape.clone();
                if x.shape != expected {
                    return Err(Error::usage(format!(
                        "{}: the array has shape {:?}, the model takes {expected:?}",
                        input.display(),
                        x.shape
                    )));
                }
                let prog = &compiled.program;
                let want = prog.input_type.rust();
                let given = x.dtype.to_string();
                if !matches!(
                    (prog.input_type, x.dtype),
                    (ElemType::F32, DType::F32) | (ElemType::U8, DType::U8) | (ElemType::I8, DType::I8)
                ) {
                    return Err(Error::usage(format!(
                        "{}: the array holds {given}, the model takes {want}",
                        input.display()
                    )));
                }
                let runner = runner::build(&compiled, target.map(Target::cross))?;
                let raw = runner.run(
                    &raw_bytes(&x),
                    prog.output_len() * if prog.output_type.is_byte() { 1 } else { 4 },
                    simd,
                    1,
                )?;
                let y = from_raw_bytes(prog.output_type, prog.output_shape.clone(), &raw);
                let place = target.map(|t| format!(" for {}", t.cross().triple())).unwrap_or_default();
                (y, format!("compiled code{place}{}", simd.map(|s| format!(", {s}")).unwrap_or_default()))
            };
            npy::write(&output, &y)?;
            let values: Vec<f64> = match (y.as_f32(), y.as_i64()) {
                (Some(v), _) => v.iter().map(|&x| x as f64).collect(),
                (_, Some(v)) => v.iter().map(|&x| x as f64).collect(),
                _ => Vec::new(),
            };
            // The first of equal maxima.
            let argmax = values.iter().enumerate().rev().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
            eprintln!(
                "wrote {} ({}, {how}){}",
                output.display(),
                y.type_of(),
                argmax.map(|i| format!(", argmax {i}")).unwrap_or_default()
            );
            Ok(())
        }
        Command::Bench { model, runs, warmup, threads, simd, target, json, serve, print_binary } => {
            let simd = Simd::checked(simd, target)?;
            let compiled = Compiler::new(&model.model).options(model.options()).threads(threads).compile()?;
            let runner = runner::build(&compiled, target.map(Target::cross))?;
            if matches!(target, Some(Target::Aarch64)) && !serve && !print_binary {
                eprintln!("note: timed under qemu-aarch64 (an emulator): the times say nothing about a real ARM core");
            }
            if print_binary {
                return emit(&format!("{}\n", runner.binary().display()), None);
            }
            if serve {
                #[cfg(unix)]
                return Err(runner.exec_serve(simd, threads));
                #[cfg(not(unix))]
                return Err(Error::usage("--serve needs a Unix system"));
            }
            let report = runner.bench(warmup, runs, simd, threads)?;
            if json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| Error::internal(e.to_string()))?;
                return emit(&(text + "\n"), None);
            }
            let get = |k: &str| report.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            let text = format!(
                "{}: median {:.3} ms, min {:.3} ms over {} runs (batch {}, {} thread(s), {}; arena {} bytes)\n",
                model.model.display(),
                get("median_ms"),
                get("min_ms"),
                get("runs"),
                get("batch"),
                threads,
                report.get("simd_path").or(report.get("simd")).and_then(|v| v.as_str()).unwrap_or("?"),
                get("arena_bytes"),
            );
            emit(&text, None)
        }
    }
}

fn emit(text: &str, path: Option<&Path>) -> Result<(), Error> {
    match path {
        Some(p) => mobilenet_compiler::files::write_all_or_nothing(&[(p, text.as_bytes())]),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = out.write_all(text.as_bytes());
            Ok(())
        }
    }
}

/// A tensor as the raw little-endian values the runner reads.
fn raw_bytes(t: &mobilenet_compiler::ir::Tensor) -> Vec<u8> {
    match (t.as_f32(), t.as_i64()) {
        (Some(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        (_, Some(v)) => v.iter().map(|&x| x as u8).collect(),
        _ => Vec::new(),
    }
}

/// The runner's raw output as a tensor of the model's output type.
fn from_raw_bytes(ty: ElemType, shape: Vec<usize>, raw: &[u8]) -> mobilenet_compiler::ir::Tensor {
    use mobilenet_compiler::ir::Tensor;
    match ty {
        ElemType::F32 => {
            Tensor::f32(shape, raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        ElemType::U8 => Tensor::int(DType::U8, shape, raw.iter().map(|&b| b as i64).collect()),
        ElemType::I8 => Tensor::int(DType::I8, shape, raw.iter().map(|&b| b as i8 as i64).collect()),
    }
}
