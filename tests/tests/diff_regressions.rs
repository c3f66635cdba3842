//! Every case the differential fuzzer (fuzz/diff) ever failed on, and the hand-made cases of
//! fuzz/diff/hostile_cases.py, kept with onnxruntime's output: the compiler must now agree with
//! it (cases named `agree_*`: agree, not refuse), or refuse the model, and refuse it wherever
//! onnxruntime refused it. Needs no onnxruntime: its answers are in the files.

use std::path::Path;

use mobilenet_tests::diff::{Case, Outcome, run};

#[test]
fn differential_fuzzing_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/diff");
    let cases = Case::all_in(&dir);
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        match run(case) {
            o @ (Outcome::Mismatch(_) | Outcome::Panic(_) | Outcome::Lenient(_)) => {
                failures.push(format!("{}: {o:?}", case.name))
            }
            o @ (Outcome::Refused(_) | Outcome::InterpreterAgrees(_)) if case.name.starts_with("agree_") => {
                failures.push(format!("{}: must agree, {o:?}", case.name))
            }
            Outcome::Agree | Outcome::InterpreterAgrees(_) | Outcome::Refused(_) | Outcome::BothRefuse => {}
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
