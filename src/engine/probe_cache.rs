//! The answers of a play's batched probes, per connection target, and which of them
//! a change on the host leaves valid.
//!
//! A write to `/etc/app/a.conf` cannot change what a probe of `/etc/app/b.conf`
//! answers, so after a file write or a new folder only the answers about that path
//! and the folders above it are dropped; the rest still stands. Without this every
//! task after the first change on a host probed again on its own: one session and a
//! few processes per task on a cold converge.
//!
//! It has to stay exact, so anything it cannot account for drops every answer of
//! the host: a command step (a chmod reaches every hard link of a file, an `rm -rf`
//! every symlink chain through a folder), a change made with `become` (real paths
//! are taken as the login user), a changed path that is relative, has `..` or runs
//! through a symlink, and the files that name owners and groups (they change what
//! every `stat` prints). Answers about a path that runs through a symlink, or whose
//! real path is not known, go at every change. Real paths come from one
//! `realpath -m` over the probed paths, asked for with the probes after the first
//! change. A write replaces the file with a new one (a rename), so other hard
//! links keep their old content and their answers stay right.

use crate::modules::{fileprobe, Plan, Step};
use crate::transport::{Cmd, Output};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct HostProbes {
    answers: HashMap<Vec<u8>, Output>,
    /// Every probe asked so far, answered or dropped since, in the order asked (a
    /// set: a play asks hundreds, and each batch checks all of its own).
    asked: indexmap::IndexSet<Cmd>,
    /// Something changed on the host: from now on real paths are worth asking for.
    changed: bool,
    /// Bumped by every change, before and after its steps: answers asked for
    /// across a change (another host's task delegated here) are not kept.
    generation: u64,
    /// Probed path, as written in the task, to its real path on the host.
    real: HashMap<String, String>,
}

#[derive(Default)]
pub struct ProbeCache(Mutex<HashMap<String, HostProbes>>);

/// Dropped answers asked for again at once, at most: a batch must stay well under
/// the host's limit on one command's length (128 KiB on Linux).
pub const REASK_MAX: usize = 256;

/// Files whose change alters what `stat` prints for every path (owner and group
/// names), so a change there drops every answer.
const NAME_FILES: &[&str] = &["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"];

impl ProbeCache {
    /// The answers to all of `cmds`, or None if any one is missing.
    pub fn hits(&self, target: &str, cmds: &[Cmd]) -> Option<Vec<Output>> {
        let cache = self.0.lock().expect("cache lock");
        let hp = cache.get(target)?;
        cmds.iter()
            .map(|c| hp.answers.get(c.as_bytes()).cloned())
            .collect()
    }

    /// Keep the answers of one batch asked for at `generation` (from [`Self::stale`]);
    /// `real` from [`realpath_cmd`]'s answer. Nothing is kept when the host changed
    /// meanwhile.
    pub fn fill(
        &self,
        target: &str,
        generation: u64,
        cmds: Vec<Cmd>,
        outs: Vec<Output>,
        real: HashMap<String, String>,
    ) {
        let mut cache = self.0.lock().expect("cache lock");
        let hp = cache.entry(target.to_string()).or_default();
        if hp.generation != generation {
            return;
        }
        for (c, o) in cmds.into_iter().zip(outs) {
            hp.asked.insert(c.clone());
            hp.answers.insert(c.into_bytes(), o);
        }
        hp.real.extend(real);
    }

    /// The probes asked before whose answers a change dropped (those a later change
    /// can keep, at most [`REASK_MAX`]), whether the host has changed (so their real
    /// paths are worth asking for too), and the generation to [`Self::fill`] with.
    pub fn stale(&self, target: &str) -> (Vec<Cmd>, bool, u64) {
        let mut cache = self.0.lock().expect("cache lock");
        let hp = cache.entry(target.to_string()).or_default();
        let stale = hp
            .asked
            .iter()
            .filter(|c| !hp.answers.contains_key(c.as_bytes()))
            .filter(|c| fileprobe::path_of(c.as_bytes()).is_some())
            .take(REASK_MAX)
            .cloned()
            .collect();
        (stale, hp.changed, hp.generation)
    }

