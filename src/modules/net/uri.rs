//! `uri`: an HTTP request made ON the host (so `127.0.0.1` is the host's own
//! loopback), with `curl` when it is there, else GNU `wget`, else, for `http://`
//! only, bash's `/dev/tcp` speaking HTTP/1.0. One script chooses at run time.
//!
//! GET and HEAD only read, so they are the probe: they run in check mode too and the
//! task is ok. Any other method (POST, PUT, DELETE...) is a step the operator chose,
//! like `command`: skipped in check mode (Ansible's uri does not support check mode at
//! all), and reported changed when it runs (Ansible reports ok; a request that is not
//! a GET is presumed to act; `changed_when: false` says otherwise). A status not in
//! `status_code` fails the task with Ansible's message and keeps `status`, `content`
//! and `json` registered, so `until:` can retry on them.
//!
//! Headers and a GET's body travel in the command line of the host's `sh`, which other
//! users of the host can see in `ps`: put no secrets there on shared hosts. A POST's
//! body goes through stdin.

use crate::modules::args::{lenient_bool, lenient_u64};
use crate::modules::commands::command::{guard_probes, guard_says_skip};
use crate::modules::{
    Change, Content, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step, Vars,
};
use crate::transport::{Cmd, Output};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uri {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub body_format: BodyFormat,
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default = "default_status", deserialize_with = "status_list")]
    pub status_code: Vec<i64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub return_content: bool,
    #[serde(default = "default_timeout", deserialize_with = "lenient_u64")]
    pub timeout: u64,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub validate_certs: bool,
    #[serde(default)]
    pub ca_path: Option<String>,
    #[serde(default)]
    pub client_cert: Option<String>,
    #[serde(default)]
    pub client_key: Option<String>,
    #[serde(default, deserialize_with = "follow_mode")]
    pub follow_redirects: Follow,
    #[serde(default)]
    pub creates: Option<String>,
    #[serde(default)]
    pub removes: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_status() -> Vec<i64> {
    vec![200]
}
fn default_timeout() -> u64 {
    30
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    #[default]
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "form-urlencoded")]
    FormUrlencoded,
    #[serde(rename = "form-multipart")]
    FormMultipart,
}

/// Ansible's `follow_redirects`: `safe` (GET and HEAD only, the default), `all`,
/// `none`; `urllib2` is taken as `safe`, booleans as `all`/`none`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    #[default]
    Safe,
    All,
    None,
}

fn follow_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Follow, D::Error> {
    let v = Value::deserialize(d)?;
    if let Value::String(s) = &v {
        match s.as_str() {
            "safe" | "urllib2" => return Ok(Follow::Safe),
            "all" => return Ok(Follow::All),
            "none" => return Ok(Follow::None),
            _ => {}
        }
    }
    match crate::modules::args::to_bool(&v) {
        Some(true) => Ok(Follow::All),
        Some(false) => Ok(Follow::None),
        None => Err(serde::de::Error::custom(format!(
            "follow_redirects must be one of all, safe, none, urllib2, yes, no; got {v}"
        ))),
    }
}

/// `200`, `"200"`, `[200, 201]` or `"200,201"`.
fn status_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    let one = |v: &Value| -> Option<Vec<i64>> {
        match v {
            Value::Number(n) => n.as_i64().map(|i| vec![i]),
            Value::String(s) => s.split(',').map(|p| p.trim().parse().ok()).collect(),
            _ => None,
        }
    };
    let list = match &v {
        Value::Array(items) => items
            .iter()
            .map(one)
            .collect::<Option<Vec<_>>>()
            .map(|l| l.concat()),
        other => one(other),
    };
    list.filter(|l| !l.is_empty()).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "status_code must be a number or a list of numbers, got {v}"
        ))
    })
}

