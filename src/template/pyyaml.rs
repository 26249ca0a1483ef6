//! PyYAML's `yaml.dump`, byte for byte, for `to_yaml` / `to_nice_yaml`.
//!
//! Ansible's filters are `yaml.dump(x, allow_unicode=True,
//! default_flow_style=None)` and `yaml.dump(x, indent=4, allow_unicode=True,
//! default_flow_style=False)`.  PyYAML sorts keys (`sort_keys=True` is its
//! default), folds long scalars at 80 columns, writes lists inside mappings
//! without indenting them, quotes strings that YAML 1.1 would read as
//! something else (`'yes'`, `'1.0'`, `''`), and with
//! `default_flow_style=None` writes collections of scalars in flow style
//! (`{a: 1}`).  No serde YAML emitter does these, so this is a port of the
//! relevant parts of PyYAML's representer, resolver and emitter
//! (`emitter.py`), keeping its names so the two can be compared.
//!
//! Ansible's `AnsibleDumper` derives from `CSafeDumper`, i.e. libyaml's
//! emitter, which PyYAML's pure-Python emitter mirrors except that libyaml
//! writes no `...` end marker after a bare plain scalar (`'abc' | to_yaml`
//! is `abc\n`).

use std::sync::OnceLock;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};
use regex::Regex;

use super::py::{map_pairs, py_float};

/// Options of `yaml.dump` that Ansible users pass through.
#[derive(Clone, Debug)]
pub(crate) struct YamlStyle {
    pub indent: usize,
    pub width: usize,
    pub sort_keys: bool,
    /// `None`: flow style for collections holding only scalars.
    pub default_flow_style: Option<bool>,
    pub explicit_start: bool,
}

impl YamlStyle {
    /// `to_yaml`'s defaults.
    pub fn terse() -> YamlStyle {
        YamlStyle {
            indent: 2,
            width: 80,
            sort_keys: true,
            default_flow_style: None,
            explicit_start: false,
        }
    }

    /// `to_nice_yaml`'s defaults.
    pub fn nice() -> YamlStyle {
        YamlStyle {
            indent: 4,
            default_flow_style: Some(false),
            ..YamlStyle::terse()
        }
    }
}

/// A represented node (PyYAML's representer output).
enum Node {
    /// `is_str`: a string, quoted when its plain form would resolve to
    /// another type.  Other scalars (numbers, bools, null) are always plain.
    Scalar {
        value: String,
        is_str: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        flow: bool,
    },
}

