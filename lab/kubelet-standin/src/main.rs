//! A stand-in kubelet for the windlass lab VMs.
//!
//! No kubelet binary can be had from the package registries this project
//! reaches, yet windlass rolls out kubelet flags (systemd drop-ins), pins and
//! upgrades the kubelet package and gates each node on
//! `http://127.0.0.1:10248/healthz`. This program makes that observable:
//!
//! * it accepts the real kubelet's flags with pflag's syntax and, like the
//!   real one, exits 1 with `unknown flag: --x` on a flag it does not know;
//! * a bad value for a typed flag (`--max-pods=lots`) keeps it running but
//!   `/healthz` answers 500: the other way a bad rollout shows;
//! * healthy, `/healthz` answers `ok` on --healthz-bind-address:--healthz-port
//!   (127.0.0.1:10248), `/flags` gives the flags as JSON, and the same JSON is
//!   written atomically to `<root-dir>/standin-flags.json`
//!   (`/var/lib/kubelet/standin-flags.json` by default).
//!
//! SIGTERM keeps its default action (the process ends at once), which is the
//! promptest possible handling; there is no state to flush.

mod flags;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::{env, fs, process, thread};

const VERSION: &str = match option_env!("KUBELET_STANDIN_VERSION") {
    Some(v) => v,
    None => "v1.31.0",
};

fn log(level: char, msg: &str) {
    eprintln!("{level} kubelet-standin[{}] {msg}", process::id());
}

fn fail(msg: &str) -> ! {
    log('E', &format!("\"command failed\" err=\"{msg}\""));
    process::exit(1);
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let flags = match flags::parse(&args) {
        Ok(f) => f,
        Err(e) => fail(&format!("failed to parse kubelet flag: {e}")),
    };
    if flags.is_true("help") {
        println!("Usage of kubelet (windlass lab stand-in {VERSION}); accepted flags:");
        for name in flags::all_names() {
            println!("      --{name}");
        }
        return;
    }
    if let Some(v) = flags.get("version").filter(|v| *v != "false") {
        if v == "raw" {
            println!("version.Info{{GitVersion:\"{VERSION}\", Platform:\"linux/amd64\"}}");
        } else {
            println!("Kubernetes {VERSION}");
        }
        return;
    }
    for (name, value) in &flags.values {
        log('I', &format!("FLAG: --{name}=\"{value}\""));
    }

    // The real kubelet refuses to start when --config names a file it cannot
    // load; so do we (exit 1, systemd restarts us).
    let config = flags.get("config").map(|path| match fs::read_to_string(path) {
        Ok(text) => {
            let kind = text
                .lines()
                .find_map(|l| l.strip_prefix("kind:"))
                .map(|k| k.trim().trim_matches(['"', '\'']).to_string());
            if let Some(kind) = kind.filter(|k| k != "KubeletConfiguration") {
                fail(&format!(
                    "failed to load kubelet config file, path: {path}, error: kind {kind:?} is not KubeletConfiguration"
                ));
            }
            text
        }
        Err(e) => fail(&format!("failed to load kubelet config file, path: {path}, error: {e}")),
    });

    let errors = flags::validate(&flags);
    for e in &errors {
        log('E', &format!("invalid kubelet setting: {e}"));
    }
    let report = report_json(&args, &flags, config.as_deref(), &errors);

    let root_dir = flags.get("root-dir").unwrap_or("/var/lib/kubelet");
    if let Err(e) = write_atomically(&Path::new(root_dir).join("standin-flags.json"), &report) {
        fail(&format!("failed to write {root_dir}/standin-flags.json: {e}"));
    }

    let port: u16 = match flags.get("healthz-port").unwrap_or("10248").parse() {
        Ok(p) => p,
        Err(_) => fail("invalid argument for --healthz-port: must be a port number"),
    };
    if port == 0 {
        // --healthz-port=0 disables the endpoint, as in the real kubelet.
        log('I', "healthz endpoint disabled");
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    let bind = flags.get("healthz-bind-address").unwrap_or("127.0.0.1");
    let listener = match TcpListener::bind((bind, port)) {
        Ok(l) => l,
        Err(e) => fail(&format!("failed to listen on {bind}:{port}: {e}")),
    };
    log('I', &format!("serving /healthz and /flags on {bind}:{port} (healthy: {})", errors.is_empty()));
    let unhealthy = (!errors.is_empty()).then(|| errors.join("\n"));
    for stream in listener.incoming().flatten() {
        let report = report.clone();
        let unhealthy = unhealthy.clone();
        thread::spawn(move || serve(stream, &report, unhealthy.as_deref()));
    }
}

fn serve(mut stream: TcpStream, report: &str, unhealthy: Option<&str>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/healthz") => match unhealthy {
            None => ("200 OK", "text/plain; charset=utf-8", "ok".to_string()),
            Some(why) => (
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                format!("[-]kubelet-config failed: {why}\nhealthz check failed\n"),
            ),
        },
        ("GET" | "HEAD", "/flags") => ("200 OK", "application/json", report.to_string()),
        _ => ("404 Not Found", "text/plain; charset=utf-8", "404 page not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(body.as_bytes());
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.tmp{}", process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

fn report_json(args: &[String], flags: &flags::Flags, config: Option<&str>, errors: &[String]) -> String {
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let list = |items: &[String]| items.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(", ");
    let map = flags
        .values
        .iter()
        .map(|(k, v)| format!("\n    {}: {}", json_str(k), json_str(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\n  \"args\": [{}],\n  \"config_content\": {},\n  \"errors\": [{}],\n  \"flags\": {{{}{}}},\n  \"healthy\": {},\n  \"pid\": {},\n  \"started_at\": {},\n  \"version\": {}\n}}\n",
        list(args),
        config.map(json_str).unwrap_or_else(|| "null".to_string()),
        list(errors),
        map,
        if map.is_empty() { "" } else { "\n  " },
        errors.is_empty(),
        process::id(),
        started,
        json_str(VERSION),
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn json_escaping() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