/// Prints `tool=T rc=N elapsed=CS`, the byte count of the response headers, the
/// headers, then the body. bash's raw response comes whole as the body.
const SCRIPT: &str = r#"export LC_ALL=C; method={}; url={}; hdrs={}; body={}; bodyin={}; sendbody={}; to={}; insecure={}; ca={}; cert={}; key={}; follow={}; fhost={}; fport={}; fpath={}; fhdr={}
now() { if read u _ </proc/uptime 2>/dev/null; then s=${u%.*}; c=${u#*.}; c=${c#0}; echo $((s*100+c)); else echo $(($(date +%s)*100)); fi; }
d=$(mktemp -d) || exit 1; trap 'rm -rf -- "$d"' EXIT
if [ "$bodyin" = yes ]; then cat > "$d/body"; else printf '%s' "$body" > "$d/body"; fi
printf '%s\n' "$hdrs" > "$d/h"; : > "$d/h_out"; : > "$d/b_out"
t0=$(now)
if command -v curl >/dev/null 2>&1; then
  tool=curl; set --
  while IFS= read -r h; do [ -n "$h" ] && set -- "$@" -H "$h"; done < "$d/h"
  if [ "$method" = HEAD ]; then set -- "$@" -I; else set -- "$@" -X "$method"; fi
  if [ "$insecure" = yes ]; then set -- "$@" -k; fi
  if [ -n "$ca" ]; then set -- "$@" --cacert "$ca"; fi
  if [ -n "$cert" ]; then set -- "$@" --cert "$cert"; fi
  if [ -n "$key" ]; then set -- "$@" --key "$key"; fi
  if [ "$follow" = yes ]; then set -- "$@" -L --max-redirs 10; fi
  if [ "$sendbody" = yes ]; then set -- "$@" --data-binary "@$d/body"; fi
  curl -sS -D "$d/h_out" -o "$d/b_out" --max-time "$to" "$@" --url "$url"; rc=$?
  if [ "$method" = HEAD ]; then : > "$d/b_out"; fi
elif command -v wget >/dev/null 2>&1; then
  tool=wget; set --
  while IFS= read -r h; do [ -n "$h" ] && set -- "$@" "--header=$h"; done < "$d/h"
  if [ "$insecure" = yes ]; then set -- "$@" --no-check-certificate; fi
  if [ -n "$ca" ]; then set -- "$@" "--ca-certificate=$ca"; fi
  if [ -n "$cert" ]; then set -- "$@" "--certificate=$cert"; fi
  if [ -n "$key" ]; then set -- "$@" "--private-key=$key"; fi
  if [ "$follow" = yes ]; then set -- "$@" --max-redirect=10; else set -- "$@" --max-redirect=0; fi
  if [ "$sendbody" = yes ]; then set -- "$@" "--body-file=$d/body"; fi
  wget -q -S --content-on-error --tries=1 "--timeout=$to" "--method=$method" -O "$d/b_out" "$@" -- "$url" 2> "$d/w_err"; rc=$?
  sed -n 's/^  //p' "$d/w_err" > "$d/h_out"; grep -v '^  ' "$d/w_err" >&2
elif [ -n "$fhost" ] && command -v bash >/dev/null 2>&1; then
  tool=bash
  timeout "$to" bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 7
    { printf "%s %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n" "$3" "$4" "$5"
      while IFS= read -r h; do [ -n "$h" ] && printf "%s\r\n" "$h"; done < "$6"
      if [ "$8" = yes ]; then printf "Content-Length: %s\r\n" "$(wc -c < "$7")"; fi
      printf "\r\n"; if [ "$8" = yes ]; then cat "$7"; fi; } >&3
    cat <&3' _ "$fhost" "$fport" "$method" "$fpath" "$fhdr" "$d/h" "$d/body" "$sendbody" > "$d/b_out"; rc=$?
else
  echo "neither curl nor wget is on the host$( [ -z "$fhost" ] && echo ', and bash can only fetch http:// URLs' )" >&2; exit 3
fi
printf 'tool=%s rc=%s elapsed=%s\n' "$tool" "$rc" "$(($(now) - t0))"
wc -c < "$d/h_out" | tr -d ' '; cat "$d/h_out" "$d/b_out""#;

/// One HTTP response of the (possibly redirected) exchange.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: i64,
    reason: String,
    headers: Vec<(String, String)>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Status lines and headers, in order; informational (1xx) responses dropped.
fn parse_headers(text: &str) -> Vec<Response> {
    let mut out: Vec<Response> = vec![];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            let mut parts = line.splitn(3, ' ');
            parts.next();
            let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
            let reason = parts.next().unwrap_or("").to_string();
            out.push(Response {
                status,
                reason,
                headers: vec![],
            });
        } else if let (Some((k, v)), Some(r)) = (line.split_once(':'), out.last_mut()) {
            r.headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out.retain(|r| !(100..200).contains(&r.status));
    out
}

/// `scheme://host[:port]`, host, port and path of an http(s) URL.
fn split_url(url: &str) -> Option<(String, String, String, u16, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or("/");
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        (
            h.to_string(),
            after
                .strip_prefix(':')
                .map(|p| p.parse().ok())
                .unwrap_or(Some(default_port))?,
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (hostport.to_string(), default_port),
        }
    };
    Some((
        format!("{scheme}://{authority}"),
        hostport.to_string(),
        host,
        port,
        path,
    ))
}

/// A `Location` resolved against the URL it came from.
fn resolve(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let Some((origin, _, _, _, path)) = split_url(base) else {
        return loc.to_string();
    };
    if let Some(rest) = loc.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("http");
        return format!("{scheme}://{rest}");
    }
    if loc.starts_with('/') {
        return format!("{origin}{loc}");
    }
    let dir = path.split('?').next().unwrap_or("/");
    let dir = &dir[..dir.rfind('/').map(|i| i + 1).unwrap_or(0)];
    format!("{origin}{dir}{loc}")
}

