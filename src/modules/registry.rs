//! The one table of modules. Adding a module is one line here.

use super::Module;
use serde_json::Value;

impl std::fmt::Debug for ModuleDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleDef({})", self.name)
    }
}

pub struct ModuleDef {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Build the typed module from its (rendered) arguments.
    pub build: fn(Value) -> Result<Box<dyn Module>, serde_json::Error>,
    /// Whether a free-form string argument (`command: ls -l`) is the command itself.
    pub free_form: bool,
}

macro_rules! registry {
    ($( $name:literal $(| $alias:literal)* => $ty:ty $(, free_form = $ff:literal)? ;)*) => {
        pub static MODULES: &[ModuleDef] = &[
            $( ModuleDef {
                name: $name,
                aliases: &[$($alias),*],
                build: |v| Ok(Box::new(serde_json::from_value::<$ty>(v)?)),
                free_form: false $(|| $ff)?,
            }, )*
        ];
    };
}

use super::{commands, files, kubernetes, logic, net, packages, pki, services, storage};

registry! {
    "command" => commands::command::Command, free_form = true;
    "shell" => commands::shell::Shell, free_form = true;
    "copy" => files::copy::Copy;
    "file" => files::file::File;
    "lineinfile" => files::lineinfile::LineInFile;
    "template" => files::template::Template;
    "slurp" => files::slurp::Slurp;
    "stat" => files::stat::Stat;
    "systemd" | "systemd_service" | "service" => services::systemd::Systemd;
    "wait_for" => net::wait_for::WaitFor;
    "uri" => net::uri::Uri;
    "x509_ca" => pki::x509_ca::X509Ca;
    "x509_cert" => pki::x509_cert::X509Cert;
    "x509_keypair" => pki::x509_keypair::X509Keypair;
    "kubeconfig" => pki::kubeconfig::Kubeconfig;
    "apt" | "package" => packages::apt::Apt;
    "dpkg_selections" => packages::dpkg_selections::DpkgSelections;
    "systemd_dropin" => kubernetes::systemd_dropin::SystemdDropin;
    "static_pod" => kubernetes::static_pod::StaticPod;
    "debug" => logic::debug::Debug;
    "set_fact" => logic::set_fact::SetFact;
    "assert" => logic::assert::Assert;
    "fail" => logic::fail::Fail;
    "setup" | "gather_facts" => super::facts::Setup;
    "lvg" => storage::lvg::Lvg;
    "lvol" => storage::lvol::Lvol;
    "filesystem" => storage::filesystem::Filesystem;
    "mount" => storage::mount::Mount;
}

/// Collections whose prefix is accepted in front of a module name, so Ansible
/// playbooks run unchanged (`ansible.builtin.copy`, `community.general.lvg`).
const COLLECTIONS: &[&str] = &[
    "ansible.builtin.",
    "ansible.legacy.",
    "ansible.posix.",
    "community.general.",
    "community.crypto.",
    "kubernetes.core.",
    "windlass.",
];

pub fn lookup(name: &str) -> Option<&'static ModuleDef> {
    let short = COLLECTIONS
        .iter()
        .find_map(|c| name.strip_prefix(c))
        .unwrap_or(name);
    MODULES
        .iter()
        .find(|m| m.name == short || m.aliases.contains(&short))
}

pub fn module_names() -> Vec<&'static str> {
    let mut v: Vec<_> = MODULES.iter().map(|m| m.name).collect();
    v.push("meta");
    v.sort();
    v
}
