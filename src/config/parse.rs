//! Lines of siproxd.conf into `key = value` records with their line numbers.
//!
//! Mirrors readconf.c's line rules: blank lines and lines whose first non-blank character is
//! `#` are skipped; a line without `=` is an error; blanks after `=` are skipped and trailing
//! blanks trimmed; values may contain inner spaces. We differ where upstream loses data:
//! a `#` starts an inline comment only after a blank (upstream cut every value at its first
//! `#`), tabs count as blanks on both sides, and keys are taken exactly as written before `=`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use super::diag::Diagnostic;

/// Longest line upstream reads in one piece (a 1024-byte buffer with its NUL).
pub const MAX_LINE: usize = 1023;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line number.
    pub line: usize,
    /// Text before the first `=`, trimmed.
    pub key: String,
    /// Value after `=`, blanks skipped and trimmed, inline comment removed.
    pub value: String,
    /// The whole line as written (for simulating upstream's reading).
    pub raw: String,
}

/// Collects diagnostics for one file.
#[derive(Debug, Default)]
pub struct Sink {
    pub file: PathBuf,
    pub warnings: Vec<Diagnostic>,
    pub errors: Vec<Diagnostic>,
    pub notes: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: &Path) -> Self {
        Sink {
            file: file.to_path_buf(),
            ..Sink::default()
        }
    }

    pub fn warn(&mut self, line: usize, directive: Option<&str>, message: String) {
        self.warnings
            .push(Diagnostic::at(&self.file, line, directive, message));
    }

    pub fn error(&mut self, line: usize, directive: Option<&str>, message: String) {
        self.errors
            .push(Diagnostic::at(&self.file, line, directive, message));
    }

    pub fn note(&mut self, line: Option<usize>, directive: Option<&str>, message: String) {
        let d = match line {
            Some(l) => Diagnostic::at(&self.file, l, directive, message),
            None => Diagnostic::file_level(&self.file, directive, message),
        };
        self.notes.push(d);
    }
}

/// Splits the file into records; malformed lines become errors in `sink`.
pub fn records(bytes: &[u8], sink: &mut Sink) -> Vec<Record> {
    let mut out = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if is_blank_or_comment(raw) {
            continue;
        }
        if let Some(record) = record(line, raw, sink) {
            out.push(record);
        }
    }
    out
}

/// Blank, or first non-blank byte is `#` (upstream skips these whatever their encoding).
fn is_blank_or_comment(raw: &[u8]) -> bool {
    match raw.iter().find(|b| !matches!(b, b' ' | b'\t')) {
        None => true,
        Some(b) => *b == b'#',
    }
}

/// One non-comment line into a record, or an error.
fn record(line: usize, raw: &[u8], sink: &mut Sink) -> Option<Record> {
    let name = directive_name(raw);
    if raw.len() > MAX_LINE {
        let msg = format!(
            "line is {} bytes long; the limit is {MAX_LINE} (as in siproxd)",
            raw.len()
        );
        sink.error(line, name.as_deref(), msg);
        return None;
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        sink.error(
            line,
            name.as_deref(),
            "line is not valid UTF-8 text".to_string(),
        );
        return None;
    };
    if let Some((col, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t')
    {
        let msg = format!(
            "control character U+{:04X} at column {} (binary data?)",
            u32::from(c),
            col + 1
        );
        sink.error(line, name.as_deref(), msg);
        return None;
    }
    let Some((key, rest)) = text.split_once('=') else {
        let msg = match &name {
            Some(n) => format!("no \"=\" on this line (expected \"{n} = value\")"),
            None => "no \"=\" on this line (expected \"directive = value\")".to_string(),
        };
        sink.error(line, name.as_deref(), msg);
        return None;
    };
    let key = key.trim_matches([' ', '\t']);
    if key.is_empty() {
        sink.error(line, None, "no directive name before \"=\"".to_string());
        return None;
    }
    let value = value_of(rest);
    warn_hash(line, key, &value, sink);
    Some(Record {
        line,
        key: key.to_string(),
        value,
        raw: text.to_string(),
    })
}

/// The text after `=`: cut at a `#` that follows a blank, then blanks trimmed on both sides.
pub fn value_of(rest: &str) -> String {
    let mut prev = '=';
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        if c == '#' && matches!(prev, ' ' | '\t') {
            end = i;
            break;
        }
        prev = c;
    }
    rest.get(..end)
        .unwrap_or(rest)
        .trim_matches([' ', '\t'])
        .to_string()
}

/// Mirrors readconf.c's string rule "value ends at the first `#`": warn where it differs.
fn warn_hash(line: usize, key: &str, value: &str, sink: &mut Sink) {
    if let Some((cut, _)) = value.split_once('#') {
        let cut = cut.trim_end_matches(' ');
        let msg = format!(
            "value \"{value}\" contains \"#\": siproxd would have cut it to \"{cut}\"; \
             it is kept whole here (a \"#\" starts a comment only after a blank)"
        );
        sink.warn(line, Some(key), msg);
    }
}

/// The first word of a line when it looks like a directive name, for error messages.
fn directive_name(raw: &[u8]) -> Option<String> {
    let start = raw.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
    let word: Vec<u8> = raw
        .get(start..)?
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .collect();
    if word.is_empty() {
        return None;
    }
    String::from_utf8(word).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(value_of(" \t 7070  # LAN"), "7070");
        assert_eq!(value_of(" pa#ss"), "pa#ss");
        assert_eq!(value_of(" # only a comment"), "");
        assert_eq!(value_of("#x"), "#x");
        assert_eq!(value_of(" Siproxd UA \t"), "Siproxd UA");
    }
}
