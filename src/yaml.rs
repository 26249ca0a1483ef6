//! YAML to JSON values, keeping where each node stood (line and column), so every
//! later error can point at `file:line:col`. Built on yaml-rust2's event parser;
//! duplicate keys are errors (YAML says so; PyYAML silently keeps the last one).

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A parsed document: the value, and the position of every node by its path
/// (`""` for the root, `"0/tasks/3/copy"` below it).
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub file: PathBuf,
    pub value: Value,
    spans: HashMap<String, Pos>,
}

impl Doc {
    /// Position of the node at `path`, or of its nearest ancestor that has one.
    pub fn pos(&self, path: &str) -> Pos {
        let mut p = path.trim_matches('/').to_string();
        loop {
            if let Some(pos) = self.spans.get(&p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None if !p.is_empty() => p.clear(),
                None => return Pos::default(),
            }
        }
    }

    /// `file:line:col` of a node, for error messages.
    pub fn locate(&self, path: &str) -> String {
        let pos = self.pos(path);
        format!("{}:{}:{}", self.file.display(), pos.line, pos.col)
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{file}:{line}:{col}: {msg}")]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

pub fn load_file(path: &Path) -> Result<Doc, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|e| YamlError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        msg: format!("cannot read: {e}"),
    })?;
    parse(&text, path)
}

pub fn parse(text: &str, file: &Path) -> Result<Doc, YamlError> {
    let mut b = Builder {
        text,
        parser: Parser::new_from_str(text),
        file: file.display().to_string(),
        spans: HashMap::new(),
        anchors: HashMap::new(),
    };
    let value = b.document()?;
    Ok(Doc {
        file: file.to_path_buf(),
        value,
        spans: b.spans,
    })
}

struct Builder<'a> {
    text: &'a str,
    parser: Parser<std::str::Chars<'a>>,
    file: String,
    spans: HashMap<String, Pos>,
    anchors: HashMap<usize, Value>,
}

fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

impl Builder<'_> {
    fn err(&self, m: &Marker, msg: impl Into<String>) -> YamlError {
        let p = pos_of(m);
        YamlError {
            file: self.file.clone(),
            line: p.line,
            col: p.col,
            msg: msg.into(),
        }
    }

    fn next(&mut self) -> Result<(Event, Marker), YamlError> {
        self.parser.next_token().map_err(|e| {
            let (pos, msg) = explain(self.text, pos_of(e.marker()), e.info());
            YamlError {
                file: self.file.clone(),
                line: pos.line,
                col: pos.col,
                msg: format!("invalid YAML: {msg}"),
            }
        })
    }

    fn document(&mut self) -> Result<Value, YamlError> {
        loop {
            let (ev, m) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentStart => continue,
                Event::StreamEnd | Event::DocumentEnd => return Ok(Value::Null),
                ev => return self.node(ev, m, String::new()),
            }
        }
    }

    fn node(&mut self, ev: Event, m: Marker, path: String) -> Result<Value, YamlError> {
        self.spans.insert(path.clone(), pos_of(&m));
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()))
                    .map_err(|msg| self.err(&m, msg))?;
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| self.err(&m, "alias to an unknown anchor")),
            Event::SequenceStart(anchor, _) => {
                let mut items = vec![];
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let child = join(&path, &items.len().to_string());
                    items.push(self.node(ev, m, child)?);
                }
                let v = Value::Array(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let v = Value::Object(self.mapping(&path)?);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(self.err(&m, format!("unexpected YAML event {other:?}"))),
        }
    }

    fn mapping(&mut self, path: &str) -> Result<Map<String, Value>, YamlError> {
        let mut map = Map::new();
        let mut merged = Map::new();
        let mut key_pos: HashMap<String, Pos> = HashMap::new();
        loop {
            let (ev, km) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            // A block mapping's start event stands at the first `:`; a reader looks
            // for the first key, so the mapping is where that key is.
            if key_pos.is_empty() {
                let kp = pos_of(&km);
                let here = self.spans.entry(path.to_string()).or_insert(kp);
                if (kp.line, kp.col) < (here.line, here.col) {
                    *here = kp;
                }
            }
            let key = match self.node(ev, km, format!("{path}\u{0}key"))? {
                Value::String(s) => s,
                Value::Null => "null".into(),
                other => other.to_string(),
            };
            let (vev, vm) = self.next()?;
            let child = join(path, &key);
            let value = self.node(vev, vm, child.clone())?;
            if key == "<<" {
                // Merge keys: values already written here win over merged ones.
                let sources = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for s in sources {
                    match s {
                        Value::Object(o) => merged.extend(o),
                        _ => return Err(self.err(&km, "`<<` merges mappings only")),
                    }
                }
                continue;
            }
            if let Some(first) = key_pos.get(&key) {
                return Err(self.err(
                    &km,
                    format!(
                        "duplicate key {key:?} (first defined at line {}); remove one of them",
                        first.line
                    ),
                ));
            }
            // A key's position is where the key stands, which is what a reader looks for.
            self.spans.insert(child, pos_of(&km));
            key_pos.insert(key.clone(), pos_of(&km));
            map.insert(key, value);
        }
        for (k, v) in merged {
            map.entry(k).or_insert(v);
        }
        Ok(map)
    }
}

