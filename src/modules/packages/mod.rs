//! Debian packages: `apt` (alias `package`) and `dpkg_selections`.

pub mod apt;
mod apt_probe;
mod debversion;
pub mod dpkg_selections;
