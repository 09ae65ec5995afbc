//! A campaign: for each target, its seeds as they are and then mutated inputs, each given to
//! the reader once, which must return (`Ok` or an error naming the file) without panicking,
//! within the time limit and within the memory the input's size justifies.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::alloc;
use crate::mutate::Mutator;
use crate::targets::Target;

/// The most memory one call may take for an input of `len` bytes: 64 bytes per input byte
/// (rows, strings and vectors of what the file holds) and 16 MiB besides (decoder state, and
/// what a gzipped file may honestly expand to).
pub fn budget(len: usize) -> usize {
    64 * len + (16 << 20)
}

/// How a campaign runs.
pub struct Options {
    /// Inputs per target, seeds included.
    pub execs: u64,
    /// The random seed; the same seed gives the same inputs.
    pub seed: u64,
    /// The longest a call may take.
    pub timeout: Duration,
    /// `<corpus>/<target>/` holds the seeds.
    pub corpus: PathBuf,
    /// Failing inputs are saved in `<crashes>/<target>/`.
    pub crashes: PathBuf,
    /// Print progress every this many seconds (never if `None`).
    pub progress: Option<Duration>,
}

/// One way a reader failed, with how often and where the first inputs were saved.
#[derive(Debug)]
pub struct Failure {
    /// `panic`, `hang`, `memory` or `unnamed` (an error that does not name the file).
    pub kind: &'static str,
    /// The panic message and place, the time, the bytes, or the error.
    pub detail: String,
    /// How many inputs failed this way.
    pub count: u64,
    /// The saved inputs (the first three).
    pub saved: Vec<PathBuf>,
}

/// What a target's campaign found.
pub struct Report {
    /// The target.
    pub name: &'static str,
    /// Inputs given to the reader.
    pub execs: u64,
    /// Wall time.
    pub secs: f64,
    /// Inputs the reader accepted.
    pub ok: u64,
    /// Error messages (digits and quoted text blanked) and how often each came.
    pub errors: BTreeMap<String, u64>,
    /// The failures, by kind and place.
    pub failures: BTreeMap<String, Failure>,
    /// The most memory a call took, and for an input of how many bytes.
    pub peak: (usize, usize),
    /// The slowest call, and the same input timed again (the least of three runs), which
    /// tells a slow input from a pause of the machine.
    pub slowest: (Duration, Duration),
    /// The slowest input.
    pub slowest_input: Vec<u8>,
}

impl Report {
    /// Inputs that failed, all kinds.
    pub fn failed(&self) -> u64 {
        self.failures.values().map(|f| f.count).sum()
    }
}

/// The input being read now, for the watchdog and the allocator's refusal hook.
static CURRENT: Mutex<(Vec<u8>, PathBuf)> = Mutex::new((Vec::new(), PathBuf::new()));
/// When the current call started (milliseconds since `EPOCH`), 0 between calls.
static CALL_START: AtomicU64 = AtomicU64::new(0);
static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);
/// The last panic's message and place.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn now_ms() -> u64 {
    let mut e = EPOCH.lock().unwrap_or_else(|p| p.into_inner());
    e.get_or_insert_with(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Saves `input` as `<dir>/<kind>-<hash>.bin` and returns the path.
fn save(dir: &Path, kind: &str, input: &[u8]) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let path = dir.join(format!("{kind}-{:016x}.bin", h.finish()));
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("fuzz: cannot save {}: {e}", path.display());
    }
    path
}

/// Saves the current input when the allocator refuses a request, before the process aborts
/// (a reader that asks for gigabytes is not expected to recover).
fn on_refusal(size: usize) {
    let cur = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    let path = save(&cur.1, "memory", &cur.0);
    eprintln!(
        "fuzz: a reader asked for {size} more bytes (past the {} GiB limit) on a {}-byte input, saved as {}",
        alloc::HARD_LIMIT >> 30,
        cur.0.len(),
        path.display()
    );
}