/// The parser's message and position, made into what a person needs: where the
/// tab is, which bracket or quote was left open, what a lost key usually means.
fn explain(text: &str, at: Pos, info: &str) -> (Pos, String) {
    let lines: Vec<&str> = text.lines().collect();
    if info.contains("tab") || info.contains("TAB") {
        // The parser stops where the value started; the tab is on that line or below.
        let start = at.line.saturating_sub(1);
        for (i, l) in lines.iter().enumerate().skip(start) {
            let indent: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            if let Some(c) = indent.find('\t') {
                return (
                    Pos { line: i + 1, col: c + 1 },
                    "a tab in the indentation; YAML indents with spaces only: replace the tab with spaces".into(),
                );
            }
        }
        return (
            at,
            format!("{info} (YAML indents with spaces only: replace the tab)"),
        );
    }
    if let Some((open, ch)) = unclosed_bracket(&lines, at.line) {
        let close = if ch == '[' { ']' } else { '}' };
        return (
            open,
            format!(
                "this `{ch}` is never closed: add the `{close}` (the parser gave up at line {}, column {}: {info})",
                at.line, at.col
            ),
        );
    }
    if info.contains("quoted scalar") {
        return (
            at,
            format!(
                "{info}: is the quote that opens here left unclosed? Close it on the same line"
            ),
        );
    }
    if info.contains("did not find expected key") {
        return (
            at,
            format!("{info}: this line is not indented like the keys of the mapping above it (check its spaces)"),
        );
    }
    (at, info.to_string())
}

/// The innermost `[` or `{` still open at `upto` (1-based line), outside quotes and
/// comments, when it was opened on an earlier line.
fn unclosed_bracket(lines: &[&str], upto: usize) -> Option<(Pos, char)> {
    let mut stack: Vec<(Pos, char)> = vec![];
    for (i, l) in lines.iter().enumerate().take(upto) {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (c, ch) in l.chars().enumerate() {
            match (quote, ch) {
                (Some(q), _) if ch == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if prev == ' ' || "[{,:".contains(prev) => quote = Some(ch),
                (None, '#') if prev == ' ' || c == 0 => break,
                (None, '[' | '{') => stack.push((
                    Pos {
                        line: i + 1,
                        col: c + 1,
                    },
                    ch,
                )),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
            prev = ch;
        }
    }
    stack.pop().filter(|(p, _)| p.line < upto)
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_string()
    } else {
        format!("{path}/{seg}")
    }
}

/// YAML 1.2 core schema for plain scalars; quoted scalars are always strings.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    match tag {
        Some("str") | Some("unsafe") => return Ok(Value::String(text.into())),
        Some("vault") => {
            return Err(
                "!vault values are not supported; pass secrets with -e @file or the environment"
                    .into(),
            )
        }
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text.into()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => Value::String(text.into()),
        _ => number(text).unwrap_or_else(|| Value::String(text.into())),
    })
}

fn number(t: &str) -> Option<Value> {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() {
        return None;
    }
    let negative = t.starts_with('-');
    let int = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Value::Number(Number::from(if negative { -i } else { i })));
    }
    let looks_float = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.contains(['.', 'e', 'E'])
        && !digits.contains("..");
    if looks_float {
        if let Ok(f) = t.parse::<f64>() {
            return Number::from_f64(f).map(Value::Number);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Result<Doc, YamlError> {
        parse(s, Path::new("t.yml"))
    }

    #[test]
    fn values_and_positions() {
        let d = p("a: 1\nb:\n  - x\n  - 'y'\n  - 0644\nc: yes\nd: 1.5\n").unwrap();
        assert_eq!(d.value, json!({"a":1,"b":["x","y",644],"c":"yes","d":1.5}));
        assert_eq!(d.pos("b").line, 2);
        assert_eq!(d.pos("b/1").line, 4);
        assert_eq!(d.pos("b/9").line, 2);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("duplicate key \"a\""), "{}", e.msg);
    }

    #[test]
    fn tabs_are_errors_with_a_position() {
        let e = p("a:\n\t- b\n").unwrap_err();
        assert_eq!(e.line, 2);
        // The parser stops at the scalar before the tab; the error points at the tab.
        let e = p("- name: x\n  tasks:\n    - name: motd\n\tcopy: {}\n").unwrap_err();
        assert_eq!((e.line, e.col), (4, 1), "{}", e.msg);
        assert!(e.msg.contains("replace the tab"), "{}", e.msg);
    }

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens() {
        let e = p("- a: 1\n  tags: [x, y\n\n- b: 2\n  c: 3\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 9), "{}", e.msg);
        assert!(e.msg.contains("never closed"), "{}", e.msg);
    }

    #[test]
    fn a_block_mapping_is_where_its_first_key_is() {
        let d = p("- hosts: all\n  tasks:\n    - name: x\n      copy: {dest: /x}\n").unwrap();
        assert_eq!(d.pos("0"), Pos { line: 1, col: 3 });
        assert_eq!(d.pos("0/tasks/0"), Pos { line: 3, col: 7 });
        assert_eq!(d.pos("0/tasks/0/copy"), Pos { line: 4, col: 7 });
    }

    #[test]
    fn anchors_and_merge_keys() {
        let d = p("base: &b {x: 1, y: 2}\nthis:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(d.value["this"], json!({"y":3,"x":1}));
    }
}
