//! Image classification around a compiled MobileNet: decode, resize, normalise as the model
//! expects, rank the scores. `main.rs` wires it to the model compiled by build.rs; the tests of
//! the repository use the same functions with the pretrained MobileNetV2.

use std::path::Path;

use image::imageops::FilterType;
use image::{RgbImage, imageops};

/// How pixels become model inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preprocess {
    /// torchvision: shorter side to 256, centre crop 224, /255, ImageNet mean and std.
    Imagenet,
    /// TFLite/Coral: whole image resized (bilinear), (pixel - 128) / 128.
    Coral,
    /// Whole image resized, pixel / 255.
    Unit,
}

/// Where height, width and channels are in the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLayout {
    pub height: usize,
    pub width: usize,
    /// `[N, C, H, W]` (torch) rather than `[N, H, W, C]` (Keras).
    pub channels_first: bool,
}

impl InputLayout {
    /// From a 4-D input shape with 3 channels.
    pub fn from_shape(shape: &[usize]) -> Result<InputLayout, String> {
        match *shape {
            [_, 3, h, w] => Ok(InputLayout { height: h, width: w, channels_first: true }),
            [_, h, w, 3] => Ok(InputLayout { height: h, width: w, channels_first: false }),
            _ => Err(format!("the model's input {shape:?} is not an RGB image (NCHW or NHWC with 3 channels)")),
        }
    }
}

pub fn load_image(path: &Path) -> Result<RgbImage, String> {
    image::open(path).map(|i| i.to_rgb8()).map_err(|e| format!("{}: {e}", path.display()))
}

/// One image as the model's input (batch 1).
pub fn to_input(img: &RgbImage, layout: InputLayout, pre: Preprocess) -> Vec<f32> {
    let (h, w) = (layout.height as u32, layout.width as u32);
    let img = match pre {
        Preprocess::Imagenet => {
            // Shorter side to size/0.875 (256 for 224), then the centre crop.
            let scale = (h.max(w) as f32 / 0.875) / img.width().min(img.height()) as f32;
            let (rw, rh) = ((img.width() as f32 * scale).round() as u32, (img.height() as f32 * scale).round() as u32);
            let resized = imageops::resize(img, rw.max(w), rh.max(h), FilterType::Triangle);
            imageops::crop_imm(&resized, (rw.max(w) - w) / 2, (rh.max(h) - h) / 2, w, h).to_image()
        }
        Preprocess::Coral | Preprocess::Unit => imageops::resize(img, w, h, FilterType::Triangle),
    };
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let value = |p: u8, c: usize| -> f32 {
        match pre {
            Preprocess::Imagenet => (p as f32 / 255.0 - MEAN[c]) / STD[c],
            Preprocess::Coral => (p as f32 - 128.0) / 128.0,
            Preprocess::Unit => p as f32 / 255.0,
        }
    };
    let (hh, ww) = (layout.height, layout.width);
    let mut x = vec![0f32; 3 * hh * ww];
    for (px, py, rgb) in img.enumerate_pixels() {
        let (px, py) = (px as usize, py as usize);
        for c in 0..3 {
            let i = if layout.channels_first { (c * hh + py) * ww + px } else { (py * ww + px) * 3 + c };
            x[i] = value(rgb[c], c);
        }
    }
    x
}

/// An image as a model's input of any element type: f32 models get `to_input`'s values; 8-bit
/// models (Coral's quantised files take the photo's bytes) the whole image resized, as bytes
/// (int8: less 128).
pub trait FromImage: Sized {
    /// The input for `img`.
    fn from_image(img: &RgbImage, layout: InputLayout, pre: Preprocess) -> Vec<Self>;
}

impl FromImage for f32 {
    fn from_image(img: &RgbImage, layout: InputLayout, pre: Preprocess) -> Vec<f32> {
        to_input(img, layout, pre)
    }
}

impl FromImage for u8 {
    fn from_image(img: &RgbImage, layout: InputLayout, _: Preprocess) -> Vec<u8> {
        to_bytes(img, layout)
    }
}

impl FromImage for i8 {
    fn from_image(img: &RgbImage, layout: InputLayout, _: Preprocess) -> Vec<i8> {
        to_bytes(img, layout).into_iter().map(|b| (b as i16 - 128) as i8).collect()
    }
}

/// A model's output element as a score.
pub trait Score: Copy {
    /// The score.
    fn score(self) -> f32;
}

impl Score for f32 {
    fn score(self) -> f32 {
        self
    }
}

impl Score for u8 {
    fn score(self) -> f32 {
        self as f32
    }
}

impl Score for i8 {
    fn score(self) -> f32 {
        self as f32 + 128.0
    }
}

/// The whole image resized (bilinear) to the model's size, as bytes in its layout.
pub fn to_bytes(img: &RgbImage, layout: InputLayout) -> Vec<u8> {
    let (hh, ww) = (layout.height, layout.width);
    let img = imageops::resize(img, ww as u32, hh as u32, FilterType::Triangle);
    let mut x = vec![0u8; 3 * hh * ww];
    for (px, py, rgb) in img.enumerate_pixels() {
        let (px, py) = (px as usize, py as usize);
        for c in 0..3 {
            let i = if layout.channels_first { (c * hh + py) * ww + px } else { (py * ww + px) * 3 + c };
            x[i] = rgb[c];
        }
    }
    x
}

/// The `k` best (index, score) pairs, best first.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx.into_iter().take(k).map(|i| (i, scores[i])).collect()
}

/// Probabilities: the scores themselves when they already sum to 1, their share of the sum
/// for an 8-bit softmax (`bytes`: the scores are quantised probabilities), their softmax
/// otherwise.
pub fn probabilities(scores: &[f32], bytes: bool) -> Vec<f32> {
    let sum: f32 = scores.iter().sum();
    if scores.iter().all(|&s| (0.0..=1.0).contains(&s)) && (sum - 1.0).abs() < 1e-3 {
        return scores.to_vec();
    }
    if bytes && sum > 0.0 {
        return scores.iter().map(|s| s / sum).collect();
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f32 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

/// One label per line; a missing file gives `class N` names.
pub fn read_labels(path: Option<&Path>, count: usize) -> Result<Vec<String>, String> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(text.lines().map(|l| l.trim().to_string()).collect())
        }
        None => Ok((0..count).map(|i| format!("class {i}")).collect()),
    }
}
