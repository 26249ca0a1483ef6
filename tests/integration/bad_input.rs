//! The corpus of bad inputs in `tests/bad_input/`: every case must stop windlass with
//! "bad input" (exit 6) and a message that says where (file:line) and what is
//! wrong, before any host is contacted.
//!
//! One case is one folder: `site.yml`, optionally `inventory.yml` (else the lab's),
//! `group_vars/`, `host_vars/`, `roles/`, `templates/`, `files/`, `outputs.json`, an
//! `args` file (extra command-line words, one per line), and `expected`:
//!
//! ```yaml
//! code: 6                        # optional, 6 by default
//! contains: ["site.yml:7:", "unsupported argument"]   # all must be in stderr
//! requires_module: lvol          # optional: skip until that module is registered
//! ```
//!
//! The hosts are real OpenSSH daemons, started once for the whole corpus. After each
//! case the daemons must have seen no login, and the hosts' roots must hold only
//! their canary file, unchanged. A case's `inventory.yml` may say `${LAB_PORT_1}`,
//! `${LAB_ROOT_1}` (and `_2`) to point its hosts at the lab's daemons.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use windlass::lab::sshd::{self, SshdLab};

const CASE_TIMEOUT: Duration = Duration::from_secs(60);
const CANARY: &str = "canary: windlass must not touch this host\n";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default = "bad_input")]
    code: i32,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    requires_module: Option<String>,
}

fn bad_input() -> i32 {
    6
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/bad_input exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Every file below `dir`, relative, with its content.
fn snapshot(dir: &Path) -> BTreeSet<(PathBuf, Vec<u8>)> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let content = std::fs::read(&p).unwrap_or_default();
                out.insert((p.strip_prefix(dir).unwrap_or(&p).to_path_buf(), content));
            }
        }
    }
    out
}

/// Copies a case to a scratch folder (so a run can never write into the source tree),
/// filling in the lab's ports and roots in its inventory.
fn stage(case: &Path, into: &Path, lab: &SshdLab) -> std::io::Result<()> {
    std::fs::create_dir_all(into)?;
    let mut todo = vec![case.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(case).expect("below the case");
            let dest = into.join(rel);
            if p.is_dir() {
                std::fs::create_dir_all(&dest)?;
                todo.push(p);
            } else if rel == Path::new("inventory.yml") {
                let mut text = std::fs::read_to_string(&p)?;
                for (i, h) in lab.hosts().iter().enumerate() {
                    text = text
                        .replace(&format!("${{LAB_PORT_{}}}", i + 1), &h.port.to_string())
                        .replace(
                            &format!("${{LAB_ROOT_{}}}", i + 1),
                            &h.root.display().to_string(),
                        );
                }
                std::fs::write(dest, text)?;
            } else {
                std::fs::copy(&p, dest)?;
            }
        }
    }
    Ok(())
}

struct Run {
    code: Option<i32>,
    stderr: String,
}

fn run_windlass(dir: &Path, inventory: &Path, args: &[String], lab: &SshdLab) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .current_dir(dir)
        .arg("converge")
        .arg("-i")
        .arg(inventory)
        .arg("site.yml")
        .args(args)
        // Reach the lab if anything slips through, so the daemons' logs would show it.
        .arg("--private-key")
        .arg(&lab.client_key)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .args(["--timeout", "3"])
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("windlass starts");
    // A task that fails before contacting its host reports on stdout (the task
    // line); load errors go to stderr. Both are searched.
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let mut stdout_pipe = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if start.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code,
        stderr: reader.join().unwrap_or_default() + &out_reader.join().unwrap_or_default(),
    }
}