/// `application/x-www-form-urlencoded` as Python's `urlencode` writes it.
fn form_encode(pairs: &[(String, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Python's repr of a list of ints, for Ansible's message.
fn py_list(l: &[i64]) -> String {
    format!(
        "[{}]",
        l.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )
}

impl Uri {
    fn method(&self) -> String {
        self.method.to_ascii_uppercase()
    }

    fn reads_only(&self) -> bool {
        matches!(self.method().as_str(), "GET" | "HEAD")
    }

    fn follows(&self) -> bool {
        match self.follow_redirects {
            Follow::All => true,
            Follow::None => false,
            Follow::Safe => self.reads_only(),
        }
    }

    /// The body to send and the content type it implies.
    fn body(&self) -> ModResult<(Option<Vec<u8>>, Option<&'static str>)> {
        let Some(body) = &self.body else {
            return Ok((None, None));
        };
        match self.body_format {
            BodyFormat::Raw => match body {
                Value::String(s) => Ok((Some(s.clone().into_bytes()), None)),
                Value::Number(_) | Value::Bool(_) => Ok((Some(scalar(body).into_bytes()), None)),
                _ => Err(ModuleError::new(
                    "body must be a string with body_format: raw (use body_format: json)",
                )),
            },
            BodyFormat::Json => {
                let text = match body {
                    Value::String(s) => s.clone(),
                    other => serde_json::to_string(other).expect("JSON value serializes"),
                };
                Ok((Some(text.into_bytes()), Some("application/json")))
            }
            BodyFormat::FormUrlencoded => {
                let text =
                    match body {
                        Value::String(s) => s.clone(),
                        Value::Object(m) => form_encode(
                            &m.iter()
                                .map(|(k, v)| (k.clone(), scalar(v)))
                                .collect::<Vec<_>>(),
                        ),
                        Value::Array(items) => {
                            let mut pairs = vec![];
                            for i in items {
                                match i {
                                    Value::Array(p) if p.len() == 2 => {
                                        pairs.push((scalar(&p[0]), scalar(&p[1])))
                                    }
                                    _ => return Err(ModuleError::new(
                                        "a form-urlencoded body list must hold [key, value] pairs",
                                    )),
                                }
                            }
                            form_encode(&pairs)
                        }
                        other => scalar(other),
                    };
                Ok((
                    Some(text.into_bytes()),
                    Some("application/x-www-form-urlencoded"),
                ))
            }
            BodyFormat::FormMultipart => Err(ModuleError::new(
                "body_format: form-multipart is not supported",
            )),
        }
    }

    fn header_lines(&self, content_type: Option<&str>) -> ModResult<String> {
        let mut lines = vec![];
        for (k, v) in &self.headers {
            let v = scalar(v);
            if k.contains(['\n', '\r', ':']) || v.contains(['\n', '\r']) {
                return Err(ModuleError::new(format!(
                    "header {k:?} has a newline or colon in it"
                )));
            }
            lines.push(format!("{k}: {v}"));
        }
        if let Some(ct) = content_type {
            if !self
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                lines.push(format!("Content-Type: {ct}"));
            }
        }
        Ok(lines.join("\n"))
    }

    fn check_args(&self) -> ModResult<()> {
        if !self.url.contains("://") {
            return Err(ModuleError::new(format!(
                "url {:?} needs a scheme, such as http:// or https://",
                self.url
            )));
        }
        if self.method().is_empty() || !self.method().bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ModuleError::new(format!(
                "method {:?} is not an HTTP method",
                self.method
            )));
        }
        self.body()?;
        Ok(())
    }

    /// The request as one command; a POST's body comes on stdin.
    fn request(&self, body_on_stdin: bool) -> ModResult<(Cmd, Option<Vec<u8>>)> {
        let (body, ct) = self.body()?;
        let hdrs = self.header_lines(ct)?;
        let method = self.method();
        let send =
            body.is_some() || !matches!(method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS");
        let yes = |b: bool| if b { "yes" } else { "no" };
        let (fhost, fport, fpath, fhdr) = match split_url(&self.url) {
            Some((_, hostport, host, port, path))
                if self.url.to_ascii_lowercase().starts_with("http://") =>
            {
                (host, port.to_string(), path, hostport)
            }
            _ => Default::default(),
        };
        let inline = if body_on_stdin {
            Vec::new()
        } else {
            body.clone().unwrap_or_default()
        };
        let cmd = Cmd::script(
            SCRIPT,
            &[
                &method,
                &self.url,
                &hdrs,
                &inline,
                &yes(body_on_stdin),
                &yes(send),
                &self.timeout.max(1).to_string(),
                &yes(!self.validate_certs),
                &self.ca_path.clone().unwrap_or_default(),
                &self.client_cert.clone().unwrap_or_default(),
                &self.client_key.clone().unwrap_or_default(),
                &yes(self.follows()),
                &fhost,
                &fport,
                &fpath,
                &fhdr,
            ],
        );
        Ok((
            cmd,
            if body_on_stdin {
                Some(body.unwrap_or_default())
            } else {
                None
            },
        ))
    }

    /// The registered result of one request, with `failed`/`msg` when the status is
    /// not one of `status_code` (Ansible's shape).
    fn result(&self, out: &Output) -> ModResult<Vars> {
        let raw = &out.stdout;
        let nl = raw.iter().position(|b| *b == b'\n');
        let meta = nl
            .map(|i| String::from_utf8_lossy(&raw[..i]).into_owned())
            .unwrap_or_default();
        if !out.success() || !meta.starts_with("tool=") {
            return Err(ModuleError::new(format!(
                "uri could not run on the host (rc {}): {}",
                out.rc(),
                out.stderr_str().trim()
            )));
        }
        let field = |k: &str| {
            meta.split(' ')
                .find_map(|p| p.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .unwrap_or("")
        };
        let (tool, rc) = (
            field("tool").to_string(),
            field("rc").parse::<i64>().unwrap_or(-1),
        );
        let elapsed = field("elapsed").parse::<u64>().unwrap_or(0) / 100;
        let rest = &raw[nl.map(|i| i + 1).unwrap_or(raw.len())..];
        let nl2 = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let hlen: usize = String::from_utf8_lossy(&rest[..nl2])
            .trim()
            .parse()
            .unwrap_or(0);
        let rest = rest.get(nl2 + 1..).unwrap_or(&[]);
        let (head, mut body) = (
            rest.get(..hlen).unwrap_or(rest),
            rest.get(hlen..).unwrap_or(&[]).to_vec(),
        );
        let mut head = String::from_utf8_lossy(head).into_owned();
        if tool == "bash" {
            // A raw HTTP/1.0 response: headers up to the first empty line.
            let split = body
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| (i, i + 4))
                .or_else(|| {
                    body.windows(2)
                        .position(|w| w == b"\n\n")
                        .map(|i| (i, i + 2))
                });
            if let Some((end, start)) = split {
                head = String::from_utf8_lossy(&body[..end]).into_owned();
                body = body[start..].to_vec();
            }
        }
        let responses = parse_headers(&head);
        let mut url = self.url.clone();
        for r in responses.iter().take(responses.len().saturating_sub(1)) {
            if let Some(loc) = r.header("location") {
                url = resolve(&url, loc);
            }
        }
        let mut data = Vars::new();
        let last = responses.last();
        let status = last.map(|r| r.status).unwrap_or(-1);
        let msg = match last {
            None => {
                let err = out.stderr_str();
                let err = err.trim();
                format!(
                    "Request failed: {}",
                    if err.is_empty() {
                        format!("{tool} exited with {rc}")
                    } else {
                        err.to_string()
                    }
                )
            }
            Some(r) if r.status >= 300 => format!("HTTP Error {}: {}", r.status, r.reason),
            Some(r) => format!(
                "OK ({} bytes)",
                r.header("content-length").unwrap_or("unknown")
            ),
        };
        if let Some(r) = last {
            // Header names as Ansible registers them: lower case, `-` as `_`.
            for (k, v) in &r.headers {
                data.insert(k.to_ascii_lowercase().replace('-', "_"), v.clone().into());
            }
            if let Some(loc) = r.header("location") {
                data.insert("location".into(), resolve(&url, loc).into());
            }
        }
        data.insert("status".into(), status.into());
        data.insert("url".into(), url.into());
        data.insert("redirected".into(), (responses.len() > 1).into());
        data.insert("elapsed".into(), elapsed.into());
        let text = String::from_utf8_lossy(&body).into_owned();
        let ctype = last
            .and_then(|r| r.header("content-type"))
            .unwrap_or("")
            .to_ascii_lowercase();
        if ctype.contains("json") || ctype.contains("javascript") {
            if let Ok(js) = serde_json::from_str::<Value>(&text) {
                data.insert("json".into(), js);
            }
        }
        if self.return_content {
            data.insert("content".into(), text.into());
        }
        if self.status_code.contains(&status) {
            data.insert("msg".into(), msg.into());
        } else {
            data.insert("failed".into(), true.into());
            data.insert(
                "msg".into(),
                format!(
                    "Status code was {status} and not {}: {msg}",
                    py_list(&self.status_code)
                )
                .into(),
            );
        }
        Ok(data)
    }
}

impl Module for Uri {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_args()?;
        let guards = guard_probes(&self.creates, &self.removes);
        // With `creates`/`removes`, the request waits for their answer (`More`).
        if self.reads_only() && guards.is_empty() {
            return Ok(vec![self.request(false)?.0]);
        }
        Ok(guards)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check_args()?;
        if let Some(skip) = guard_says_skip(&self.creates, &self.removes, probed) {
            return Ok(Planned::Done(skip));
        }
        if self.reads_only() {
            let guards = usize::from(self.creates.is_some()) + usize::from(self.removes.is_some());
            if probed.len() == guards {
                return Ok(Planned::More(vec![self.request(false)?.0]));
            }
            let out = probed.last().expect("the request ran as a probe");
            let mut plan = Plan::ok();
            plan.data = self.result(out)?;
            return Ok(Planned::Done(plan));
        }
        let (cmd, body) = self.request(true)?;
        Ok(Planned::Done(Plan {
            changes: vec![Change::new(self.url.clone(), "request").after(Some(self.method()))],
            steps: vec![Step::Exec {
                cmd,
                stdin: body.map(Content::Plain),
                may_fail: false,
            }],
            runs_operator_command: true,
            ..Plan::default()
        }))
    }

    fn finish(&self, outputs: &[Output]) -> ModResult<Vars> {
        match outputs.last() {
            Some(out) => self.result(out),
            None => Ok(Vars::new()),
        }
    }

    fn cacheable_probe(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{
        build, build_err, done, out, out_rc, plan_err, probe, steps,
    };
    use serde_json::json;

    fn uri(args: Value) -> Uri {
        build(args)
    }

    fn protocol(tool: &str, rc: i64, headers: &str, body: &str) -> Output {
        out(&format!(
            "tool={tool} rc={rc} elapsed=12\n{}\n{headers}{body}",
            headers.len()
        ))
    }

    // Recorded: curl 7.88 and GNU wget 1.21 against python3 -m http.server on Debian 12.
    const CURL_REDIRECT: &str = "HTTP/1.0 301 Moved Permanently\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nDate: Sun, 22 Nov 2026 03:20:00 GMT\r\nLocation: /sub/\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nDate: Sun, 22 Nov 2026 03:20:00 GMT\r\nContent-type: text/html; charset=utf-8\r\nContent-Length: 195\r\n\r\n";
    const WGET_404: &str = "HTTP/1.0 404 File not found\nServer: SimpleHTTP/0.6 Python/3.11.7\nDate: Sun, 22 Nov 2026 03:20:00 GMT\nConnection: close\nContent-Type: text/html;charset=utf-8\nContent-Length: 335\n";
    const JSON_OK: &str = "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nContent-type: application/json\r\nContent-Length: 9\r\n\r\n";

    #[test]
    fn get_is_a_probe_with_ansibles_result() {
        let m = uri(json!({"url": "http://127.0.0.1:8000/data.json", "return_content": true}));
        let p = done(&m, &[protocol("curl", 0, JSON_OK, "{\"a\": 1}\n")]);
        assert!(p.is_empty());
        assert_eq!(p.data["status"], 200);
        assert_eq!(p.data["json"], json!({"a": 1}));
        assert_eq!(p.data["content"], "{\"a\": 1}\n");
        assert_eq!(p.data["content_type"], "application/json");
        assert_eq!(p.data["content_length"], "9");
        assert_eq!(p.data["msg"], "OK (9 bytes)");
        assert_eq!(p.data["redirected"], false);
        assert!(p.data.get("failed").is_none());
    }

    #[test]
    fn redirects_give_the_final_url() {
        let m = uri(json!({"url": "http://127.0.0.1:8000/sub"}));
        let p = done(&m, &[protocol("curl", 0, CURL_REDIRECT, "<html></html>")]);
        assert_eq!(p.data["status"], 200);
        assert_eq!(p.data["url"], "http://127.0.0.1:8000/sub/");
        assert_eq!(p.data["redirected"], true);
        assert!(p.data.get("content").is_none(), "return_content is off");
        assert!(p.data.get("json").is_none(), "HTML is not JSON");
    }

    #[test]
    fn wrong_status_fails_with_the_data_kept() {
        let m = uri(json!({"url": "http://127.0.0.1:8000/nope", "status_code": [200, "201"]}));
        let p = done(&m, &[protocol("wget", 8, WGET_404, "<html>nope</html>")]);
        assert_eq!(p.data["failed"], true);
        assert_eq!(p.data["status"], 404);
        assert_eq!(
            p.data["msg"],
            "Status code was 404 and not [200, 201]: HTTP Error 404: File not found"
        );
        let m = uri(json!({"url": "http://127.0.0.1:8000/nope", "status_code": 404}));
        assert!(done(&m, &[protocol("wget", 8, WGET_404, "")])
            .data
            .get("failed")
            .is_none());
    }

    #[test]
    fn connection_refused_is_status_minus_one() {
        let m = uri(json!({"url": "http://127.0.0.1:9/"}));
        let o = Output {
            status: Some(0),
            stdout: b"tool=curl rc=7 elapsed=0\n0\n".to_vec(),
            stderr: b"curl: (7) Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server\n".to_vec(),
        };
        let p = done(&m, &[o]);
        assert_eq!(p.data["status"], -1);
        assert_eq!(
            p.data["msg"],
            "Status code was -1 and not [200]: Request failed: curl: (7) Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server"
        );
    }

    #[test]
    fn bash_fallback_raw_response() {
        let m = uri(json!({"url": "http://127.0.0.1:8000/x"}));
        let raw = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok";
        let p = done(&m, &[protocol("bash", 0, "", raw)]);
        assert_eq!(p.data["status"], 200);
        assert_eq!(p.data["content_type"], "text/plain");
    }

    #[test]
    fn post_is_a_step_skipped_in_check_mode() {
        let m = uri(
            json!({"url": "http://127.0.0.1:8000/api", "method": "post", "body": {"a": [1]}, "body_format": "json", "status_code": 201}),
        );
        assert!(
            probe(&m).unwrap().is_empty(),
            "nothing runs before the plan"
        );
        let p = done(&m, &[]);
        assert!(p.runs_operator_command);
        assert_eq!(p.changes[0].after.as_deref(), Some("POST"));
        let Step::Exec {
            stdin: Some(Content::Plain(body)),
            cmd,
            ..
        } = &p.steps[0]
        else {
            panic!("{p:?}")
        };
        assert_eq!(body, b"{\"a\":[1]}");
        assert!(
            cmd.to_string_lossy()
                .contains("hdrs='Content-Type: application/json'"),
            "{}",
            steps(&p)[0]
        );
        let ok = m
            .finish(&[protocol("curl", 0, "HTTP/1.1 201 Created\r\n\r\n", "")])
            .unwrap();
        assert_eq!(ok["status"], 201);
        assert!(ok.get("failed").is_none());
        let bad = m
            .finish(&[protocol(
                "curl",
                0,
                "HTTP/1.1 500 Internal Server Error\r\n\r\n",
                "",
            )])
            .unwrap();
        assert_eq!(
            bad["msg"],
            "Status code was 500 and not [201]: HTTP Error 500: Internal Server Error"
        );
    }

    #[test]
    fn creates_skips_the_request() {
        let m = uri(json!({"url": "http://127.0.0.1:8000/x", "creates": "/etc/done"}));
        assert_eq!(probe(&m).unwrap().len(), 1, "only the guard");
        let p = done(&m, &[out("yes\n")]);
        assert_eq!(p.data["msg"], "skipped, since /etc/done exists");
        assert!(
            matches!(crate::modules::testutil::table::plan(&m, false, &[out("no\n")]), Ok(Planned::More(c)) if c.len() == 1)
        );
        let p = done(&m, &[out("no\n"), protocol("curl", 0, JSON_OK, "{}")]);
        assert_eq!(p.data["status"], 200);
    }

    #[test]
    fn bodies_and_arguments() {
        let m = uri(
            json!({"url": "http://h/", "method": "POST", "body_format": "form-urlencoded", "body": {"name": "a b", "x": "&="}}),
        );
        assert_eq!(m.body().unwrap().0.unwrap(), b"name=a+b&x=%26%3D");
        assert_eq!(
            uri(json!({"url": "http://h/", "follow_redirects": "no"})).follow_redirects,
            Follow::None
        );
        assert_eq!(
            uri(json!({"url": "http://h/", "status_code": "200, 204"})).status_code,
            [200, 204]
        );
        assert!(
            build_err::<Uri>(json!({"url": "http://h/", "url_password": "x"}))
                .contains("unknown field")
        );
        assert!(probe(&uri(json!({"url": "h/x"})))
            .unwrap_err()
            .0
            .contains("needs a scheme"));
        assert!(probe(&uri(json!({"url": "http://h/", "body": {"a": 1}})))
            .unwrap_err()
            .0
            .contains("body_format: json"));
        assert!(plan_err(
            &uri(json!({"url": "http://h/"})),
            &[out_rc(3, "", "neither curl nor wget is on the host")]
        )
        .contains("neither curl nor wget"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://a:8080/p?q=1#f"),
            Some((
                "http://a:8080".into(),
                "a:8080".into(),
                "a".into(),
                8080,
                "/p?q=1".into()
            ))
        );
        assert_eq!(
            split_url("https://[::1]/"),
            Some((
                "https://[::1]".into(),
                "[::1]".into(),
                "::1".into(),
                443,
                "/".into()
            ))
        );
        assert_eq!(split_url("http://h?x").unwrap().4, "/?x");
        assert_eq!(resolve("http://a/b/c", "/d"), "http://a/d");
        assert_eq!(resolve("http://a/b/c", "d"), "http://a/b/d");
        assert_eq!(resolve("http://a/b/c", "https://z/"), "https://z/");
    }

    /// The request script against a real server on loopback, with each tool.
    #[test]
    fn script_for_real_with_each_tool() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for stream in listener.incoming().take(3) {
                let mut s = stream.unwrap();
                let mut buf = vec![0u8; 8192];
                let mut got = vec![];
                loop {
                    let n = s.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len || n == 0 {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let req = String::from_utf8_lossy(&got).to_string();
                let body = format!("{{\"echo\": {:?}}}", req.lines().next().unwrap_or(""));
                let _ = write!(s, "HTTP/1.0 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        let bin = tempfile::tempdir().unwrap();
        for tool in [
            "cat", "grep", "sed", "wc", "tr", "mktemp", "rm", "timeout", "date", "bash",
        ] {
            let found = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
        }
        let m = uri(
            json!({"url": format!("http://127.0.0.1:{port}/api?x=1"), "method": "PUT", "body": "hi", "status_code": 201}),
        );
        for tool in ["curl", "wget", "bash"] {
            let dir = tempfile::tempdir().unwrap();
            for t in std::fs::read_dir(bin.path()).unwrap() {
                let t = t.unwrap();
                std::os::unix::fs::symlink(
                    std::fs::read_link(t.path()).unwrap(),
                    dir.path().join(t.file_name()),
                )
                .unwrap();
            }
            if tool != "bash" {
                std::os::unix::fs::symlink(format!("/usr/bin/{tool}"), dir.path().join(tool))
                    .unwrap();
            }
            let (cmd, body) = m.request(true).unwrap();
            use std::io::Write;
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd.to_string_lossy())
                .env("PATH", dir.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&body.unwrap())
                .unwrap();
            let o = child.wait_with_output().unwrap();
            let o = Output {
                status: o.status.code().map(|c| c as u32),
                stdout: o.stdout,
                stderr: o.stderr,
            };
            let r = m.finish(std::slice::from_ref(&o)).unwrap();
            assert_eq!(r["status"], 201, "{tool}: {r:?} {o:?}");
            assert_eq!(
                r["json"]["echo"],
                "PUT /api?x=1 HTTP/1.0".replace(
                    "HTTP/1.0",
                    if tool == "bash" {
                        "HTTP/1.0"
                    } else {
                        "HTTP/1.1"
                    }
                ),
                "{tool}"
            );
            assert!(
                o.stdout_str().starts_with(&format!("tool={tool} ")),
                "{tool}"
            );
        }
        server.join().unwrap();
    }
}
