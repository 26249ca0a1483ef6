//! Many read-only commands in one round trip: each runs in its own subshell with its
//! output captured to a temporary folder, then everything comes back length-prefixed
//! so binary output and exit codes survive intact.
//!
//! The framing costs a fixed handful of processes on the host (mktemp, one `stat`
//! for every size, one `cat` for every output, rm), not a few per command: on a
//! busy host the process spawns were most of a batched probe's time.

use crate::transport::{Cmd, Output};

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
}
