//! What the loader fuzzer (`examples/fuzz_loaders`, see `docs/fuzzing.md`) found, kept found:
//! every file in `fuzz/regressions/<target>/` is read by that target's reader and must fail
//! cleanly, naming the file and saying what is wrong, within bounded memory; the inputs that
//! are easier to build than to store are made here. And a short run of every target, so the
//! fuzzer keeps compiling and its readers keep passing.

#[allow(dead_code)]
#[path = "../examples/fuzz_loaders/alloc.rs"]
mod alloc;
#[allow(dead_code)]
#[path = "../examples/fuzz_loaders/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../examples/fuzz_loaders/run.rs"]
mod run;
#[allow(dead_code)]
#[path = "../examples/fuzz_loaders/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The allocator's counts are global: tests that measure run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What each stored input's error must say.
const EXPECTED: &[(&str, &str)] = &[
    // A small gzip file of zeros behind a header that promises 4 GiB: read up to the limit, then
    // refused (it used to be decompressed into memory, 64 MiB and more for a 50 KB file).
    ("idx-gz/bomb-header-4g.gz", "refused as a likely gzip bomb"),
    // Valid data, then megabytes of compressed zeros: counted only up to the limit.
    ("idx-gz/bomb-trailer.gz", "found at least 8388591 trailing bytes after them"),
    // Errors from the config check did not name the file.
    (
        "safetensors/config-zero-hidden.safetensors",
        "model.safetensors: metadata `config` is not a valid model: invalid hidden_size = [0]",
    ),
    (
        "safetensors/inferred-zero-input.safetensors",
        "model.safetensors: the tensors' shapes give no valid model: invalid input_size = 0",
    ),
    // Task metadata that does not fit the tensors: `recur predict` panicked on no classes.
    (
        "safetensors/classify-no-classes.safetensors",
        "the model has 2 outputs but the metadata gives 0 (classes)",
    ),
    ("safetensors/forecast-no-columns.safetensors", "0 columns with 0 normalizations"),
    ("safetensors/text-window-0.safetensors", "its window is 0 symbols"),
    (
        "safetensors/mnist-one-output.safetensors",
        "the model has 1 output but the metadata gives 10 (classes)",
    ),
];

/// Runs target `name`'s reader on `bytes`, measuring the memory it takes.
fn load(name: &str, bytes: &[u8]) -> (Result<(), String>, usize) {
    let t = targets::by_name(name).unwrap_or_else(|| panic!("no target {name}"));
    let base = alloc::start();
    let r = (t.load)(bytes, Path::new(t.file));
    let (peak, refused) = alloc::peak_since(base);
    assert_eq!(refused, 0, "{name}: a request was refused");
    (r, peak)
}

#[test]
fn every_stored_input_fails_cleanly_with_its_message() {
    let _g = serial();
    let dir = root().join("fuzz/regressions");
    let mut seen = 0;
    for target in std::fs::read_dir(&dir).unwrap() {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_str().unwrap().to_string();
        let file =
            targets::by_name(&name).unwrap_or_else(|| panic!("{}: no such target", target.display())).file;
        for input in std::fs::read_dir(&target).unwrap() {
            let input = input.unwrap().path();
            let key = format!("{name}/{}", input.file_name().unwrap().to_str().unwrap());
            let want =
                EXPECTED.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("{key}: add its message"));
            let bytes = std::fs::read(&input).unwrap();
            let (r, peak) = load(&name, &bytes);
            let e = r.expect_err(&key);
            assert!(e.contains(file) && e.contains(want.1), "{key}: {e}");
            assert!(peak <= run::budget(bytes.len()), "{key}: {peak} bytes at the peak");
            seen += 1;
        }
    }
    assert_eq!(seen, EXPECTED.len(), "every expected message has its file");
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A gzip bomb is refused without holding its data; a file that expands a lot but stays under
/// the 8 MiB floor loads, and one past it loads once decompressed.
#[test]
fn gzip_expansion_is_bounded_and_genuine_files_still_load() {
    let _g = serial();
    let path = Path::new("t10k-images-idx3-ubyte.gz");
    let mut bomb = gz(&idx(&[u32::MAX], &[]));
    let zeros = gz(&vec![0; 1 << 20]);
    for _ in 0..40 {
        bomb.extend_from_slice(&zeros);
    }
    let base = alloc::start();
    let e = recur::data::idx::parse_idx(&bomb, path).unwrap_err().to_string();
    let (peak, _) = alloc::peak_since(base);
    assert!(e.contains("expands past 8388608 bytes, more than 32 times the") && e.contains("gunzip"), "{e}");
    assert!(peak < 1 << 20, "{peak} bytes held for a refused bomb");

    // 4 MB of blank images from a 4 KB file: far past 32 times, under the floor.
    let blank = idx(&[5000, 28, 28], &vec![0; 5000 * 784]);
    assert_eq!(recur::data::idx::parse_idx(&gz(&blank), path).unwrap().dims, [5000, 28, 28]);
    // 16 MB of them is refused compressed and loads raw.
    let big = idx(&[20000, 28, 28], &vec![0; 20000 * 784]);
    assert!(recur::data::idx::parse_idx(&gz(&big), path).is_err());
    assert_eq!(recur::data::idx::parse_idx(&big, Path::new("raw")).unwrap().data.len(), 20000 * 784);
}

