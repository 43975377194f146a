//! Reading `/etc/config/dualwan` safely: opened without following a symlink at its last
//! component and without blocking, refused unless it is a regular file, read up to
//! [`FILE_MAX`] bytes, and required to be UTF-8. The text then goes to the pure
//! [`config::load_str`].

use crate::config::{self, Config, ConfigError, Problem, Report, FILE_MAX};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// Reads, parses and validates a config file; a file that cannot be read is one error
/// (line 0: the file as a whole).
pub fn load(path: &str) -> (Option<Config>, Report) {
    match read(path) {
        Ok(text) => config::load_str(&text),
        Err(problem) => {
            let mut report = Report::default();
            report.errors.push(ConfigError { line: 0, problem });
            (None, report)
        }
    }
}

/// The file's text, or why it cannot be had.
pub fn read(path: &str) -> Result<String, Problem> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a FIFO put in the file's place must not hang the daemon in open(2)
        // until someone writes to it; it is refused as not a regular file just below.
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Problem::Read(e.to_string()))?;
    let meta = file.metadata().map_err(|e| Problem::Read(e.to_string()))?;
    if !meta.is_file() {
        return Err(Problem::Read("not a regular file".into()));
    }
    let mut bytes = Vec::with_capacity((meta.len() as usize).min(FILE_MAX) + 1);
    file.take(FILE_MAX as u64 + 1).read_to_end(&mut bytes).map_err(|e| Problem::Read(e.to_string()))?;
    if bytes.len() > FILE_MAX {
        return Err(Problem::TooLarge(bytes.len()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        Problem::Read(format!("line {line}: not valid UTF-8"))
    })
}
