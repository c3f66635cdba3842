//! Classify an image with the MobileNet build.rs compiled (the bundled pretrained MobileNetV2, or
//! the model in `MOBILENET_MODEL` at build time): prints the top-5 and the latency.
//!
//! ```sh
//! cargo run --release -p classify -- models/images/chelsea.png
//! MOBILENET_MODEL=path/to/model.onnx cargo run --release -p classify -- photo.jpg --labels labels.txt
//! ```
//!
//! A quantised model that takes the photo's bytes (Coral's) gets them, the whole image resized.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use classify::{FromImage, InputLayout, Preprocess, Score, load_image, probabilities, read_labels, top_k};

include!(concat!(env!("OUT_DIR"), "/model.rs"));

const DESCRIPTION: &str = include_str!(concat!(env!("OUT_DIR"), "/model_description.txt"));

/// Whether build.rs compiled the bundled model, whose labels are embedded here.
const BUNDLED: bool = cfg!(bundled_model);
const BUNDLED_LABELS: &str = include_str!("../../../models/labels/imagenet_1001.txt");

#[derive(Parser)]
#[command(about = "Classify an image with a MobileNet compiled to Rust at build time")]
struct Args {
    /// PNG or JPEG image.
    image: PathBuf,
    /// Labels, one per line, in output order (default: the bundled model's).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// How to turn pixels into inputs (default: the bundled model's, coral; else imagenet).
    #[arg(long, value_enum)]
    preprocess: Option<Preprocess>,
    /// Timed runs for the latency figure.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match classify(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn classify(args: &Args) -> Result<(), String> {
    let layout = InputLayout::from_shape(&Model::INPUT_SHAPE)?;
    let started = Instant::now();
    let mut net = Model::new();
    let construct = started.elapsed();
    // One-shot process: the weights' pages get mapped while the image is decoded.
    net.map_weights_in_background();
    let img = load_image(&args.image)?;
    let preprocess = args.preprocess.unwrap_or(if BUNDLED { Preprocess::Coral } else { Preprocess::Imagenet });
    let x = FromImage::from_image(&img, layout, preprocess);
    let output = net.run_slice(&x).map_err(|e| e.to_string())?;
    let bytes = std::mem::size_of_val(&output[0]) == 1;
    let scores: Vec<f32> = output.iter().map(|v| v.score()).collect();
    let labels = match (&args.labels, BUNDLED) {
        (None, true) => BUNDLED_LABELS.lines().map(str::to_string).collect(),
        (path, _) => read_labels(path.as_deref(), scores.len())?,
    };
    let probs = probabilities(&scores, bytes);

    println!("model:  {DESCRIPTION}");
    println!(
        "        input {:?}, {} path, arena {} bytes, constructed in {:.1} us",
        Model::INPUT_SHAPE,
        net.cpu().level().name(),
        Model::ARENA_BYTES,
        construct.as_secs_f64() * 1e6
    );
    let how = if std::mem::size_of_val(&x[0]) == 1 { "bytes".to_string() } else { format!("{preprocess:?}") };
    println!("image:  {} ({}x{}), preprocess {how}", args.image.display(), img.width(), img.height());
    println!("top-5:");
    for (rank, (i, s)) in top_k(&scores, 5).into_iter().enumerate() {
        let label = labels.get(i).map(String::as_str).unwrap_or("?");
        println!("  {}. {i:>4}  {label:<30} score {s:>9.4}  p {:.3}", rank + 1, probs[i]);
    }
    // Latency: warm runs of the same input.
    for _ in 0..3 {
        std::hint::black_box(net.run_slice(&x).map_err(|e| e.to_string())?);
    }
    let mut times: Vec<f64> = (0..args.runs.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(net.run_slice(std::hint::black_box(&x)).ok());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "latency: median {:.2} ms, min {:.2} ms over {} runs (1 thread)",
        times[times.len() / 2],
        times[0],
        times.len()
    );
    Ok(())
}
