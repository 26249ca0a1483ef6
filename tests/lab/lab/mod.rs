//! The lab fixture: VMs booted by lab/lab.sh, reached the way operators reach
//! theirs (inventories/lab reads the lab's Terraform-shaped outputs).

pub mod drift;
pub mod site;
pub mod upgrade;

use std::path::PathBuf;
use std::process::Command;

pub struct Lab {
    pub repo: PathBuf,
    pub dir: PathBuf,
    pub inventory: String,
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Names of the handlers that ran (a `task_start` event with `handler: true`).
    pub fn handlers(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "task_start" && e["handler"] == true)
            .filter_map(|e| e["task"].as_str().map(str::to_string))
            .collect()
    }

    /// (host, task) of every result with this status.
    pub fn with_status(&self, status: &str) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .events()
            .into_iter()
            .filter(|e| e["event"] == "host" && e["status"] == status)
            .map(|e| {
                (
                    e["host"].as_str().unwrap_or("").to_string(),
                    e["task"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Lab {
    /// Blank VMs: per-VM disks recreated from the cached base image.
    pub fn up_fresh() -> Lab {
        let lab = Lab::up(&["up", "--fresh"]);
        // The pki role keeps the lab's CA beside the repository; start it afresh too.
        let _ = std::fs::remove_dir_all(lab.repo.join(".pki/lab"));
        lab
    }

    /// The VMs as they are (booted if they were not), with the CA they were given.
    pub fn up_as_is() -> Lab {
        Lab::up(&["up"])
    }

    fn up(args: &[&str]) -> Lab {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new("bash")
            .arg(repo.join("lab/lab.sh"))
            .args(args)
            .status()
            .expect("run lab/lab.sh");
        assert!(status.success(), "lab/lab.sh {args:?} failed");
        let dir = std::env::var("LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo.join(".lab/vms"));
        Lab {
            inventory: repo.join("inventories/lab/hosts.yml").display().to_string(),
            repo,
            dir,
        }
    }

    pub fn playbook(&self, name: &str) -> String {
        self.repo.join("playbooks").join(name).display().to_string()
    }

    pub fn windlass(&self, args: &[&str]) -> Ran {
        let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .env("NO_COLOR", "1")
            .current_dir(&self.repo)
            .output()
            .expect("run windlass");
        let ran = Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !ran.stderr.contains("panicked"),
            "windlass panicked:\n{}",
            ran.stderr
        );
        ran
    }

    pub fn converge(&self, playbook: &str, extra: &[&str]) -> Ran {
        let pb = self.playbook(playbook);
        let mut args = vec!["converge", "-i", &self.inventory, &pb, "--output", "json"];
        args.extend_from_slice(extra);
        self.windlass(&args)
    }

    /// Run a command on a VM over plain OpenSSH, as an operator would check by hand.
    pub fn ssh(&self, vm: &str, cmd: &str) -> (i32, String) {
        let out = Command::new("bash")
            .arg(self.repo.join("lab/lab.sh"))
            .args(["ssh", vm, cmd])
            .output()
            .expect("lab.sh ssh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    pub fn ssh_ok(&self, vm: &str, cmd: &str) -> String {
        let (code, out) = self.ssh(vm, cmd);
        assert_eq!(code, 0, "on {vm}: {cmd}\n{out}");
        out
    }

    pub fn vms(&self) -> Vec<String> {
        let outputs: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("outputs.json")).expect("lab outputs.json"),
        )
        .expect("json");
        outputs["machines"]["value"]
            .as_array()
            .expect("machines")
            .iter()
            .map(|m| m["name"].as_str().expect("name").to_string())
            .collect()
    }
}

pub fn assert_code(r: &Ran, code: i32, what: &str) {
    assert_eq!(
        r.code,
        code,
        "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
        r.code,
        tail(&r.stdout),
        r.stderr
    );
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
