//! `recur plot` through the real binary: a real training run's metrics and a real forecaster
//! drawn into PNGs that are decoded and checked (size, not blank, each curve's colour present
//! in a curve's quantity, text drawn), SVG output, and one test per error message.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const BLUE: (u8, u8, u8) = (31, 119, 180); // the first curve
const ORANGE: (u8, u8, u8) = (255, 127, 14); // the second
const RED: (u8, u8, u8) = (214, 39, 40); // the fourth; the forecast past the end

fn sine() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/sine.csv").display().to_string()
}

/// One small forecaster trained once for all tests: (directory, model, metrics file).
fn trained() -> &'static (PathBuf, PathBuf, PathBuf) {
    static T: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (model, metrics) = (dir.join("forecast.safetensors"), dir.join("m.jsonl"));
        let args = ["train", "forecast", "--data", &sine(), "--epochs", "6", "--eval-every", "1"];
        let m = (model.to_str().unwrap(), metrics.to_str().unwrap());
        recur(&dir, &[&args[..], &["--threads", "1", "-q", "-o", m.0, "--metrics", m.1]].concat()).ok();
        (dir, model, metrics)
    })
}

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Image {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        Image { width: info.width, height: info.height, rgb: buf }
    }
    fn count(&self, f: impl Fn(u8, u8, u8) -> bool) -> usize {
        self.rgb.chunks(3).filter(|p| f(p[0], p[1], p[2])).count()
    }
    /// Pixels within 12 of `c` in every channel.
    fn of_color(&self, c: (u8, u8, u8)) -> usize {
        let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
        self.count(|r, g, b| near(r, c.0) && near(g, c.1) && near(b, c.2))
    }
    /// Not white: something is drawn there.
    fn inked(&self) -> usize {
        self.count(|r, g, b| (r, g, b) != (255, 255, 255))
    }
    /// The grey edges of anti-aliased black text (the grid lines are lighter than this).
    fn text_grey(&self) -> usize {
        self.count(|r, g, b| r == g && g == b && (40..190).contains(&r))
    }
}

/// A curve's worth of pixels: the legend's sample line and dot are under 150.
const CURVE: usize = 400;

#[test]
fn metrics_of_a_real_run_make_a_png_with_both_curves_and_text() {
    let (dir, _, metrics) = trained();
    let out = dir.join("curves.png");
    let r = recur(
        dir,
        &["plot", "--metrics", metrics.to_str().unwrap(), "-o", "curves.png", "--size", "800x500"],
    )
    .ok();
    assert!(r.stdout().contains("curves.png (800x500): train_loss, valid_rmse"), "{}", r.stdout());
    let img = Image::read(&out);
    assert_eq!((img.width, img.height), (800, 500));
    let area = (800 * 500) as usize;
    assert!(img.inked() > area / 50 && img.inked() < area / 2, "inked {} of {area}", img.inked());
    assert!(img.of_color(BLUE) > CURVE, "train_loss (blue): {} pixels", img.of_color(BLUE));
    assert!(img.of_color(ORANGE) > CURVE, "valid_rmse (orange): {} pixels", img.of_color(ORANGE));
    assert!(img.text_grey() > 300, "text: {} grey pixels", img.text_grey());
    // No temp file left behind by the atomic write (other tests write in `dir` meanwhile).
    let names =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    assert_eq!(names.filter(|n| n.starts_with(".curves.png")).count(), 0);
}

#[test]
fn only_draws_the_named_metric_and_the_default_size_follows_the_panels() {
    let d = tempfile::tempdir().unwrap();
    let lines: String = (1..=8)
        .map(|e| {
            let acc = 0.5 + 0.05 * e as f64;
            format!(
                "{{\"epoch\":{e},\"step\":{},\"seconds\":{},\"train_loss\":{},\"valid_accuracy\":{acc},\"valid_error\":{}}}\n",
                e * 10,
                e as f64 * 0.3,
                1.0 / e as f64,
                1.0 - acc
            )
        })
        .collect();
    std::fs::write(d.path().join("c.jsonl"), lines).unwrap();
    let r = recur(d.path(), &["plot", "--metrics", "c.jsonl", "-o", "all.png"]).ok();
    assert!(r.stdout().contains("(1000x960): train_loss, valid_accuracy, valid_error"), "{}", r.stdout());
    let all = Image::read(&d.path().join("all.png"));
    assert_eq!((all.width, all.height), (1000, 960), "three panels, 300 px each");
    assert!(all.of_color(ORANGE) > CURVE && all.of_color((44, 160, 44)) > CURVE);

    let r = recur(
        d.path(),
        &["plot", "--metrics", "c.jsonl", "--only", "valid_accuracy", "--x", "step", "-o", "one.png"],
    )
    .ok();
    assert!(r.stdout().contains("(1000x360): valid_accuracy"), "{}", r.stdout());
    let one = Image::read(&d.path().join("one.png"));
    assert_eq!((one.width, one.height), (1000, 360));
    assert!(one.of_color(BLUE) > CURVE, "valid_accuracy is the only curve, so it is blue");
    assert!(one.of_color(ORANGE) < 20, "no second curve: {}", one.of_color(ORANGE));
}

