//! The one place that turns values into shell words. Modules build commands from
//! static templates with `{}` holes; every hole is filled with a single-quoted word,
//! so no value reaching a remote shell can be read as shell syntax.

use std::fmt;

/// A command line for a POSIX `sh -c`, kept as bytes because paths may not be UTF-8.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Cmd(Vec<u8>);

/// Quote one word for a POSIX shell: wrap in single quotes, and write each single
/// quote as `'\''`. Inside single quotes nothing is special, not even newlines or NULs'
/// neighbours, so this is safe for arbitrary bytes except NUL (which no argv can hold).
pub fn quote(word: impl AsRef<[u8]>) -> Vec<u8> {
    let word = word.as_ref();
    if is_plain(word) {
        return word.to_vec();
    }
    let mut out = Vec::with_capacity(word.len() + 2);
    out.push(b'\'');
    for &b in word {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The word [`quote`] made, back as it was; None for anything `quote` cannot have
/// produced (so a caller never mistakes other shell text for one quoted word).
pub fn unquote(word: &[u8]) -> Option<Vec<u8>> {
    if is_plain(word) {
        return Some(word.to_vec());
    }
    let mut rest = word.strip_prefix(b"'")?;
    let mut out = Vec::with_capacity(word.len());
    loop {
        let end = rest.iter().position(|b| *b == b'\'')?;
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix(b"\\''")?;
        out.push(b'\'');
    }
}

/// A word the shell reads as itself, so [`quote`] leaves it bare.
fn is_plain(word: &[u8]) -> bool {
    !word.is_empty()
        && word
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(b))
}

/// String form of [`quote`] for UTF-8 input.
pub fn quote_str(word: &str) -> String {
    String::from_utf8(quote(word.as_bytes())).expect("quoting keeps UTF-8")
}

impl Cmd {
    /// A program and its arguments, each argument quoted.
    pub fn new(program: &str) -> Self {
        Cmd(quote(program.as_bytes()))
    }

    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.0.push(b' ');
        self.0.extend(quote(arg));
        self
    }

    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// A script written by this program's authors, with `{}` holes filled by quoted
    /// values in order. The template must be a literal from the source, never data.
    pub fn script(template: &'static str, values: &[&dyn AsRef<[u8]>]) -> Self {
        let mut out = Vec::with_capacity(template.len() + 16);
        let mut parts = template.split("{}");
        out.extend_from_slice(parts.next().unwrap_or("").as_bytes());
        let mut used = 0;
        for part in parts {
            let value = values.get(used).unwrap_or_else(|| {
                panic!("script template has more holes than values: {template}")
            });
            out.extend(quote(value.as_ref()));
            out.extend_from_slice(part.as_bytes());
            used += 1;
        }
        assert_eq!(
            used,
            values.len(),
            "script template has fewer holes than values: {template}"
        );
        Cmd(out)
    }

    /// Scripts of this program's authors, run one after the other, each with `words`
    /// (quoted here) as its positional parameters: `set -- 'w1' 'w2'...` before each.
    pub fn with_words(words: &[Vec<u8>], scripts: &[&'static str]) -> Self {
        let mut set = b"set --".to_vec();
        for w in words {
            set.push(b' ');
            set.extend(quote(w));
        }
        set.push(b'\n');
        let mut out = Vec::new();
        for s in scripts {
            out.extend_from_slice(&set);
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Cmd(out)
    }

    /// A command the operator wrote themselves (the `shell` module): passed as is.
    pub fn raw_shell(text: &str) -> Self {
        Cmd(text.as_bytes().to_vec())
    }

    /// Join already-safe pieces (built by this module's functions) into one script.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Cmd(bytes)
    }

    /// `self`, then `next` on its own line, whatever `self` returned.
    pub fn then(mut self, next: Cmd) -> Self {
        self.0.push(b'\n');
        self.0.extend(next.0);
        self
    }

    /// `self && next`
    pub fn and(mut self, next: Cmd) -> Self {
        self.0.extend_from_slice(b" && ");
        self.0.extend(next.0);
        self
    }

    /// `cd DIR && self`
    pub fn in_dir(self, dir: &str) -> Self {
        Cmd::new("cd").arg(dir).and(self)
    }

    /// Wrap in `sudo -n sh -c '...'` (become); -n so a password prompt fails fast.
    pub fn become_root(self, user: Option<&str>) -> Self {
        let mut c = Cmd::new("sudo").arg("-n");
        if let Some(u) = user {
            c = c.arg("-u").arg(u);
        }
        c.arg("sh").arg("-c").arg(&self.0)
    }

    /// Run under coreutils `timeout`: sshd does not stop a command whose channel was
    /// closed (and refuses the `signal` request for root logins), so without this a
    /// command the controller gave up on would run on, on the host, holding locks.
    /// `-k 5`: KILL whatever ignored the TERM five seconds later.
    pub fn with_deadline(self, limit: std::time::Duration) -> Self {
        let secs = limit.as_secs().max(1);
        Cmd::new("timeout")
            .arg("-k")
            .arg("5")
            .arg(secs.to_string())
            .arg("sh")
            .arg("-c")
            .arg(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cmd({})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_gives_back_what_quote_made_and_nothing_else() {
        for w in [
            &b"/etc/hosts"[..],
            b"it's",
            b"''",
            b"a b\n$(x)`y`",
            b"\xff\xfe",
            b"'",
        ] {
            assert_eq!(unquote(&quote(w)).as_deref(), Some(w), "{w:?}");
        }
        for not_quoted in [&b"'a' ; rm x ; 'b'"[..], b"a b", b"'open", b"$(x)", b""] {
            assert_eq!(unquote(not_quoted), None, "{not_quoted:?}");
        }
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("/etc/hosts"), b"/etc/hosts");
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(quote_str("it's $(x)"), r#"'it'\''s $(x)'"#);
        assert_eq!(quote_str(""), "''");
    }

    #[test]
    fn deadline_wraps_the_whole_command_as_one_word() {
        let c =
            Cmd::raw_shell("sleep 9; echo 'x'").with_deadline(std::time::Duration::from_secs(4));
        assert_eq!(
            c.to_string_lossy(),
            r#"timeout -k 5 4 sh -c 'sleep 9; echo '\''x'\'''"#
        );
    }

    #[test]
    fn script_fills_holes_in_order() {
        let c = Cmd::script("stat -c %a -- {} {}", &[&"a b", &"c"]);
        assert_eq!(c.to_string_lossy(), "stat -c %a -- 'a b' c");
    }
}
