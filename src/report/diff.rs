//! The one diff renderer: a plan's changes as text, with optional colour.

use crate::modules::Change;
use console::Style;
use similar::{ChangeTag, TextDiff};

pub fn render(changes: &[Change], color: bool) -> String {
    let (minus, plus, head) = if color {
        (
            Style::new().red(),
            Style::new().green(),
            Style::new().cyan(),
        )
    } else {
        (Style::new(), Style::new(), Style::new())
    };
    let mut out = String::new();
    for c in changes {
        match (&c.before, &c.after, c.text) {
            (Some(b), Some(a), true) => {
                out.push_str(
                    &head
                        .apply_to(format!(
                            "--- before: {}\n+++ after: {}\n",
                            c.target, c.target
                        ))
                        .to_string(),
                );
                let diff = TextDiff::from_lines(b.as_str(), a.as_str());
                for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
                    out.push_str(&head.apply_to(format!("{}\n", hunk.header())).to_string());
                    for ch in hunk.iter_changes() {
                        let line = ch.to_string_lossy();
                        let nl = if line.ends_with('\n') {
                            ""
                        } else {
                            "\n\\ No newline at end of file\n"
                        };
                        let text = match ch.tag() {
                            ChangeTag::Delete => minus.apply_to(format!("-{line}")).to_string(),
                            ChangeTag::Insert => plus.apply_to(format!("+{line}")).to_string(),
                            ChangeTag::Equal => format!(" {line}"),
                        };
                        out.push_str(&text);
                        out.push_str(nl);
                    }
                }
            }
            _ => {
                let mut line = format!("{} {}", c.target, c.what);
                if let (Some(b), Some(a)) = (&c.before, &c.after) {
                    line.push_str(&format!(": {b} -> {a}"));
                } else if let Some(a) = &c.after {
                    line.push_str(&format!(": -> {a}"));
                } else if let Some(b) = &c.before {
                    line.push_str(&format!(": {b} ->"));
                }
                if let Some(r) = &c.reason {
                    line.push_str(&format!(" ({r})"));
                }
                out.push_str(&format!("{}\n", plus.apply_to(format!("~ {line}"))));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_of_content_and_line_for_attributes() {
        let changes = vec![
            Change::new("/etc/x", "content")
                .from_to("a\nb\n", "a\nc\n")
                .text_diff(),
            Change::new("/etc/x", "mode").from_to("0644", "0600"),
        ];
        let s = render(&changes, false);
        assert!(s.contains("-b\n+c\n"), "{s}");
        assert!(s.contains("~ /etc/x mode: 0644 -> 0600"), "{s}");
    }
}
