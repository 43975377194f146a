//! `dualwan check`: reads the config, prints its warnings and errors as FILE:LINE lines and
//! the effective config with every default; `--schema` prints the option table instead.
//! `run` reads the config the same way and logs the same lines.

use dualwan::config::{self, Config, ConfigError, LogLevel, Report};
use dualwan::options;
use dualwan::sys::config_file;
use dualwan::sys::log::Log;
use std::fmt;
use std::process::ExitCode;

/// `dualwan check [-c FILE]`: exit 1 when the config is invalid.
pub fn check(file: &str) -> ExitCode {
    let (config, report) = config_file::load(file);
    print_report(file, &report);
    match config {
        Some(c) => {
            let mut out = String::new();
            let _ = config::write_effective(&c, &mut out);
            print!("{out}");
            ExitCode::SUCCESS
        }
        None => ExitCode::from(1),
    }
}

/// `dualwan check --schema`: the option tables, which the LuCI app ships as its schema.json.
pub fn schema() -> ExitCode {
    let mut out = String::new();
    let _ = options::write_schema(&mut out);
    print!("{out}");
    ExitCode::SUCCESS
}

/// The config for `run` (start or reload), its report written to `log`; `None` if invalid.
pub fn load_for_run(file: &str, log: &Log) -> Option<Config> {
    let (config, report) = config_file::load(file);
    for w in &report.warnings {
        log.write(LogLevel::Warning, &WarningIn(file, w).to_string());
    }
    for e in &report.errors {
        log.write(LogLevel::Err, &e.display_in(file).to_string());
    }
    config
}

fn print_report(file: &str, report: &Report) {
    for w in &report.warnings {
        eprintln!("{}", WarningIn(file, w));
    }
    for e in &report.errors {
        eprintln!("{}", e.display_in(file));
    }
}

/// A warning as FILE:LINE text.
struct WarningIn<'a>(&'a str, &'a ConfigError);

impl fmt::Display for WarningIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (warning)", self.1.display_in(self.0))
    }
}