    /// The generation of `target`'s answers now, to [`Self::fill`] with.
    pub fn generation(&self, target: &str) -> u64 {
        let cache = self.0.lock().expect("cache lock");
        cache.get(target).map(|hp| hp.generation).unwrap_or(0)
    }

    /// Something changed on `target`: `touched` are the paths the change could
    /// reach, None when it could reach anything.
    pub fn forget(&self, target: &str, touched: Option<&[Reach]>) {
        let mut cache = self.0.lock().expect("cache lock");
        let hp = cache.entry(target.to_string()).or_default();
        hp.changed = true;
        hp.generation += 1;
        let Some(touched) = touched.and_then(|t| places(hp, t)) else {
            hp.answers.clear();
            hp.real.clear();
            return;
        };
        let related = |p: &str| touched.iter().any(|t| t.covers(p));
        let real = &hp.real;
        hp.answers.retain(|cmd, _| {
            let Some(path) = fileprobe::path_of(cmd) else {
                return false;
            };
            let Ok(path) = String::from_utf8(path) else {
                return false;
            };
            match real.get(&path) {
                Some(r) => Some(r) == normal(&path).as_ref() && !related(r),
                None => false,
            }
        });
        // Real paths stay: a file written or a folder made is no symlink, so no
        // path's real place moves (commands, which could, drop everything above).
    }
}

/// A path a change can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub path: String,
    /// Everything below it too. Not for a file written or a folder made where
    /// nothing was: below those nothing was there before and nothing is after.
    pub below: bool,
}

impl Reach {
    /// Whether a probe of `p` can answer differently after this change: `p` is the
    /// path, a folder above it (its entries and size change), or (with `below`)
    /// under it.
    fn covers(&self, p: &str) -> bool {
        let (Some(p), Some(t)) = (normal(p), normal(&self.path)) else {
            return true;
        };
        under(&t, &p) || (self.below && under(&p, &t))
    }
}

/// Where the changed paths really are, or None when that is not certain.
fn places(hp: &HostProbes, touched: &[Reach]) -> Option<Vec<Reach>> {
    touched
        .iter()
        .map(|t| {
            let path = normal(&t.path)?;
            let r = hp.real.get(&path)?;
            let sure = *r == path && !NAME_FILES.contains(&path.as_str());
            sure.then_some(Reach {
                path,
                below: t.below,
            })
        })
        .collect()
}

/// An absolute path without `.`, doubled or trailing slashes; None for a relative
/// one or one with `..` (which only the host can resolve).
fn normal(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return None;
    }
    let mut out = String::new();
    for part in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if part == ".." {
            return None;
        }
        out.push('/');
        out.push_str(part);
    }
    Some(if out.is_empty() { "/".into() } else { out })
}

/// Whether `x` is `y` or lies under it (both normal).
fn under(x: &str, y: &str) -> bool {
    y == "/" || x == y || x.strip_prefix(y).is_some_and(|r| r.starts_with('/'))
}