/// What is wrong with one case's run, if anything.
fn check_case(case: &Path, lab: &SshdLab, scratch: &Path) -> Result<String, String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let expected_text = std::fs::read_to_string(case.join("expected"))
        .map_err(|e| format!("cannot read expected: {e}"))?;
    let expected: Expected =
        serde_norway::from_str(&expected_text).map_err(|e| format!("bad expected file: {e}"))?;
    if let Some(m) = &expected.requires_module {
        if windlass::modules::lookup(m).is_none() {
            return Ok(format!("skipped: module {m} is not registered yet"));
        }
    }
    if expected.contains.is_empty() {
        return Err("expected lists nothing under contains:".into());
    }
    let dir = scratch.join(&name);
    stage(case, &dir, lab).map_err(|e| format!("cannot stage the case: {e}"))?;
    let before_files = snapshot(&dir);
    let args: Vec<String> = match std::fs::read_to_string(dir.join("args")) {
        Ok(t) => t
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => vec![],
    };
    let inventory = if dir.join("inventory.yml").exists() {
        dir.join("inventory.yml")
    } else {
        lab.inventory.clone()
    };
    let sessions_before: usize = lab.hosts().iter().map(|h| lab.session_count(&h.name)).sum();

    let run = run_windlass(&dir, &inventory, &args, lab);

    let mut problems = vec![];
    match run.code {
        Some(c) if c == expected.code => {}
        Some(c) => problems.push(format!("exit code {c}, expected {}", expected.code)),
        None => problems.push(format!(
            "no exit code (killed after {CASE_TIMEOUT:?}, or by a signal)"
        )),
    }
    for s in &expected.contains {
        if !run.stderr.contains(s.as_str()) {
            problems.push(format!("stderr lacks {s:?}"));
        }
    }
    for panic_sign in ["panicked at", "stack backtrace", "RUST_BACKTRACE"] {
        if run.stderr.contains(panic_sign) {
            problems.push(format!("stderr shows a panic ({panic_sign:?})"));
        }
    }
    let sessions_after: usize = lab.hosts().iter().map(|h| lab.session_count(&h.name)).sum();
    if sessions_after != sessions_before {
        problems.push(format!(
            "the daemons saw {} login(s)",
            sessions_after - sessions_before
        ));
    }
    for h in lab.hosts() {
        let files = snapshot(&h.root);
        let want: BTreeSet<(PathBuf, Vec<u8>)> =
            [(PathBuf::from("canary"), CANARY.as_bytes().to_vec())].into();
        if files != want {
            let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
            problems.push(format!(
                "{}'s root changed: now holds {}",
                h.name,
                names.join(", ")
            ));
        }
    }
    if snapshot(&dir) != before_files {
        problems.push("the run wrote into the case's folder".into());
    }
    if problems.is_empty() {
        Ok(run.stderr.lines().next().unwrap_or("").to_string())
    } else {
        Err(format!(
            "{}\n      stderr: {}",
            problems.join("; "),
            run.stderr.trim_end().replace('\n', "\n              ")
        ))
    }
}

/// Each host's root back to its canary alone, so one case that went wrong does not
/// make the next ones look wrong too.
fn reset_roots(lab: &SshdLab) {
    for h in lab.hosts() {
        let _ = std::fs::remove_dir_all(&h.root);
        std::fs::create_dir_all(&h.root).expect("root folder");
        std::fs::write(h.root.join("canary"), CANARY).expect("canary written");
    }
}

#[test]
fn bad_input_corpus() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let lab = sshd::start(&scratch.path().join("lab"), 2, None).expect("sshd lab starts");
    reset_roots(&lab);
    let cases = cases();
    assert!(cases.len() >= 45, "the corpus has {} cases", cases.len());
    let work = scratch.path().join("cases");
    let mut failed = vec![];
    let mut skipped = vec![];
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match check_case(case, &lab, &work) {
            Ok(line) if line.starts_with("skipped: ") => {
                println!("skip {name}: {}", &line["skipped: ".len()..]);
                skipped.push(name);
            }
            Ok(line) => println!("ok   {name}: {line}"),
            Err(why) => {
                println!("FAIL {name}: {why}");
                failed.push(name);
                reset_roots(&lab);
            }
        }
    }
    println!(
        "bad input corpus: {} as expected, {} wrong, {} skipped",
        cases.len() - failed.len() - skipped.len(),
        failed.len(),
        skipped.len()
    );
    assert!(failed.is_empty(), "failing cases: {}", failed.join(", "));
}
