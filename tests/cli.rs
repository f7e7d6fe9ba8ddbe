//! The command line: upstream's -h -c -d -p with long and glued forms, plus -V -f -t.

use std::ffi::OsString;
use std::path::PathBuf;

use siproxd::cli::{self, Action, CliError, Options};

fn parse(args: &[&str]) -> Result<Action, CliError> {
    cli::parse(args.iter().map(OsString::from))
}

fn run(args: &[&str]) -> Options {
    match parse(args) {
        Ok(Action::Run(o)) => o,
        other => panic!("{args:?}: unexpected {other:?}"),
    }
}

#[test]
fn no_arguments_runs_with_defaults() {
    assert_eq!(run(&[]), Options::default());
}

#[test]
fn help_and_version() {
    for a in [
        &["-h"][..],
        &["--help"],
        &["-c", "x", "-h"],
        &["-h", "--bogus"],
    ] {
        assert_eq!(parse(a), Ok(Action::Help), "{a:?}");
    }
    assert_eq!(parse(&["-V"]), Ok(Action::Version));
    assert_eq!(parse(&["--version"]), Ok(Action::Version));
}

#[test]
fn config_file_forms() {
    let want = Some(PathBuf::from("/x.conf"));
    for a in [
        &["-c", "/x.conf"][..],
        &["-c/x.conf"],
        &["--config", "/x.conf"],
        &["--config=/x.conf"],
    ] {
        assert_eq!(run(a).config, want, "{a:?}");
    }
    assert_eq!(
        run(&["-c", "-weird.conf"]).config,
        Some(PathBuf::from("-weird.conf"))
    );
}

#[test]
fn debug_pattern_forms() {
    let cases: [(&[&str], i64); 8] = [
        (&["-d", "5"], 5),
        (&["-d5"], 5),
        (&["-d0x10"], 16),
        (&["-d", "0x10"], 16),
        (&["-d", "-1"], -1),
        (&["-d-1"], -1),
        (&["--debug=5"], 5),
        (&["--debug", "0xffffffff"], 0xffff_ffff),
    ];
    for (args, want) in cases {
        assert_eq!(run(args).debug, Some(want), "{args:?}");
    }
}

#[test]
fn bad_debug_pattern() {
    assert_eq!(
        parse(&["-d", "lots"]).map_err(|e| e.to_string()),
        Err(
            "option -d: \"lots\" is not a debug pattern (expected decimal, 0x hex or -1)"
                .to_string()
        )
    );
    assert_eq!(
        parse(&["--debug=0x100000000"]).map_err(|e| e.to_string()),
        Err("option --debug: \"0x100000000\" is not a debug pattern (expected decimal, 0x hex or -1)".to_string())
    );
}

#[test]
fn pid_file_foreground_check() {
    let o = run(&["-p", "/run/s.pid", "-f", "-t"]);
    assert_eq!(o.pid_file, Some(PathBuf::from("/run/s.pid")));
    assert!(o.foreground && o.check);
    let o = run(&["--pid-file=/run/s.pid", "--foreground", "--check"]);
    assert_eq!(o.pid_file, Some(PathBuf::from("/run/s.pid")));
    assert!(o.foreground && o.check);
    let o = run(&["-ft", "-p/p.pid"]);
    assert!(o.foreground && o.check);
    assert_eq!(o.pid_file, Some(PathBuf::from("/p.pid")));
}

#[test]
fn all_together_as_openwrt_and_pfsense_call_it() {
    let o = run(&["--config", "/var/etc/siproxd/siproxd-lan.conf"]);
    assert_eq!(
        o.config,
        Some(PathBuf::from("/var/etc/siproxd/siproxd-lan.conf"))
    );
    let o = run(&[
        "-c",
        "/usr/local/etc/siproxd.conf",
        "-d",
        "0x100",
        "-p",
        "/var/run/siproxd.pid",
    ]);
    assert_eq!(o.debug, Some(0x100));
    assert_eq!(o.pid_file, Some(PathBuf::from("/var/run/siproxd.pid")));
}

#[test]
fn errors() {
    let err = |a: &[&str]| parse(a).map_err(|e| e.to_string());
    assert_eq!(err(&["-x"]), Err("unknown option -x".to_string()));
    assert_eq!(err(&["--bogus"]), Err("unknown option --bogus".to_string()));
    assert_eq!(err(&["-c"]), Err("option -c needs an argument".to_string()));
    assert_eq!(
        err(&["--config"]),
        Err("option --config needs an argument".to_string())
    );
    assert_eq!(err(&["-d"]), Err("option -d needs an argument".to_string()));
    assert_eq!(err(&["-p"]), Err("option -p needs an argument".to_string()));
    assert_eq!(
        err(&["stray"]),
        Err("unexpected argument \"stray\"".to_string())
    );
    assert_eq!(
        err(&["--help=yes"]),
        Err("option --help takes no argument (got \"yes\")".to_string())
    );
    assert_eq!(
        parse(&["-x"]),
        Err(CliError::UnknownOption("-x".to_string()))
    );
    assert_eq!(
        parse(&["-c"]),
        Err(CliError::MissingArgument("-c".to_string()))
    );
}

#[test]
fn usage_text() {
    let expected = format!(
        "siproxd {} - SIP/RTP masquerading proxy (siproxd-rs)\n\
         \n\
         Usage: siproxd [options]\n\
         \n\
         options:\n       \
         -h, --help                 show this help and exit\n       \
         -d, --debug <pattern>      set the debug pattern (decimal, 0x hex, -1 = all)\n       \
         -c, --config <cfgfile>     use this config file (no search)\n       \
         -p, --pid-file <pidfile>   write the pid to <pidfile> (overrides pid_file)\n       \
         -f, --foreground           stay in the foreground (overrides daemonize)\n       \
         -t, --check                check the config, print effective values, exit\n       \
         -V, --version              show the version and exit\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(cli::usage(), expected);
    assert_eq!(
        cli::version(),
        format!(
            "siproxd {} (siproxd-rs, compatible with siproxd 0.8)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
