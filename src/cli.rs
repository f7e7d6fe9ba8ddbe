//! Command line of the `siproxd` binary.
//!
//! Layer: shell input, no I/O (the caller prints and exits). Mirrors the option loop of
//! upstream `siproxd.c:main` (`-h -c -d -p` and their long forms, getopt-style glued values
//! such as `-d0x10` or `-c/x.conf`), plus our additions `-V`, `-f` and `-t`.
//!
//! Differences from upstream, on purpose:
//! - `-d` accepts decimal, `0x` hex and negative values (upstream's `atoi` reads decimal only,
//!   so `-d 0x10` silently meant 0 there);
//! - an unknown option or a missing argument is an error (upstream's getopt printed a message
//!   and carried on running); the caller prints [`usage`] to stderr and exits 2.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-h` / `--help`: print [`usage`] and exit 0.
    Help,
    /// `-V` / `--version`: print [`version`] and exit 0.
    Version,
    /// Run (or, with `check`, only check the configuration).
    Run(Options),
}

/// Options that influence a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-c FILE`: use exactly this file, no search.
    pub config: Option<PathBuf>,
    /// `-d PATTERN`: debug class mask; overrides `debug_level` when non-zero (upstream rule).
    pub debug: Option<i64>,
    /// `-p FILE`: pid file, overrides `pid_file`.
    pub pid_file: Option<PathBuf>,
    /// `-f`: stay in the foreground whatever `daemonize` says.
    pub foreground: bool,
    /// `-t`: load and check the configuration, print the effective values, exit.
    pub check: bool,
}

/// Why the command line was refused. The caller prints the message and [`usage`] to stderr
/// and exits with status 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CliError {
    /// An option we do not know.
    #[error("unknown option {0}")]
    UnknownOption(String),
    /// An option that needs an argument came last.
    #[error("option {0} needs an argument")]
    MissingArgument(String),
    /// A flag was given a value (`--help=x`).
    #[error("option {option} takes no argument (got \"{value}\")")]
    UnexpectedValue { option: String, value: String },
    /// A word that is not an option; siproxd takes no positional arguments.
    #[error("unexpected argument \"{0}\"")]
    UnexpectedArgument(String),
    /// `-d` with something that is not an integer.
    #[error(
        "option {option}: \"{value}\" is not a debug pattern (expected decimal, 0x hex or -1)"
    )]
    BadDebugPattern { option: String, value: String },
}

/// Smallest and largest `-d` values: a 32-bit mask written signed (`-1`) or unsigned.
const DEBUG_MIN: i64 = i32::MIN as i64;
const DEBUG_MAX: i64 = u32::MAX as i64;

/// Parses the arguments (without argv\[0\]).
///
/// `-h` and `-V` win as soon as they are seen, as upstream exits on `-h` inside its loop.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Action, CliError> {
    let mut parser =
        lexopt::Parser::from_iter(std::iter::once(OsString::from("siproxd")).chain(args));
    let mut opts = Options::default();
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => return Ok(Action::Run(opts)),
            Err(e) => return Err(from_lexopt(e)),
        };
        let arg = match arg {
            lexopt::Arg::Short(c) => OwnedArg::Short(c),
            lexopt::Arg::Long(l) => OwnedArg::Long(l.to_string()),
            lexopt::Arg::Value(v) => {
                return Err(CliError::UnexpectedArgument(
                    v.to_string_lossy().into_owned(),
                ))
            }
        };
        if let Some(action) = apply_arg(&mut parser, &arg, &mut opts)? {
            return Ok(action);
        }
    }
}

/// An option, detached from the parser's borrow.
enum OwnedArg {
    Short(char),
    Long(String),
}