#[test]
fn several_files_are_overlaid_with_a_legend_and_svg_works() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("lstm.jsonl"),
        "{\"epoch\":1,\"step\":5,\"train_loss\":0.9}\n{\"epoch\":2,\"step\":10,\"train_loss\":0.5}\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("gru.jsonl"),
        "{\"epoch\":1,\"step\":5,\"train_loss\":0.7}\n{\"epoch\":2,\"step\":10,\"train_loss\":0.6}\n",
    )
    .unwrap();
    let r = recur(d.path(), &["plot", "--metrics", "lstm.jsonl", "--metrics", "gru.jsonl", "-o", "both.png"])
        .ok();
    assert!(r.stdout().contains("lstm: train_loss, gru: train_loss"), "{}", r.stdout());
    let img = Image::read(&d.path().join("both.png"));
    assert!(img.of_color(BLUE) > CURVE && img.of_color(ORANGE) > CURVE);

    recur(d.path(), &["plot", "--metrics", "lstm.jsonl", "--metrics", "gru.jsonl", "-o", "both.svg"]).ok();
    let svg = std::fs::read_to_string(d.path().join("both.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("width=\"1000\""), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("gru: train_loss") && svg.contains("epoch"), "legend or axis text missing");
    assert!(svg.matches("<text").count() >= 10, "tick labels missing");
}

#[test]
fn a_forecaster_is_drawn_against_its_series() {
    let (dir, model, _) = trained();
    let m = model.to_str().unwrap();
    let s = sine();
    let r =
        recur(dir, &["plot", "--model", m, "--input", &s, "--ahead", "40", "-o", "fc.png", "--threads", "1"])
            .ok();
    let out = r.stdout();
    assert!(out.contains("fc.png (1000x360): rows 1700..2000 of 2000"), "{out}");
    // The one-step error printed is a real, small number (the series' deviation is 0.79).
    let rmse: f64 = out.split("one-step RMSE ").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(rmse > 0.0 && rmse < 0.1, "{out}");
    assert!(out.contains("the last 50 rows fed back: RMSE"), "{out}");
    let img = Image::read(&dir.join("fc.png"));
    assert_eq!((img.width, img.height), (1000, 360));
    assert!(img.of_color(BLUE) > 2 * CURVE, "one step ahead: {}", img.of_color(BLUE));
    assert!(img.of_color(ORANGE) > CURVE / 2, "backtest: {}", img.of_color(ORANGE));
    assert!(img.of_color(RED) > CURVE / 2, "past the end: {}", img.of_color(RED));
    assert!(img.of_color((170, 170, 170)) > CURVE, "the series");

    // Without --ahead and --backtest, neither forecast is drawn.
    recur(dir, &["plot", "-m", m, "--input", &s, "--backtest", "0", "-o", "fc0.png", "--rows", "0"]).ok();
    let img = Image::read(&dir.join("fc0.png"));
    assert!(img.of_color(ORANGE) < 100 && img.of_color(RED) < 100);
}

#[test]
fn the_forecast_past_the_end_starts_from_the_last_true_window() {
    // `recur predict --ahead` and the plot's red curve are both `ForecastSpec::continue_series`;
    // its first row must be the model on the series' last `window` rows, computed here by hand.
    let (dir, model, _) = trained();
    let r =
        recur(dir, &["predict", "--model", model.to_str().unwrap(), "--input", &sine(), "--ahead", "7"]).ok();
    let printed: Vec<f64> =
        r.stdout().lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(printed.len(), 7);
    let file = recur::io::model_file::load(model).unwrap();
    let spec: recur::task::forecast::ForecastSpec = serde_json::from_value(file.task.unwrap()).unwrap();
    let (_, series) = recur::data::series::read_series(Path::new(&sine()), &spec.columns).unwrap();
    let (m, s) = spec.normalize[0];
    let x: Vec<f32> = series[series.len() - spec.window..].iter().map(|r| ((r[0] - m) / s) as f32).collect();
    let o = recur::model::Session::new(1)
        .forward(&file.model, recur::model::Seqs::new(&x, 1, spec.window), None)
        .unwrap();
    let first = o.logits[0] as f64 * s + m;
    assert!((printed[0] - first).abs() < 1e-5, "predict {printed:?}, by hand {first}");
    // The rest continue the sine smoothly (steps of 0.1 rad move it by well under 0.2).
    assert!(printed.windows(2).all(|w| (w[1] - w[0]).abs() < 0.2), "{printed:?}");
}

