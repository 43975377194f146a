//! `dualwan import-mwan3 [MWAN3_FILE [NETWORK_FILE]]`: reads the two files, prints the
//! translation (`dualwan::mwan3`) on stdout and what it could not translate on stderr.
//! Exit 0 with at least one enabled interface translated, 1 otherwise (not an mwan3 config,
//! unreadable or broken files, nothing to translate).

use argh::FromArgs;
use dualwan::mwan3::{self, Kind};
use dualwan::uci::{self, Package};
use std::io::Read;
use std::process::ExitCode;

/// Translate an mwan3 config into a dualwan config, printed on stdout.
#[derive(FromArgs)]
#[argh(subcommand, name = "import-mwan3", help_triggers("-h", "--help", "help"))]
pub struct Args {
    /// the mwan3 config (default /etc/config/mwan3), then the network config, which says
    /// which IPv4 and IPv6 sections share a device (default /etc/config/network)
    #[argh(positional, arg_name = "FILE")]
    files: Vec<String>,
}

const MWAN3: &str = "/etc/config/mwan3";
const NETWORK: &str = "/etc/config/network";

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let (mwan3_path, network_path) = match &args.files[..] {
        [] => (MWAN3, NETWORK),
        [m] => (m.as_str(), NETWORK),
        [m, n] => (m.as_str(), n.as_str()),
        _ => {
            eprintln!("dualwan: import-mwan3 takes at most two files: MWAN3_FILE [NETWORK_FILE]");
            return ExitCode::from(2);
        }
    };
    let fail = |message: &dyn std::fmt::Display| {
        eprintln!("{message}");
        ExitCode::from(1)
    };
    let mwan3_pkg = match read(mwan3_path) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) | Err(e) => return fail(&e),
    };
    // Without a network config nothing is paired: worth a warning, not a failure.
    let network_pkg = match read(network_path) {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => return fail(&e),
        Err(e) => {
            eprintln!("{e}: IPv4 and IPv6 interfaces are not paired, src_iface is not resolved (warning)");
            None
        }
    };
    let import = match mwan3::import(&mwan3_pkg, network_pkg.as_ref()) {
        Ok(i) => i,
        Err(e) => return fail(&format_args!("{}: {e}", mwan3_path)),
    };
    for n in import.notices.iter().filter(|n| n.kind == Kind::NotTranslated) {
        match n.line {
            0 => eprintln!("{}: {n}", mwan3_path),
            line => eprintln!("{}:{line}: {n}", mwan3_path),
        }
    }
    if import.interfaces == 0 {
        return fail(&format_args!("{}: no interface could be translated", mwan3_path));
    }
    if import.enabled == 0 {
        return fail(&format_args!(
            "{}: no interface is enabled (mwan3's default for enabled is 0): nothing to fail over between",
            mwan3_path
        ));
    }
    print!("{}", import.text);
    ExitCode::SUCCESS
}

/// The file parsed (`Ok(Err)`: `FILE:LINE: Parse error ...`), or `Err` when it cannot be read.
fn read(path: &str) -> Result<Result<Package, String>, String> {
    // (`Take<File>` as the daemon reads its config: the same code in the binary, and no limit.)
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(u64::MAX).read_to_end(&mut bytes));
    if let Err(e) = read {
        return Err(format!("{path}: cannot read: {e}"));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        format!("{path}:{line}: not valid UTF-8")
    })?;
    Ok(uci::parse(&text).map_err(|e| format!("{path}:{}: {}", e.blamed_line(), e.explained())))
}
