//! The Rust half of the differential fuzzer (fuzz/diff/run.sh): runs every case in a folder
//! that fuzz/diff/generate.py wrote, prints what became of them, copies the failures to
//! `--keep DIR` (as regressions), and exits with 1 if any case failed.
//!
//!     difftest CASES [--keep fuzz/regressions/diff] [-v]
//!
//! `-v` also lists the models the compiler refuses and those it accepts where onnxruntime does not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mobilenet_tests::diff::{Case, Outcome, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), keep) = (args.first(), args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)))
    else {
        eprintln!("usage: difftest CASES [--keep DIR] [-v]");
        return ExitCode::from(2);
    };
    // A panic is an outcome here: its message is reported with the case, not on stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let verbose = args.iter().any(|a| a == "-v");
    let cases = Case::all_in(&PathBuf::from(dir));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lenient: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0;
    for case in &cases {
        let outcome = run(case);
        let kind = match &outcome {
            Outcome::BothRefuse => "both refuse",
            Outcome::Refused(_) => "compiler refuses",
            Outcome::Lenient(why) => {
                *lenient.entry(why.chars().take(120).collect()).or_default() += 1;
                "compiler accepts, onnxruntime refuses"
            }
            Outcome::Agree => "agree",
            Outcome::InterpreterAgrees(_) => "interpreter agrees, code generation refuses",
            Outcome::Mismatch(_) => "MISMATCH",
            Outcome::Panic(_) => "PANIC",
        };
        *counts.entry(kind).or_default() += 1;
        if verbose && matches!(outcome, Outcome::Refused(_) | Outcome::Lenient(_)) {
            println!("{}: {outcome:?}", case.name);
        }
        if outcome.is_failure() {
            failed += 1;
            println!("{}: {outcome:?}", case.name);
            if let Some(keep) = keep {
                let _ = std::fs::create_dir_all(keep);
                for f in case.files() {
                    let _ = std::fs::copy(&f, PathBuf::from(keep).join(f.file_name().unwrap_or_default()));
                }
            }
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("difftest: {} cases; {}", cases.len(), summary.join(", "));
    for (why, n) in &lenient {
        println!("  accepted where onnxruntime refuses ({n}): {why}");
    }
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