/// Applies one option; returns an action when the option ends parsing (`-h`, `-V`).
fn apply_arg(
    parser: &mut lexopt::Parser,
    arg: &OwnedArg,
    opts: &mut Options,
) -> Result<Option<Action>, CliError> {
    if let OwnedArg::Long(l) = arg {
        if let Some(v) = flag_value(parser, l) {
            return Err(CliError::UnexpectedValue {
                option: format!("--{l}"),
                value: v.to_string_lossy().into_owned(),
            });
        }
    }
    let (short, long, name) = match arg {
        OwnedArg::Short(c) => (Some(*c), "", format!("-{c}")),
        OwnedArg::Long(l) => (None, l.as_str(), format!("--{l}")),
    };
    match (short, long) {
        (Some('h'), _) | (_, "help") => return Ok(Some(Action::Help)),
        (Some('V'), _) | (_, "version") => return Ok(Some(Action::Version)),
        (Some('c'), _) | (_, "config") => opts.config = Some(value(parser, &name)?.into()),
        (Some('p'), _) | (_, "pid-file") => opts.pid_file = Some(value(parser, &name)?.into()),
        (Some('d'), _) | (_, "debug") => {
            opts.debug = Some(debug_pattern(&name, value(parser, &name)?)?)
        }
        (Some('f'), _) | (_, "foreground") => opts.foreground = true,
        (Some('t'), _) | (_, "check") => opts.check = true,
        _ => return Err(CliError::UnknownOption(name)),
    }
    Ok(None)
}

/// A `=value` glued to a long flag that takes none (`--help=yes`).
fn flag_value(parser: &mut lexopt::Parser, long: &str) -> Option<OsString> {
    const FLAGS: [&str; 4] = ["help", "version", "foreground", "check"];
    if FLAGS.contains(&long) {
        parser.optional_value()
    } else {
        None
    }
}

/// The argument of an option (glued, `=`-joined or the next word, even one starting with `-`).
fn value(parser: &mut lexopt::Parser, name: &str) -> Result<OsString, CliError> {
    parser
        .value()
        .map_err(|_| CliError::MissingArgument(name.to_string()))
}

/// Reads a `-d` pattern: decimal, `0x` hex, optionally negative, within 32 bits.
fn debug_pattern(option: &str, raw: OsString) -> Result<i64, CliError> {
    let text = raw.to_string_lossy();
    match crate::config::value::parse_integer(text.trim()).map(|i| i.value) {
        Some(v) if (DEBUG_MIN..=DEBUG_MAX).contains(&v) => Ok(v),
        _ => Err(CliError::BadDebugPattern {
            option: option.to_string(),
            value: text.into_owned(),
        }),
    }
}

/// Maps lexopt's errors onto ours.
fn from_lexopt(e: lexopt::Error) -> CliError {
    match e {
        lexopt::Error::MissingValue { option } => {
            CliError::MissingArgument(option.unwrap_or_else(|| "?".to_string()))
        }
        lexopt::Error::UnexpectedOption(o) => CliError::UnknownOption(o),
        lexopt::Error::UnexpectedArgument(a) => {
            CliError::UnexpectedArgument(a.to_string_lossy().into_owned())
        }
        lexopt::Error::UnexpectedValue { option, value } => CliError::UnexpectedValue {
            option,
            value: value.to_string_lossy().into_owned(),
        },
        other => CliError::UnexpectedArgument(other.to_string()),
    }
}

/// One line naming the program and its version, printed by `-V`.
pub fn version() -> String {
    format!(
        "siproxd {} (siproxd-rs, compatible with siproxd 0.8)\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The help text, laid out like upstream's `-h` output with our options added.
pub fn usage() -> String {
    format!(
        "siproxd {} - SIP/RTP masquerading proxy (siproxd-rs)\n\
         \n\
         Usage: siproxd [options]\n\
         \n\
         options:\n\
         \x20      -h, --help                 show this help and exit\n\
         \x20      -d, --debug <pattern>      set the debug pattern (decimal, 0x hex, -1 = all)\n\
         \x20      -c, --config <cfgfile>     use this config file (no search)\n\
         \x20      -p, --pid-file <pidfile>   write the pid to <pidfile> (overrides pid_file)\n\
         \x20      -f, --foreground           stay in the foreground (overrides daemonize)\n\
         \x20      -t, --check                check the config, print effective values, exit\n\
         \x20      -V, --version              show the version and exit\n",
        env!("CARGO_PKG_VERSION")
    )
}
