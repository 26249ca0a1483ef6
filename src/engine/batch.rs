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

/// A batch of commands as one script. File probes and link resolutions (what most
/// tasks ask) are answered together by one `fileprobe::combined` section when
/// there are several.
pub struct Batch {
    n: usize,
    /// Indexes of the commands run as themselves, in script order.
    plain: Vec<usize>,
    /// Indexes of the file probes and of the resolutions answered together (both
    /// empty: none combined).
    probes: Vec<usize>,
    resolves: Vec<usize>,
    script: Framed,
}

impl Batch {
    pub fn new(cmds: &[Cmd]) -> Batch {
        let probe: Vec<Option<Vec<u8>>> = cmds.iter().map(fileprobe::probe_path).collect();
        let resolve: Vec<Option<Vec<u8>>> = cmds
            .iter()
            .zip(&probe)
            .map(|(c, p)| p.is_none().then(|| fileprobe::resolved_path(c)).flatten())
            .collect();
        let combined = probe.iter().chain(&resolve).filter(|q| q.is_some()).count();
        if combined < 2 {
            return Batch {
                n: cmds.len(),
                plain: (0..cmds.len()).collect(),
                probes: vec![],
                resolves: vec![],
                script: script(cmds),
            };
        }
        let pick = |q: &[Option<Vec<u8>>]| -> Vec<usize> {
            (0..cmds.len()).filter(|i| q[*i].is_some()).collect()
        };
        let (probes, resolves) = (pick(&probe), pick(&resolve));
        let plain: Vec<usize> = (0..cmds.len())
            .filter(|i| probe[*i].is_none() && resolve[*i].is_none())
            .collect();
        let mut run: Vec<Cmd> = plain.iter().map(|i| cmds[*i].clone()).collect();
        run.push(fileprobe::combined(
            &probe.into_iter().flatten().collect::<Vec<_>>(),
            &resolve.into_iter().flatten().collect::<Vec<_>>(),
        ));
        Batch {
            n: cmds.len(),
            plain,
            probes,
            resolves,
            script: script(&run),
        }
    }

    pub fn script(&self) -> &Cmd {
        &self.script.cmd
    }

    /// One output per command, in the order given; None for a probe the combined
    /// section could not answer (run it on its own to hear why).
    pub fn parse(&self, out: &Output) -> Result<Vec<Option<Output>>, String> {
        let extra = !self.probes.is_empty() || !self.resolves.is_empty();
        let mut outs = self.script.parse(out)?;
        let mut all: Vec<Option<Output>> = (0..self.n).map(|_| None).collect();
        if extra {
            let combined = outs.pop().expect("the combined section's output");
            if let Some((probed, resolved)) =
                fileprobe::combined_outputs(self.probes.len(), self.resolves.len(), &combined)
            {
                let answered = self.probes.iter().zip(probed);
                for (i, o) in answered.chain(self.resolves.iter().zip(resolved)) {
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
    /// None: one command, run as it is (no subshell, no markers).
    mark: Option<String>,
}

pub fn script(cmds: &[Cmd]) -> Framed {
    if let [one] = cmds {
        return Framed {
            cmd: one.clone(),
            n: 1,
            mark: None,
        };
    }
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
        mark: Some(mark),
    }
}

impl Framed {
    /// One output per command, in order.
    pub fn parse(&self, out: &Output) -> Result<Vec<Output>, String> {
        let Some(mark) = &self.mark else {
            return Ok(vec![out.clone()]);
        };
        let ended = || {
            format!(
                "batched probe output ended early: {}",
                out.stderr_str().trim()
            )
        };
        let err_mark = format!("\n{mark}\n");
        let (mut rest, mut errs) = (&out.stdout[..], &out.stderr[..]);
        let mut outs = Vec::with_capacity(self.n);
        for i in 0..self.n {
            let mark = format!("\n{mark} {i} ");
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

    /// The commands framed as one script, run here.
    async fn run_here(cmds: &[Cmd]) -> (Framed, Output) {
        let framed = script(cmds);
        let out = LocalConnection
            .exec(framed.cmd.as_bytes(), None)
            .await
            .unwrap();
        (framed, out)
    }

    #[tokio::test]
    async fn batch_round_trips_binary_and_codes() {
        let cmds = vec![
            Cmd::raw_shell("printf 'a\\000b'"),
            Cmd::raw_shell("echo err >&2; exit 3"),
            Cmd::new("echo").arg("it's"),
        ];
        let (framed, out) = run_here(&cmds).await;
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
        let (framed, out) = run_here(&cmds).await;
        let outs = framed.parse(&out).unwrap();
        assert_eq!(outs[0].stdout, b"no newline");
        assert_eq!(outs[1].stdout, b"");
        assert_eq!(outs[1].status, Some(0));
        assert_eq!(outs[2].stdout, b"\n00 0 0\n");
        assert_eq!(outs[2].stderr, b"e\n\n");
        assert_eq!(outs[3].status, Some(1));
    }

    /// One command runs as it is: no subshell, no markers.
    #[test]
    fn one_command_is_not_framed() {
        let one = Cmd::new("stat").arg("/");
        let framed = script(std::slice::from_ref(&one));
        assert_eq!(framed.cmd, one);
        let out = Output {
            status: Some(0),
            stdout: b"x".to_vec(),
            stderr: vec![],
        };
        assert_eq!(framed.parse(&out).unwrap(), [out]);
    }

    /// Output cut before the last marker (a lost connection) is an error, not a
    /// shorter answer.
    #[tokio::test]
    async fn truncated_output_is_refused() {
        let cmds = vec![Cmd::raw_shell("echo a"), Cmd::raw_shell("echo b")];
        let (framed, mut out) = run_here(&cmds).await;
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
        cmds.extend(
            names
                .iter()
                .map(|n| fileprobe::resolved(&d.join(n).to_string_lossy())),
        );
        cmds.insert(2, Cmd::raw_shell("echo other; exit 4"));
        let batch = Batch::new(&cmds);
        assert_eq!(batch.probes.len(), names.len());
        assert_eq!(batch.resolves.len(), names.len());
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
