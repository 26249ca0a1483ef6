//! Many read-only commands in one round trip: each runs in its own subshell with its
//! output captured to a temporary folder, then everything comes back length-prefixed
//! so binary output and exit codes survive intact.
//!
//! The framing costs a fixed handful of processes on the host (mktemp, one `stat`
//! for every size, one `cat` for every output, rm), not a few per command: on a
//! busy host the process spawns were most of a batched probe's time.

use crate::modules::fileprobe;
use crate::transport::{Cmd, Output};

/// A batch of commands as one script. File probes (the probe most tasks run) are
/// answered together by one `fileprobe::many` section when there are several.
pub struct Batch {
    n: usize,
    /// Indexes of the commands run as themselves, in script order.
    plain: Vec<usize>,
    /// Indexes of the file probes answered together (empty: none combined).
    probes: Vec<usize>,
    script: Cmd,
}

impl Batch {
    pub fn new(cmds: &[Cmd]) -> Batch {
        let paths: Vec<Option<Vec<u8>>> = cmds.iter().map(fileprobe::probe_path).collect();
        let nprobes = paths.iter().filter(|q| q.is_some()).count();
        if nprobes < 2 {
            return Batch {
                n: cmds.len(),
                plain: (0..cmds.len()).collect(),
                probes: vec![],
                script: script(cmds),
            };
        }
        let (probes, plain): (Vec<usize>, Vec<usize>) =
            (0..cmds.len()).partition(|i| paths[*i].is_some());
        let paths: Vec<Vec<u8>> = paths.into_iter().flatten().collect();
        let mut run: Vec<Cmd> = plain.iter().map(|i| cmds[*i].clone()).collect();
        run.push(fileprobe::many(&paths));
        Batch {
            n: cmds.len(),
            plain,
            probes,
            script: script(&run),
        }
    }

    pub fn script(&self) -> &Cmd {
        &self.script
    }

    /// One output per command, in the order given; None for a file probe the
    /// combined section could not answer (run it on its own to hear why).
    pub fn parse(&self, out: &Output) -> Result<Vec<Option<Output>>, String> {
        let extra = usize::from(!self.probes.is_empty());
        let mut outs = parse(self.plain.len() + extra, out)?;
        let mut all: Vec<Option<Output>> = (0..self.n).map(|_| None).collect();
        if extra == 1 {
            let combined = outs.pop().expect("the combined section's output");
            if let Some(each) = fileprobe::many_outputs(self.probes.len(), &combined) {
                for (i, o) in self.probes.iter().zip(each) {
                    all[*i] = Some(o);
                }
            }
        }
        for (i, o) in self.plain.iter().zip(outs) {
            all[*i] = Some(o);
        }
        Ok(all)
    }
}

pub fn script(cmds: &[Cmd]) -> Cmd {
    let mut s = b"d=$(mktemp -d) || exit 97\n".to_vec();
    for (i, c) in cmds.iter().enumerate() {
        s.extend_from_slice(b"( ");
        s.extend_from_slice(c.as_bytes());
        s.extend_from_slice(
            format!("\n) >\"$d/{i}\" 2>\"$d/{i}e\" </dev/null; s{i}=$?\n").as_bytes(),
        );
    }
    // Line 1: every exit status; then one size per output file (stdout, stderr, in
    // command order); then the outputs themselves, back to back.
    let names: Vec<String> = (0..cmds.len())
        .flat_map(|i| [i.to_string(), format!("{i}e")])
        .collect();
    let names = names.join(" ");
    let statuses: Vec<String> = (0..cmds.len()).map(|i| format!("$s{i}")).collect();
    s.extend_from_slice(
        format!(
            "cd \"$d\" || exit 97\necho {}\nstat -c %s -- {names} || exit 97\ncat -- {names} || exit 97\ncd / && rm -rf \"$d\"\n",
            statuses.join(" ")
        )
        .as_bytes(),
    );
    Cmd::from_bytes(s)
}

