//! Resume: a training process killed with SIGKILL at random points and resumed ends with a
//! model file identical, byte for byte, to the run never interrupted; a resume that does not
//! match the checkpointed run is refused, naming what differs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::recur;

/// A two-layer language model with dropout and carried state, checkpointed every step: every
/// part of the training state matters to the result.
fn args(out: &str) -> Vec<String> {
    let a = "train text --text t.txt --char --hidden 24 --layers 2 --dropout 0.2 --embedding 12 \
             --batch-size 8 --bptt 16 --epochs 2 --eval-every 1 --threads 2 -q --checkpoint-every 1";
    a.split(' ').map(String::from).chain(["-o".into(), out.into()]).collect()
}

fn text(dir: &Path) {
    let words = ["the", "cat", "sat", "on", "a", "mat", "while", "mice", "ran", "away"];
    let mut x = 7u64;
    let t: Vec<&str> = (0..2500)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            words[(x >> 33) as usize % words.len()]
        })
        .collect();
    std::fs::write(dir.join("t.txt"), t.join(" ")).unwrap();
}

/// Starts the run (resumed when its state is there), kills it after `after`; returns whether
/// it had finished by then.
fn run_killed(dir: &Path, out: &str, after: Duration) -> bool {
    let mut a = args(out);
    if dir.join(format!("{out}.state")).exists() {
        a.push("--resume".into());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(&a)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{a:?} failed");
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    false
}

#[test]
fn a_run_killed_at_random_points_and_resumed_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    text(dir.path());
    let reference =
        recur(dir.path(), &args("ref.safetensors").iter().map(|s| s.as_str()).collect::<Vec<_>>());
    reference.ok();
    let want = std::fs::read(dir.path().join("ref.safetensors")).unwrap();
    // Kill points (ms) per trial, from a fixed sequence; some trials are killed twice.
    let trials: [&[u64]; 4] = [&[350], &[900, 400], &[60], &[1500, 700]];
    for (i, kills) in trials.iter().enumerate() {
        let out = format!("k{i}.safetensors");
        for &ms in kills.iter() {
            run_killed(dir.path(), &out, Duration::from_millis(ms));
        }
        // Then to the end, resumed if a checkpoint was written.
        while !run_killed(dir.path(), &out, Duration::from_secs(600)) {}
        let got = std::fs::read(dir.path().join(&out)).unwrap();
        assert!(got == want, "trial {i} (killed after {kills:?} ms) differs from the run never stopped");
    }
}

#[test]
fn a_resume_that_differs_from_the_checkpointed_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    text(dir.path());
    let base = args("m.safetensors");
    let base: Vec<&str> = base.iter().map(|s| s.as_str()).collect();
    let e = recur(dir.path(), &[&base[..], &["--resume"]].concat()).fails().stderr();
    assert!(e.contains("no training state m.safetensors.state to resume from"), "{e}");
    let short = base.clone();
    recur(dir.path(), &short).ok();
    // The same command with other settings.
    for (flag, value, named) in [
        ("--batch-size", "4", "train.batch_size: 8 when checkpointed, 4 now"),
        ("--hidden", "16", "model.hidden_sizes: [24,24] when checkpointed, [16,16] now"),
        ("--seed", "9", "train.seed: 1 when checkpointed, 9 now"),
        ("--lr", "0.5", "train.optimizer"),
    ] {
        let mut a: Vec<&str> = short.clone();
        match a.iter().position(|&x| x == flag) {
            Some(i) => a[i + 1] = value,
            None => a.extend([flag, value]),
        }
        a.push("--resume");
        let e = recur(dir.path(), &a).fails().stderr();
        assert!(e.contains("cannot resume from m.safetensors.state") && e.contains(named), "{flag}: {e}");
    }
    // Another task.
    let e =
        recur(dir.path(), &["train", "bitcount", "-q", "-o", "m.safetensors", "--resume"]).fails().stderr();
    assert!(e.contains("task.name: \"text\" when checkpointed, \"bitcount\" now"), "{e}");
    // A model file from another run beside the state.
    recur(dir.path(), &["train", "bitcount", "-q", "--epochs", "1", "-o", "other.safetensors"]).ok();
    std::fs::copy(dir.path().join("other.safetensors"), dir.path().join("m.safetensors")).unwrap();
    let e = recur(dir.path(), &[&short[..], &["--resume"]].concat()).fails().stderr();
    assert!(e.contains("m.safetensors.state does not belong to m.safetensors"), "{e}");
}

/// A checkpoint that cannot be written (here: its directory is gone) leaves the last good one,
/// says so, and the run goes on; the final save fails with the same message, and the run
/// resumes from the kept checkpoint to the same model.
#[test]
fn an_unwritable_checkpoint_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    text(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let model = out_dir.join("m.safetensors");
    let a = args(model.to_str().unwrap());
    let child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(&a)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = out_dir.join("m.safetensors.state");
    while !state.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100));
    let moved = dir.path().join("moved");
    std::fs::rename(&out_dir, &moved).unwrap();
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning: checkpoint at step") && err.contains("the last good checkpoint (step"),
        "{err}"
    );
    assert!(err.contains("recur: could not save the model:") && !err.contains("panicked"), "{err}");
    // Back in place, the kept checkpoint resumes to the model of a run never disturbed.
    std::fs::rename(&moved, &out_dir).unwrap();
    let resumed: Vec<&str> = a.iter().map(|s| s.as_str()).chain(["--resume"]).collect();
    recur(dir.path(), &resumed).ok();
    recur(dir.path(), &args("ref.safetensors").iter().map(|s| s.as_str()).collect::<Vec<_>>()).ok();
    assert!(std::fs::read(&model).unwrap() == std::fs::read(dir.path().join("ref.safetensors")).unwrap());
}
