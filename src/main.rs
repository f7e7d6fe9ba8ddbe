//! `siproxd`: command line → configuration → daemon → main loop.

use siproxd::app;

fn main() {
    siproxd::log::init();
    let opts = app::parse_args(std::env::args_os().skip(1))
        .unwrap_or_else(|code| std::process::exit(code));
    let (path, loaded) = app::load_config(&opts).unwrap_or_else(|code| std::process::exit(code));
    if opts.check {
        std::process::exit(app::check(&path, &loaded));
    }
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    let running = app::start(opts, path, loaded).unwrap_or_else(|code| std::process::exit(code));
    std::process::exit(running.run());
}
