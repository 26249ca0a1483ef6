//! Many read-only commands in one round trip: each runs in its own subshell, and
//! after each the script prints a marker line with the command's index and exit
//! status to stdout (and a marker to stderr). The marker carries a random nonce
//! drawn for this batch, so no file on the host can forge one, and splitting on it
//! keeps binary output and exit codes intact.
//!
//! The framing is shell builtins only (`printf`): no temporary folder and no
//! process per output. On a busy host the process spawns were most of a batched
//! probe's time.

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
    script: Framed,
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
        &self.script.cmd
    }

    /// One output per command, in the order given; None for a file probe the
    /// combined section could not answer (run it on its own to hear why).
    pub fn parse(&self, out: &Output) -> Result<Vec<Option<Output>>, String> {
        let extra = usize::from(!self.probes.is_empty());
        let mut outs = self.script.parse(out)?;
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

/// Commands framed as one script, and the nonce its markers carry.
pub struct Framed {
    pub cmd: Cmd,
    n: usize,
    mark: String,
}

pub fn script(cmds: &[Cmd]) -> Framed {
    let b: [u8; 16] = rand::random();
    let mark: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let mut s = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        s.extend_from_slice(b"( ");
        s.extend_from_slice(c.as_bytes());
        // The newline before each marker is ours: parse takes it off again, so
        // output without a final newline comes back as it was.
        s.extend_from_slice(
            format!(
                "\n) </dev/null; printf '\\n%s %s %s\\n' {mark} {i} $?; printf '\\n%s\\n' {mark} >&2\n"
            )
            .as_bytes(),
        );
    }
    Framed {
        cmd: Cmd::from_bytes(s),
        n: cmds.len(),
        mark,
    }
}

impl Framed {
    /// One output per command, in order.
    pub fn parse(&self, out: &Output) -> Result<Vec<Output>, String> {
        let ended = || {
            format!(
                "batched probe output ended early: {}",
                out.stderr_str().trim()
            )
        };
        let err_mark = format!("\n{}\n", self.mark);
        let (mut rest, mut errs) = (&out.stdout[..], &out.stderr[..]);
        let mut outs = Vec::with_capacity(self.n);
        for i in 0..self.n {
            let mark = format!("\n{} {i} ", self.mark);
            let at = find(rest, mark.as_bytes()).ok_or_else(ended)?;
            let stdout = rest[..at].to_vec();
            rest = &rest[at + mark.len()..];
            let nl = rest.iter().position(|b| *b == b'\n').ok_or_else(ended)?;
            let status = std::str::from_utf8(&rest[..nl])
                .ok()
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or_else(|| format!("batched probe output has a bad status for command {i}"))?;
            rest = &rest[nl + 1..];
            let at = find(errs, err_mark.as_bytes()).ok_or_else(ended)?;
            let stderr = errs[..at].to_vec();
            errs = &errs[at + err_mark.len()..];
            outs.push(Output {
                status: Some(status),
                stdout,
                stderr,
            });
        }
        Ok(outs)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
        let framed = script(&cmds);
        let out = LocalConnection
            .exec(framed.cmd.as_bytes(), None)
            .await
            .unwrap();
        let outs = framed.parse(&out).unwrap();
        assert_eq!(outs[0].stdout, b"a\0b");
        assert_eq!(outs[1].status, Some(3));
        assert_eq!(outs[1].stderr, b"err\n");
        assert_eq!(outs[2].stdout, b"it's\n");
    }

    /// No final newline, empty output, a forged marker without the nonce, output
    /// left behind on stderr only: each comes back exactly as the command printed it.
    #[tokio::test]
    async fn framing_keeps_edges_exact() {
        let cmds = vec![
            Cmd::raw_shell("printf 'no newline'"),
            Cmd::raw_shell("true"),
            Cmd::raw_shell("printf '\\n00 0 0\\n'; printf 'e\\n\\n' >&2"),
            Cmd::raw_shell("exit 1"),
        ];
        let framed = script(&cmds);
        let out = LocalConnection
            .exec(framed.cmd.as_bytes(), None)
            .await
            .unwrap();
        let outs = framed.parse(&out).unwrap();
        assert_eq!(outs[0].stdout, b"no newline");
        assert_eq!(outs[1].stdout, b"");
        assert_eq!(outs[1].status, Some(0));
        assert_eq!(outs[2].stdout, b"\n00 0 0\n");
        assert_eq!(outs[2].stderr, b"e\n\n");
        assert_eq!(outs[3].status, Some(1));
    }

    /// Output cut before the last marker (a lost connection) is an error, not a
    /// shorter answer.
    #[tokio::test]
    async fn truncated_output_is_refused() {
        let cmds = vec![Cmd::raw_shell("echo a"), Cmd::raw_shell("echo b")];
        let framed = script(&cmds);
        let mut out = LocalConnection
            .exec(framed.cmd.as_bytes(), None)
            .await
            .unwrap();
        let full = out.stdout.len();
        out.stdout.truncate(full - 3);
        assert!(framed.parse(&out).unwrap_err().contains("ended early"));
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