pub fn parse(n: usize, out: &Output) -> Result<Vec<Output>, String> {
    let ended = || {
        format!(
            "batched probe output ended early: {}",
            out.stderr_str().trim()
        )
    };
    let mut rest = &out.stdout[..];
    let mut line = || -> Result<String, String> {
        let nl = rest.iter().position(|b| *b == b'\n').ok_or_else(ended)?;
        let l = String::from_utf8_lossy(&rest[..nl]).to_string();
        rest = &rest[nl + 1..];
        Ok(l)
    };
    let status_line = line()?;
    let statuses = status_line
        .split_whitespace()
        .map(|p| p.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| format!("batched probe output has a bad status line {status_line:?}"))?;
    if statuses.len() != n {
        return Err(format!(
            "batched probe answered {} statuses for {n} commands",
            statuses.len()
        ));
    }
    let mut sizes = Vec::with_capacity(2 * n);
    for _ in 0..2 * n {
        let l = line()?;
        sizes.push(
            l.trim()
                .parse::<usize>()
                .map_err(|_| format!("batched probe output has a bad size {l:?}"))?,
        );
    }
    let mut outs = Vec::with_capacity(n);
    for (i, st) in statuses.into_iter().enumerate() {
        let (lo, le) = (sizes[2 * i], sizes[2 * i + 1]);
        if rest.len() < lo + le {
            return Err("batched probe output is truncated".into());
        }
        outs.push(Output {
            status: Some(st),
            stdout: rest[..lo].to_vec(),
            stderr: rest[lo..lo + le].to_vec(),
        });
        rest = &rest[lo + le..];
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalConnection;

    #[tokio::test]
    async fn batch_round_trips_binary_and_codes() {
        let cmds = vec![
            Cmd::raw_shell("printf 'a\\000b'"),
            Cmd::raw_shell("echo err >&2; exit 3"),
            Cmd::new("echo").arg("it's"),
        ];
        let out = LocalConnection
            .exec(script(&cmds).as_bytes(), None)
            .await
            .unwrap();
        let outs = parse(3, &out).unwrap();
        assert_eq!(outs[0].stdout, b"a\0b");
        assert_eq!(outs[1].status, Some(3));
        assert_eq!(outs[1].stderr, b"err\n");
        assert_eq!(outs[2].stdout, b"it's\n");
    }

    /// Probes answered together print exactly what each probe prints on its own.
    #[tokio::test]
    async fn combined_file_probes_match_single_probes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("f"), "hello\n").unwrap();
        std::fs::write(d.join("it's empty"), "").unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        std::os::unix::fs::symlink("f", d.join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", d.join("dangling")).unwrap();
        std::fs::write(d.join("back\\slash"), "x").unwrap();
        let names = [
            "f",
            "it's empty",
            "dir",
            "link",
            "dangling",
            "absent",
            "back\\slash",
        ];
        let mut cmds: Vec<Cmd> = names
            .iter()
            .map(|n| fileprobe::probe(&d.join(n).to_string_lossy()))
            .collect();
        cmds.insert(2, Cmd::raw_shell("echo other; exit 4"));
        let batch = Batch::new(&cmds);
        assert_eq!(batch.probes.len(), names.len());
        let out = LocalConnection
            .exec(batch.script().as_bytes(), None)
            .await
            .unwrap();
        let got = batch.parse(&out).unwrap();
        for (c, g) in cmds.iter().zip(&got) {
            let alone = LocalConnection.exec(c.as_bytes(), None).await.unwrap();
            let g = g.as_ref().expect("answered");
            assert_eq!(
                String::from_utf8_lossy(&g.stdout),
                String::from_utf8_lossy(&alone.stdout),
                "{c:?}"
            );
            assert_eq!(g.status, alone.status);
        }
    }

    #[tokio::test]
    async fn a_combined_probe_that_fails_is_left_to_run_alone() {
        let out = Output {
            status: Some(1),
            stdout: b"k=f\n".to_vec(),
            stderr: b"stat: Permission denied\n".to_vec(),
        };
        assert!(fileprobe::many_outputs(1, &out).is_none());
        let short = Output {
            status: Some(0),
            stdout: b"k=ff\nregular file|644|root|root|1\n".to_vec(),
            stderr: vec![],
        };
        assert!(fileprobe::many_outputs(2, &short).is_none());
    }
}
