//! `dualwan status`: one call to the running daemon's ubus object, printed as a summary or
//! (`--json`) as `ubus call dualwan status` prints it.

use dualwan::summary;
use dualwan::sys::ubus_client::{Client, ClientError, CALL_TIMEOUT};
use dualwan::ubus::{status_name, DUALWAN};
use dualwan::wire::blob;
use dualwan::wire::blob_json;
use dualwan::wire::ubus;
use std::io::ErrorKind;
use std::path::Path;
use std::process::ExitCode;

/// What to do when ubusd is not there: on OpenWrt procd starts it at boot (there is no
/// init script of its own).
const START_UBUSD: &str =
    "procd starts it at boot on OpenWrt; elsewhere start ubusd, or name its socket with --ubus-socket";

/// What to do when the daemon is not on ubus.
const START_DUALWAN: &str = "start it with /etc/init.d/dualwan start (logread -e dualwan tells why it stopped)";

/// Whether a failed connect means that no ubusd listens there (with a word on a socket
/// file left behind), or something else (permissions), which the error itself says.
fn ubusd_absent(e: &ClientError) -> Option<&'static str> {
    let ClientError::Connect { error, .. } = e else { return None };
    match error.kind() {
        ErrorKind::NotFound => Some(""),
        ErrorKind::ConnectionRefused => Some(" (its socket file is left from an earlier run)"),
        _ => None,
    }
}

/// Asks the daemon at ubusd socket `socket` (about `only`, or every interface); exit 1 when
/// it cannot answer.
pub fn show_status(socket: &str, only: Option<&str>, json: bool) -> ExitCode {
    let fail = |message: &dyn std::fmt::Display| {
        eprintln!("dualwan: {message}");
        ExitCode::from(1)
    };
    let mut client = match Client::connect(Path::new(socket), CALL_TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dualwan: {e}");
            if let Some(why) = ubusd_absent(&e) {
                eprintln!("dualwan: ubusd is not running{why}: {START_UBUSD}");
            }
            return ExitCode::from(1);
        }
    };
    let object = match client.lookup(DUALWAN.path) {
        Ok(Some(id)) => id,
        Ok(None) => {
            return fail(&format_args!("dualwan is not running (no 'dualwan' object on ubus): {START_DUALWAN}"))
        }
        Err(e) => return fail(&e),
    };
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let status = client.invoke(
        object,
        "status",
        |w| match only {
            Some(name) => w.string("interface", name),
            None => Ok(()),
        },
        &mut |data| replies.push(data.to_vec()),
    );
    match status {
        Ok(ubus::STATUS_OK) => {}
        Ok(ubus::STATUS_NOT_FOUND) if only.is_some() => {
            return fail(&format_args!("no interface '{}'", only.unwrap_or_default()))
        }
        Ok(s) => return fail(&format_args!("ubus call dualwan status: {} (status {s})", status_name(s))),
        Err(e) => return fail(&e),
    }
    for data in &replies {
        if let Err(e) = blob::check_table(data) {
            return fail(&format_args!("ubus: malformed status reply ({e})"));
        }
        let mut text = String::new();
        if json {
            let _ = blob_json::write_table(data, true, &mut text);
            text.push('\n');
        } else {
            let _ = summary::write_summary(data, &mut text);
        }
        print!("{text}");
    }
    ExitCode::SUCCESS
}