/// `recur predict` on a classifier whose metadata names no classes panicked (a chunk size of
/// 0); now it fails with the file and the reason, exit status 1.
#[test]
fn predict_with_metadata_that_does_not_fit_fails_cleanly() {
    let model = root().join("fuzz/regressions/safetensors/classify-no-classes.safetensors");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(["predict", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(root().join("examples/data/proteins.csv"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("classify-no-classes.safetensors: the `classify` task metadata does not fit the model"),
        "{e}"
    );
}

/// Symbols were looked up one by one in the alphabet: 12 s to encode 1.3 MB of CJK text with
/// 20,000 distinct symbols. A binary search in the sorted alphabet takes a fraction of that.
#[test]
fn a_large_alphabet_encodes_in_linear_time() {
    let _g = serial();
    let mut csv = String::from("label,sequence\n");
    let mut x = 1u64;
    for i in 0..20_000 {
        csv.push_str(if i % 2 == 0 { "a," } else { "b," });
        for _ in 0..20 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            csv.push(char::from_u32(0x4e00 + (x >> 33) as u32 % 20_000).unwrap());
        }
        csv.push('\n');
    }
    let t0 = Instant::now();
    let r = (targets::by_name("csv").unwrap().load)(csv.as_bytes(), Path::new("rows.csv"));
    let took = t0.elapsed();
    assert_eq!(r, Ok(()));
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A metrics file read while training appends may end inside a character: that last line is
/// skipped like any half-written one. Bytes that are not UTF-8 elsewhere are named by line.
#[test]
fn text_files_that_are_not_utf8_say_where() {
    let metrics = "{\"epoch\": 1, \"train_loss\": 0.5}\n{\"epoch\": 2, \"note\": \"\u{e9}".as_bytes();
    let cut = &metrics[..metrics.len() - 1];
    let m = recur::plot::metrics::MetricsFile::parse(cut, Path::new("run.jsonl")).unwrap();
    assert_eq!(m.records.len(), 1);
    let e = recur::plot::metrics::MetricsFile::parse(b"{\"epoch\": 1}\n\xff\n", Path::new("run.jsonl"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "run.jsonl: not UTF-8 text: line 2 has a byte that is not UTF-8 (0xff at byte 13); save the file as UTF-8"
    );
    let rows = b"{\"x\": \"AB\", \"y\": \"c\"}\n{\"x\": \"A\xc3(\", \"y\": \"d\"}\n";
    let e = recur::data::rows::parse_table(rows, Path::new("rows.jsonl"), "y", "x", true)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("rows.jsonl: not UTF-8 text: line 2 has a byte that is not UTF-8 (0xc3 at byte 30)"),
        "{e}"
    );
}

/// A short campaign on every target: no panic, hang, excess memory or unnamed error in 2,000
/// inputs each (a second or two), so the fuzzer and its readers cannot drift apart.
#[test]
fn every_target_survives_a_short_campaign() {
    let _g = serial();
    let crashes = tempfile::tempdir().unwrap();
    let o = run::Options {
        execs: 2_000,
        seed: 7,
        timeout: Duration::from_secs(2),
        corpus: root().join("fuzz/corpus"),
        crashes: crashes.path().into(),
        progress: None,
    };
    assert!(alloc::installed());
    for t in targets::TARGETS {
        let r = run::run(t, &o).unwrap();
        assert_eq!(r.execs, 2_000);
        assert_eq!(r.failed(), 0, "{}: {:#?}", t.name, r.failures);
        assert!(r.ok > 0 && !r.errors.is_empty(), "{}: {} ok, {} errors", t.name, r.ok, r.errors.len());
    }
}