fn represent(value: &Value, style: &YamlStyle) -> Result<Node, Error> {
    let scalar = |value: String| Node::Scalar {
        value,
        is_str: false,
    };
    Ok(match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot serialize an undefined value to YAML",
            ))
        }
        ValueKind::None => scalar("null".into()),
        ValueKind::Bool => scalar(if value.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number => {
            if value.is_integer() {
                scalar(value.to_string())
            } else {
                scalar(represent_float(
                    f64::try_from(value.clone()).unwrap_or(f64::NAN),
                ))
            }
        }
        ValueKind::String => Node::Scalar {
            value: value.as_str().unwrap_or("").to_string(),
            is_str: true,
        },
        ValueKind::Map => {
            let mut pairs = map_pairs(value);
            if style.sort_keys {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let pairs = pairs
                .iter()
                .map(|(k, v)| Ok((represent(k, style)?, represent(v, style)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            let best = pairs
                .iter()
                .all(|(k, v)| matches!(k, Node::Scalar { .. }) && matches!(v, Node::Scalar { .. }));
            Node::Map {
                pairs,
                flow: style.default_flow_style.unwrap_or(best),
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value
                .try_iter()?
                .map(|v| represent(&v, style))
                .collect::<Result<Vec<_>, Error>>()?;
            let best = items.iter().all(|n| matches!(n, Node::Scalar { .. }));
            Node::Seq {
                items,
                flow: style.default_flow_style.unwrap_or(best),
            }
        }
        _ => Node::Scalar {
            value: value.to_string(),
            is_str: true,
        },
    })
}

/// SafeRepresenter.represent_float.
fn represent_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let mut v = py_float(f).to_lowercase();
    // repr(1e17) is '1e+17', not a valid YAML float: PyYAML adds '.0'.
    if !v.contains('.') && v.contains('e') {
        v = v.replacen('e', ".0e", 1);
    }
    v
}

/// True if a plain scalar with this text would be read back as a string
/// (PyYAML's implicit resolvers: bool, int, float, null, timestamp, merge,
/// value).
fn resolves_to_str(s: &str) -> bool {
    static RESOLVERS: OnceLock<Regex> = OnceLock::new();
    let re = RESOLVERS.get_or_init(|| {
        let bool_ = r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF";
        let float = r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)";
        let int = r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+";
        let null = r"~|null|Null|NULL|";
        let timestamp = r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?";
        Regex::new(&format!(
            "^(?:{bool_}|{float}|{int}|{null}|{timestamp}|<<|=)$"
        ))
        .expect("resolver regex")
    });
    !re.is_match(s)
}

/// Emitter.analyze_scalar.
#[derive(Debug)]
struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's IS_PRINTABLE.
fn printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

fn is_space_or_break(c: char) -> bool {
    matches!(c, '\0' | ' ' | '\t' | '\r') || is_break(c)
}

fn analyze_scalar(scalar: &str) -> Analysis {
    if scalar.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = scalar.chars().collect();
    let n = chars.len();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    if scalar.starts_with("---") || scalar.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = n == 1 || is_space_or_break(chars[1]);
    let (mut previous_space, mut previous_break) = (false, false);
    for (index, &ch) in chars.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        // libyaml's IS_PRINTABLE (allow_unicode=True): characters outside
        // the BMP count as special, unlike in PyYAML's Python emitter.
        if !printable(ch) || ch == '\u{FEFF}' {
            special_characters = true;
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == n - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == n - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_space_or_break(ch);
        followed_by_whitespace = index + 2 >= n || is_space_or_break(chars[index + 2]);
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: true,
        allow_block_plain: true,
        allow_single_quoted: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special_characters {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_indicators {
        a.allow_flow_plain = false;
    }
    if block_indicators {
        a.allow_block_plain = false;
    }
    a
}

/// The emitter's state, as in PyYAML's `Emitter`.
struct Emitter {
    out: String,
    best_indent: usize,
    best_width: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    column: usize,
    whitespace: bool,
    indention: bool,
    root_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
}

pub(crate) fn dump(value: &Value, style: &YamlStyle) -> Result<String, Error> {
    let node = represent(value, style)?;
    let best_indent = if style.indent > 1 && style.indent < 10 {
        style.indent
    } else {
        2
    };
    let best_width = if style.width > best_indent * 2 {
        style.width
    } else {
        80
    };
    let mut e = Emitter {
        out: String::new(),
        best_indent,
        best_width,
        indent: None,
        indents: Vec::new(),
        flow_level: 0,
        column: 0,
        whitespace: true,
        indention: true,
        root_context: false,
        mapping_context: false,
        simple_key_context: false,
    };
    if style.explicit_start {
        e.write_indicator("---", true, false, false);
    }
    e.emit_node(&node, true, false, false);
    // expect_document_end; libyaml adds no '...' for an open-ended scalar.
    e.write_indent();
    Ok(e.out)
}

impl Emitter {
    fn emit_node(&mut self, node: &Node, root: bool, mapping: bool, simple_key: bool) {
        self.root_context = root;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Scalar { value, is_str } => {
                self.increase_indent(true, false);
                self.process_scalar(value, *is_str);
                self.indent = self.indents.pop().flatten();
            }
            Node::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items);
                }
            }
            Node::Map { pairs, flow } => {
                if self.flow_level > 0 || *flow || pairs.is_empty() {
                    self.flow_mapping(pairs);
                } else {
                    self.block_mapping(pairs);
                }
            }
        }
    }

    fn flow_sequence(&mut self, items: &[Node]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.emit_node(item, false, false, false);
        }
        self.indent = self.indents.pop().flatten();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, pairs: &[(Node, Node)]) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if check_simple_key(k) {
                self.emit_node(k, false, true, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.emit_node(k, false, true, false);
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.emit_node(v, false, true, false);
        }
        self.indent = self.indents.pop().flatten();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Node]) {
        // Lists directly under a mapping key are not indented.
        let indentless = self.mapping_context && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.emit_node(item, false, false, false);
        }
        self.indent = self.indents.pop().flatten();
    }

    fn block_mapping(&mut self, pairs: &[(Node, Node)]) {
        self.increase_indent(false, false);
        for (k, v) in pairs {
            self.write_indent();
            if check_simple_key(k) {
                self.emit_node(k, false, true, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.emit_node(k, false, true, false);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.emit_node(v, false, true, false);
        }
        self.indent = self.indents.pop().flatten();
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            Some(_) => {}
        }
    }

    fn process_scalar(&mut self, value: &str, is_str: bool) {
        let analysis = analyze_scalar(value);
        // Non-strings are represented with their own tag and resolve to it
        // when plain; strings are plain only if they resolve back to str.
        let implicit_plain = !is_str || resolves_to_str(value);
        let split = !self.simple_key_context;
        let plain_ok = implicit_plain
            && !(self.simple_key_context && (analysis.empty || analysis.multiline))
            && ((self.flow_level > 0 && analysis.allow_flow_plain)
                || (self.flow_level == 0 && analysis.allow_block_plain));
        if plain_ok {
            self.write_plain(value, split);
        } else if analysis.allow_single_quoted && !(self.simple_key_context && analysis.multiline) {
            self.write_single_quoted(value, split);
        } else {
            self.write_double_quoted(value, split);
        }
    }

    fn write(&mut self, data: &str) {
        self.column += data.chars().count();
        self.out.push_str(data);
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        whitespace: bool,
        indention: bool,
    ) {
        if !self.whitespace && need_whitespace {
            self.write(" ");
        }
        self.write(indicator);
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.write(&pad);
        }
    }

    fn write_line_break(&mut self, data: Option<char>) {
        self.out.push(data.unwrap_or('\n'));
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
    }

    fn write_plain(&mut self, text: &str, split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                // Plain scalars with line breaks are never chosen.
                if ch.is_none_or(|c| !is_break(c)) {
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                let data: String = chars[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.write_indent();
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if ch.is_none_or(|c| !is_break(c)) {
                    if chars[start] == '\n' {
                        self.write_line_break(None);
                    }
                    for &br in &chars[start..end] {
                        self.write_line_break(Some(br));
                    }
                    self.write_indent();
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c) || c == '\'') && start < end {
                let data: String = chars[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    /// libyaml's yaml_emitter_write_double_quoted (it folds at a space
    /// without PyYAML's trailing backslash).
    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                let data = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".to_string(),
                    '\u{8}' => "\\b".to_string(),
                    '\t' => "\\t".to_string(),
                    '\n' => "\\n".to_string(),
                    '\u{b}' => "\\v".to_string(),
                    '\u{c}' => "\\f".to_string(),
                    '\r' => "\\r".to_string(),
                    '\u{1b}' => "\\e".to_string(),
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    '\u{85}' => "\\N".to_string(),
                    '\u{A0}' => "\\_".to_string(),
                    '\u{2028}' => "\\L".to_string(),
                    '\u{2029}' => "\\P".to_string(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.write(&data);
                spaces = false;
            } else if c == ' ' {
                if split
                    && !spaces
                    && self.column > self.best_width
                    && i != 0
                    && i != chars.len() - 1
                {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.write("\\");
                    }
                } else {
                    self.write(" ");
                }
                spaces = true;
            } else {
                let mut buf = [0u8; 4];
                self.write(c.encode_utf8(&mut buf));
                spaces = false;
            }
            i += 1;
        }
        self.write_indicator("\"", false, false, false);
    }
}

/// Emitter.check_simple_key for a key node: short (with the 5-character
/// `!!str` tag PyYAML counts), non-empty, single-line scalars and empty
/// collections.
fn check_simple_key(node: &Node) -> bool {
    match node {
        Node::Scalar { value, .. } => {
            let a = analyze_scalar(value);
            value.chars().count() + 5 < 128 && !a.empty && !a.multiline
        }
        Node::Seq { items, .. } => items.is_empty(),
        Node::Map { pairs, .. } => pairs.is_empty(),
    }
}
