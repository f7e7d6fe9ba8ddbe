//! Diagnostics of the configuration reader: warnings, notes, errors and where a value came from.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;

/// One message about the configuration, shown as `file:line: directive: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line number; None for a message about the whole file.
    pub line: Option<usize>,
    /// The directive concerned, when there is one.
    pub directive: Option<String>,
    /// What is wrong or worth knowing, with the numbers.
    pub message: String,
}

impl Diagnostic {
    /// A message about one line.
    pub fn at(
        file: &std::path::Path,
        line: usize,
        directive: Option<&str>,
        message: String,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: Some(line),
            directive: directive.map(str::to_string),
            message,
        }
    }

    /// A message about the file as a whole.
    pub fn file_level(file: &std::path::Path, directive: Option<&str>, message: String) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            directive: directive.map(str::to_string),
            message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(directive) = &self.directive {
            write!(f, ": {directive}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Where an effective value came from, shown by `siproxd -t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Our built-in default.
    Default,
    /// A line of the configuration file.
    File { file: PathBuf, line: usize },
    /// A command-line option.
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { file, line } => write!(f, "{}:{line}", file.display()),
            Origin::CommandLine => f.write_str("command line"),
        }
    }
}

/// A list of error diagnostics, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.0 {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Why no configuration could be loaded. The caller prints it and exits 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No file on the search path exists (mirrors readconf.c's search; upstream exits 1 too).
    #[error("no configuration file found; tried: {}", list_paths(.tried))]
    NotFound { tried: Vec<PathBuf> },
    /// The file exists but cannot be read.
    #[error("{}: cannot read the configuration file: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is implausibly large for a siproxd.conf.
    #[error("{}: configuration file is {size} bytes long; the limit is {limit}", .path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// The file has errors: every one of them, in line order. `warnings` are the warnings of
    /// the same file, so the caller can print them too.
    #[error("{errors}")]
    Invalid {
        errors: Diagnostics,
        warnings: Vec<Diagnostic>,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}