/// The paths of the probes in `cmds` that [`ProbeCache::forget`] can reason about.
pub fn probed_paths(cmds: &[Cmd]) -> Vec<String> {
    let mut paths: Vec<String> = cmds
        .iter()
        .filter_map(|c| fileprobe::path_of(c.as_bytes()))
        .filter_map(|p| String::from_utf8(p).ok())
        .filter_map(|p| normal(&p).map(|_| p))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// One command printing the real path of each of `paths` (symlinks resolved, missing
/// parts allowed), NUL after each.
pub fn realpath_cmd(paths: &[String]) -> Cmd {
    paths.iter().fold(
        Cmd::new("realpath").arg("-m").arg("-z").arg("--"),
        |c, p| c.arg(p),
    )
}

/// The answer of [`realpath_cmd`], path by path; empty when it does not add up.
pub fn parse_realpaths(paths: &[String], out: &Output) -> HashMap<String, String> {
    if !out.success() {
        return HashMap::new();
    }
    let parts: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    // One answer per path, then the empty rest after the last NUL.
    if parts.len() != paths.len() + 1 || !parts[paths.len()].is_empty() {
        return HashMap::new();
    }
    let mut real = HashMap::new();
    for (p, r) in paths.iter().zip(parts) {
        match std::str::from_utf8(r) {
            Ok(r) => real.insert(p.clone(), r.to_string()),
            Err(_) => return HashMap::new(),
        };
    }
    real
}

/// The paths a plan's steps can change, or None when a step's reach is unknown: a
/// file write or a new folder reaches its path (and, keeping a backup beside it,
/// its folder with all in it); a command anything.
pub fn reach(plan: &Plan) -> Option<Vec<Reach>> {
    let node = |p: &str| Reach {
        path: p.to_string(),
        below: false,
    };
    let mut out = vec![];
    for step in &plan.steps {
        match step {
            Step::Write(w) => {
                out.push(node(&w.path));
                if w.backup {
                    let parent = std::path::Path::new(&w.path).parent()?;
                    out.push(Reach {
                        path: parent.to_str()?.to_string(),
                        below: true,
                    });
                }
            }
            Step::MakeDirs { path, .. } => out.push(node(path)),
            Step::Exec { .. } => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::out;

    /// A cache holding one probe per path, every path real where it is written.
    fn cache(paths: &[&str], links: &[(&str, &str)]) -> ProbeCache {
        let c = ProbeCache::default();
        let cmds: Vec<Cmd> = paths.iter().map(|p| fileprobe::probe(p)).collect();
        let outs = paths.iter().map(|p| out(p)).collect();
        let mut real: HashMap<String, String> = paths
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect();
        for (p, r) in links {
            real.insert(p.to_string(), r.to_string());
        }
        c.fill("h", 0, cmds, outs, real);
        c
    }

    fn kept(c: &ProbeCache, paths: &[&str]) -> Vec<String> {
        paths
            .iter()
            .filter(|p| c.hits("h", &[fileprobe::probe(p)]).is_some())
            .map(|p| p.to_string())
            .collect()
    }

    fn all(p: &str) -> Vec<Reach> {
        vec![Reach {
            path: p.to_string(),
            below: true,
        }]
    }

    const ALL: &[&str] = &[
        "/etc",
        "/etc/app",
        "/etc/app/a.conf",
        "/etc/app/b.conf",
        "/etc/application",
        "/var/x",
    ];

    #[test]
    fn a_change_drops_its_path_the_folders_above_and_everything_below() {
        let c = cache(ALL, &[]);
        c.forget("h", Some(&all("/etc/app/a.conf")));
        assert_eq!(
            kept(&c, ALL),
            ["/etc/app/b.conf", "/etc/application", "/var/x"]
        );
        c.forget("h", Some(&all("/var/x/")));
        assert_eq!(kept(&c, ALL), ["/etc/app/b.conf", "/etc/application"]);
        // What was dropped is asked again at the next miss, real paths included.
        let (stale, changed, _) = c.stale("h");
        let stale: Vec<Vec<u8>> = stale.iter().filter_map(fileprobe::probe_path).collect();
        assert_eq!(
            stale,
            [&b"/etc"[..], b"/etc/app", b"/etc/app/a.conf", b"/var/x"]
        );
        assert!(changed);
        // The same place changed again: its real path is still known.
        c.forget("h", Some(&all("/etc/app")));
        assert_eq!(kept(&c, ALL), ["/etc/application"]);
    }

    /// Answers asked for before a change and filled after it are not kept: another
    /// host's task (delegated here) may have asked while this one changed things.
    #[test]
    fn answers_from_across_a_change_are_not_kept() {
        let c = cache(&["/a"], &[]);
        let before = c.generation("h");
        c.forget("h", Some(&all("/a")));
        c.fill(
            "h",
            before,
            vec![fileprobe::probe("/b")],
            vec![out("b")],
            HashMap::new(),
        );
        assert!(c.hits("h", &[fileprobe::probe("/b")]).is_none());
        let now = c.generation("h");
        c.fill(
            "h",
            now,
            vec![fileprobe::probe("/b")],
            vec![out("b")],
            HashMap::new(),
        );
        assert!(c.hits("h", &[fileprobe::probe("/b")]).is_some());
    }

    /// A folder made where there was none: what was absent below it still is.
    #[test]
    fn a_new_folder_keeps_the_answers_below_it() {
        let c = cache(ALL, &[]);
        let made = [Reach {
            path: "/etc/app".into(),
            below: false,
        }];
        c.forget("h", Some(&made));
        assert_eq!(
            kept(&c, ALL),
            [
                "/etc/app/a.conf",
                "/etc/app/b.conf",
                "/etc/application",
                "/var/x"
            ]
        );
    }

    /// Which steps reach where: writes and new folders their own path, commands
    /// anything.
    #[test]
    fn reach_of_steps() {
        use crate::modules::{Content, FileWrite};
        let write = |backup| {
            Step::Write(FileWrite {
                path: "/etc/app/a.conf".into(),
                content: Content::Plain(vec![]),
                mode: None,
                owner: None,
                group: None,
                backup,
            })
        };
        let mut plan = Plan::ok();
        plan.steps.push(write(false));
        plan.steps.push(Step::MakeDirs {
            path: "/srv".into(),
            mode: None,
        });
        let got = reach(&plan).unwrap();
        assert!(got.iter().all(|r| !r.below), "{got:?}");
        plan.steps.push(write(true));
        assert_eq!(reach(&plan).unwrap().last().unwrap(), &all("/etc/app")[0]);
        plan.steps
            .push(Step::exec(Cmd::new("chmod").arg("0644").arg("/x")));
        assert_eq!(reach(&plan), None);
    }

    #[test]
    fn anything_unaccounted_for_drops_every_answer() {
        for touched in [
            None,
            Some(all("rel/a.conf")),
            Some(all("/etc/app/../x")),
            Some(all("/not/probed")),
            Some(all("/etc/passwd")),
        ] {
            let mut paths = ALL.to_vec();
            paths.push("/etc/passwd");
            let c = cache(&paths, &[]);
            c.forget("h", touched.as_deref());
            assert!(kept(&c, ALL).is_empty(), "{touched:?}");
        }
    }

    /// `/srv/link` leads into `/etc/app`: a change there reaches it, and a change
    /// made through a symlinked path is not trusted at all.
    #[test]
    fn symlinks_are_followed_to_their_real_place() {
        let mut paths = ALL.to_vec();
        paths.push("/srv/link/a.conf");
        let c = cache(&paths, &[("/srv/link/a.conf", "/etc/app/a.conf")]);
        c.forget("h", Some(&all("/etc/app/a.conf")));
        assert!(kept(&c, &["/srv/link/a.conf"]).is_empty());
        assert_eq!(kept(&c, &["/var/x"]), ["/var/x"]);

        let c = cache(&paths, &[("/srv/link/a.conf", "/etc/app/a.conf")]);
        c.forget("h", Some(&all("/srv/link/a.conf")));
        assert!(kept(&c, ALL).is_empty());
    }

    #[test]
    fn realpaths_parse_one_per_path_or_none() {
        let paths = vec!["/a".to_string(), "/b c".to_string()];
        let got = parse_realpaths(&paths, &out("/a\0/real/b c\0"));
        assert_eq!(got["/b c"], "/real/b c");
        assert!(parse_realpaths(&paths, &out("/a\0")).is_empty());
        let failed = Output {
            status: Some(1),
            ..out("/a\0/b\0")
        };
        assert!(parse_realpaths(&paths, &failed).is_empty());
    }

    /// The command as the host runs it, on real symlinks.
    #[tokio::test]
    async fn realpath_cmd_resolves_on_the_host() {
        use crate::transport::local::LocalConnection;
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(d.join("real")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let paths: Vec<String> = ["link/new file", "real/x"]
            .iter()
            .map(|p| d.join(p).to_string_lossy().into_owned())
            .collect();
        let o = LocalConnection
            .exec(realpath_cmd(&paths).as_bytes(), None)
            .await
            .unwrap();
        let real = parse_realpaths(&paths, &o);
        assert_eq!(real[&paths[0]], d.join("real/new file").to_string_lossy());
        assert_eq!(real[&paths[1]], paths[1]);
    }
}