#[test]
fn errors_say_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("good.jsonl"), "{\"epoch\":1,\"train_loss\":0.5}\n").unwrap();
    std::fs::write(p.join("empty.jsonl"), "").unwrap();
    std::fs::write(p.join("bad.jsonl"), "{\"epoch\":1,\"train_loss\":0.5}\nepoch 2 loss 0.4\n").unwrap();
    let plot = |args: &[&str]| recur(p, &[&["plot"], args].concat());

    plot(&["--metrics", "nope.jsonl", "-o", "a.png"]).fails_with_all(&["nope.jsonl", "No such file"]);
    plot(&["--metrics", "empty.jsonl", "-o", "a.png"]).fails_with_all(&["empty.jsonl: no metrics"]);
    plot(&["--metrics", "bad.jsonl", "-o", "a.png"]).fails_with_all(&["bad.jsonl: line 2: not JSON"]);
    plot(&["--metrics", "good.jsonl", "--only", "valid_accuracy", "-o", "a.png"])
        .fails_with_all(&["no metric `valid_accuracy` in good.jsonl", "it has: train_loss"]);
    plot(&["--metrics", "good.jsonl", "-o", "no/such/dir/a.png"]).fails_with_all(&["no/such/dir/a.png"]);
    plot(&["--metrics", "good.jsonl", "-o", "a.jpg"]).fails_with_all(&["a.jpg", ".png or .svg"]);
    plot(&["--metrics", "good.jsonl", "-o", "a.png", "--size", "big"])
        .fails_with_all(&["size", "WIDTHxHEIGHT"]);
    assert!(!p.join("a.png").exists() && !p.join("a.jpg").exists(), "nothing written on error");

    // An existing picture survives a failed redraw.
    plot(&["--metrics", "good.jsonl", "-o", "a.png"]).ok();
    let before = std::fs::read(p.join("a.png")).unwrap();
    plot(&["--metrics", "bad.jsonl", "-o", "a.png"]).fails_with_all(&["line 2"]);
    assert_eq!(std::fs::read(p.join("a.png")).unwrap(), before);

    // Forecast mode.
    let torch = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_model_lstm.safetensors");
    plot(&["--model", torch.to_str().unwrap(), "--input", &sine(), "-o", "f.png"])
        .fails_with_all(&["not a forecaster"]);
    let (_, model, _) = trained();
    std::fs::write(p.join("short.csv"), "t,value\n0,0.1\n1,0.2\n2,0.3\n").unwrap();
    plot(&["--model", model.to_str().unwrap(), "--input", "short.csv", "-o", "f.png"]).fails_with_all(&[
        "short.csv",
        "3 rows",
        "windows of 20",
    ]);
    std::fs::write(p.join("other.csv"), "t,price\n0,1\n").unwrap();
    plot(&["--model", model.to_str().unwrap(), "--input", "other.csv", "-o", "f.png"])
        .fails_with_all(&["no column `value`"]);
    let n = (0..60).map(|i| format!("{i},{}\n", (i as f64 * 0.1).sin())).collect::<String>();
    std::fs::write(p.join("sixty.csv"), format!("t,value\n{n}")).unwrap();
    plot(&["--model", model.to_str().unwrap(), "--input", "sixty.csv", "--backtest", "50", "-o", "f.png"])
        .fails_with_all(&["backtest", "60 rows"]);

    // Usage errors are clap's: exit 2.
    assert_eq!(plot(&["-o", "a.png"]).out.status.code(), Some(2));
    assert_eq!(
        plot(&["--metrics", "good.jsonl", "--model", "m", "--input", "x", "-o", "a.png"]).out.status.code(),
        Some(2)
    );
    for wrong in
        [&["--metrics", "good.jsonl", "--ahead", "5"][..], &["--model", "m", "--input", "x", "--only", "a"]]
    {
        assert_eq!(plot(&[wrong, &["-o", "a.png"]].concat()).out.status.code(), Some(2), "{wrong:?}");
    }
}

#[test]
fn a_series_value_too_far_from_training_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = trained().1.to_str().unwrap();
    let mut s = std::fs::read_to_string(sine()).unwrap();
    s.push_str("2000,1e300\n");
    std::fs::write(d.join("big.csv"), s).unwrap();
    let msg = "big.csv: row 2001 of the series, column `value`: 1e300 is too far from the training values";
    recur(d, &["plot", "--model", m, "--input", "big.csv", "-o", "f.png"]).fails_with_all(&[msg]);
    recur(d, &["predict", "--model", m, "--input", "big.csv"]).fails_with_all(&[msg]);
}
