//! Many read-only commands in one round trip: each runs in its own subshell with its
//! output captured to a temporary folder, then everything comes back length-prefixed
//! so binary output and exit codes survive intact.

use crate::transport::{Cmd, Output};

pub fn script(cmds: &[Cmd]) -> Cmd {
    let mut s = b"d=$(mktemp -d) || exit 97\n".to_vec();
    for (i, c) in cmds.iter().enumerate() {
        s.extend_from_slice(b"( ");
        s.extend_from_slice(c.as_bytes());
        s.extend_from_slice(
            format!("\n) >\"$d/{i}\" 2>\"$d/{i}e\" </dev/null; echo $? >\"$d/{i}s\"\n").as_bytes(),
        );
    }
    s.extend_from_slice(
        format!(
            "i=0; while [ $i -lt {} ]; do printf '%s %s %s\\n' $(wc -c <\"$d/$i\") $(wc -c <\"$d/${{i}}e\") $(cat \"$d/${{i}}s\"); cat \"$d/$i\" \"$d/${{i}}e\"; i=$((i+1)); done; rm -rf \"$d\"\n",
            cmds.len()
        )
        .as_bytes(),
    );
    Cmd::from_bytes(s)
}

pub fn parse(n: usize, out: &Output) -> Result<Vec<Output>, String> {
    let mut rest = &out.stdout[..];
    let mut outs = Vec::with_capacity(n);
    for i in 0..n {
        let nl = rest.iter().position(|b| *b == b'\n').ok_or_else(|| {
            format!(
                "batched probe output ended early at command {i}: {}",
                out.stderr_str().trim()
            )
        })?;
        let header = String::from_utf8_lossy(&rest[..nl]).to_string();
        let mut parts = header.split_whitespace().map(|p| p.parse::<usize>());
        let (Some(Ok(lo)), Some(Ok(le)), Some(Ok(st))) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("batched probe output has a bad header {header:?}"));
        };
        rest = &rest[nl + 1..];
        if rest.len() < lo + le {
            return Err("batched probe output is truncated".into());
        }
        outs.push(Output {
            status: Some(st as u32),
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
