pub mod command;
pub mod shell;

use crate::transport::Cmd;

/// `creates`/`removes` are answered by one probe: does each path exist?
pub(crate) fn exists_probe(path: &str) -> Cmd {
    Cmd::script("if [ -e {} ]; then echo yes; else echo no; fi", &[&path])
}