/// Aborts the campaign, saving the input, when a call runs far past the time limit.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let start = CALL_START.load(Relaxed);
            if start != 0 && now_ms().saturating_sub(start) > limit.as_millis() as u64 {
                let cur = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
                let path = save(&cur.1, "hang", &cur.0);
                eprintln!("fuzz: a call has run for over {limit:?}; input saved as {}", path.display());
                std::process::exit(3);
            }
        }
    });
}

/// Installs the hooks a campaign needs (once per process).
pub fn setup(timeout: Duration) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A panic outside a reader (in the fuzzer itself) is reported as usual.
            if CALL_START.load(Relaxed) == 0 {
                return default(info);
            }
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info.location().map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
            *PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{msg}{at}"));
        }));
        alloc::set_on_refusal(on_refusal);
        watchdog((timeout * 10).max(Duration::from_secs(20)));
    });
}

/// The first line of an error message with its numbers (and hex bytes after them), quoted
/// text (in `"`, `` ` `` or `'`) and lists blanked, so that messages that differ only in the
/// values they quote count once.
pub fn normalize(msg: &str) -> String {
    let msg = msg.lines().next().unwrap_or("");
    let mut out = String::with_capacity(msg.len().min(160));
    let mut quote: Option<char> = None;
    let (mut escaped, mut depth) = (false, 0usize);
    let mut word = String::new();
    // Ends a run of letters and digits: a number (or a hex byte after one) becomes `#`.
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let hex_after_number =
            word.len() == 2 && word.chars().all(|c| c.is_ascii_hexdigit()) && out.ends_with("# ");
        if word.chars().any(|c| c.is_ascii_digit()) || hex_after_number {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in msg.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
                if depth == 0 {
                    out.push(c);
                }
            }
            continue;
        }
        if depth == 0 && c.is_alphanumeric() {
            word.push(c);
            continue;
        }
        // A `'` right after a letter is an apostrophe (`model's`), else it opens a quote.
        let after_word = !word.is_empty();
        flush(&mut word, &mut out);
        match c {
            '"' | '`' => {
                quote = Some(c);
                if depth == 0 {
                    out.push(c);
                    out.push('_');
                }
            }
            '\'' if !after_word => {
                quote = Some(c);
                if depth == 0 {
                    out.push_str("'_");
                }
            }
            '[' => {
                if depth == 0 {
                    out.push_str("[_]");
                }
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => out.push(c),
        }
        if out.len() >= 150 {
            break;
        }
    }
    flush(&mut word, &mut out);
    // Hidden sizes per layer: `#/#/#` is one message however many layers.
    while out.contains("#/#/") {
        out = out.replace("#/#/", "#/");
    }
    out
}

