//! The IR after every pass, for three small fixtures, committed under `tests/golden/`: a change
//! to a pass shows in review as a change to these files. `UPDATE_GOLDEN=1 cargo test -p
//! mobilenet-compiler --test golden` writes them anew.

use std::fmt::Write as _;
use std::path::Path;

use mobilenet_compiler::ir::print;
use mobilenet_compiler::{InputShape, Options, ShapeOptions, import_file, passes};

fn passes_text(model: &str, shape: &[usize]) -> String {
    let options = Options {
        shapes: ShapeOptions { batch: None, input_shapes: vec![InputShape { name: None, dims: shape.to_vec() }] },
        ..Options::default()
    };
    let mut g = import_file(Path::new(model), &options).unwrap();
    let mut text = print::to_text(&g, "imported").unwrap();
    passes::optimize(&mut g, &options, true, &mut |g, report| {
        let _ = write!(text, "\n# ---- after {report}\n{}", print::to_text(g, report.pass)?);
        Ok(())
    })
    .unwrap();
    text
}

#[test]
fn ir_after_every_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Paths relative to this crate, so that the dumps name the same files everywhere.
    std::env::set_current_dir(dir).unwrap();
    let fixtures = [
        ("v3_like", "../models/fixtures/v3_like.op14.onnx", [1, 3, 32, 32]),
        ("paddle_like", "../models/fixtures/paddle_like.dynhw.op11.onnx", [1, 3, 16, 24]),
        ("keras_like", "../models/fixtures/keras_like.nhwc.op13.onnx", [1, 27, 27, 3]),
    ];
    let mut changed = Vec::new();
    for (name, model, shape) in fixtures {
        let text = passes_text(model, &shape);
        let path = dir.join(format!("tests/golden/{name}.passes.txt"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != text {
            changed.push(path.display().to_string());
        }
    }
    assert!(
        changed.is_empty(),
        "the IR after the passes changed in {changed:?}: run `UPDATE_GOLDEN=1 cargo test -p mobilenet-compiler --test golden` and review the diff"
    );
}