/// Runs one target.
pub fn run(t: &'static Target, o: &Options) -> std::io::Result<Report> {
    setup(o.timeout);
    let seeds = read_corpus(&o.corpus.join(t.name))?;
    let mutator = Mutator::new(seeds, t.format);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.name.hash(&mut h);
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ h.finish());
    let crash_dir = o.crashes.join(t.name);
    let path = Path::new(t.file);
    let mut r = Report {
        name: t.name,
        execs: 0,
        secs: 0.0,
        ok: 0,
        errors: BTreeMap::new(),
        failures: BTreeMap::new(),
        peak: (0, 0),
        slowest: (Duration::ZERO, Duration::ZERO),
        slowest_input: Vec::new(),
    };
    CURRENT.lock().unwrap_or_else(|p| p.into_inner()).1 = crash_dir.clone();
    let started = Instant::now();
    let mut shown = Instant::now();
    for i in 0..o.execs {
        let input = match mutator.seeds().get(i as usize) {
            Some(s) => s.clone(),
            None => mutator.mutate(&mut rng),
        };
        CURRENT.lock().unwrap_or_else(|p| p.into_inner()).0.clone_from(&input);
        CALL_START.store(now_ms(), Relaxed);
        let base = alloc::start();
        let t0 = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (t.load)(&input, path)));
        let took = t0.elapsed();
        let (peak, refused) = alloc::peak_since(base);
        CALL_START.store(0, Relaxed);
        r.execs += 1;
        if took > r.slowest.0 {
            r.slowest.0 = took;
            r.slowest_input.clone_from(&input);
        }
        if peak > r.peak.0 {
            r.peak = (peak, input.len());
        }
        let mut fail = |kind: &'static str, key: String, detail: String| {
            let f = r.failures.entry(format!("{kind} {key}")).or_insert(Failure {
                kind,
                detail,
                count: 0,
                saved: Vec::new(),
            });
            f.count += 1;
            if f.saved.len() < 3 {
                let path = save(&crash_dir, kind, &input);
                if !f.saved.contains(&path) {
                    f.saved.push(path);
                }
            }
        };
        match result {
            Ok(Ok(())) => r.ok += 1,
            Ok(Err(msg)) => {
                let norm = normalize(&msg);
                if !msg.contains(t.file) {
                    fail("unnamed", norm.clone(), msg);
                }
                *r.errors.entry(norm).or_default() += 1;
            }
            Err(_) => {
                let msg = PANIC.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default();
                let place = msg.rsplit(" at ").next().unwrap_or("").to_string();
                fail("panic", place, msg);
            }
        }
        if took > o.timeout {
            fail("hang", String::new(), format!("{took:?} on {} bytes", input.len()));
        }
        if peak > budget(input.len()) || refused > 0 {
            let what = if refused > 0 {
                format!("asked for {refused} bytes at once")
            } else {
                format!("{peak} bytes live at the peak")
            };
            fail(
                "memory",
                String::new(),
                format!("{what} for a {}-byte input (budget {})", input.len(), budget(input.len())),
            );
        }
        if let Some(every) = o.progress
            && shown.elapsed() >= every
        {
            shown = Instant::now();
            let s = started.elapsed().as_secs_f64();
            eprintln!(
                "  {}: {} execs, {:.0}/s, {} distinct errors, {} failed",
                t.name,
                r.execs,
                r.execs as f64 / s,
                r.errors.len(),
                r.failed()
            );
        }
    }
    r.secs = started.elapsed().as_secs_f64();
    r.slowest.1 = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let _ = catch_unwind(AssertUnwindSafe(|| (t.load)(&r.slowest_input, path)));
            t0.elapsed()
        })
        .min()
        .unwrap_or_default();
    Ok(r)
}

/// The files of a corpus folder, sorted by name.
pub fn read_corpus(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(std::io::Error::other(format!("{}: no seed files", dir.display())));
    }
    paths.iter().map(std::fs::read).collect()
}

/// One line per target: executions, speed, accepted inputs, distinct errors, failures; then
/// each failure.
pub fn print(r: &Report, errors: bool) {
    println!(
        "{:<12} {:>9} execs {:>7.1} s {:>7.0}/s  ok {:>4.1}%  {:>5} distinct errors  peak {:>5} KiB  slowest {:.1} ms ({:.1} ms again, {} bytes)  failures {}",
        r.name,
        r.execs,
        r.secs,
        r.execs as f64 / r.secs.max(1e-9),
        100.0 * r.ok as f64 / r.execs.max(1) as f64,
        r.errors.len(),
        r.peak.0 >> 10,
        r.slowest.0.as_secs_f64() * 1e3,
        r.slowest.1.as_secs_f64() * 1e3,
        r.slowest_input.len(),
        r.failed()
    );
    for f in r.failures.values() {
        println!("  {} x{}: {}", f.kind, f.count, f.detail);
        for p in &f.saved {
            println!("    saved {}", p.display());
        }
    }
    if errors {
        let mut by_count: Vec<(&String, &u64)> = r.errors.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (msg, n) in by_count {
            println!("  {n:>9}  {msg}");
        }
    }
}
