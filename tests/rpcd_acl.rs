//! The LuCI app's ACL (`openwrt/luci-app-dualwan/root/usr/share/rpcd/acl.d/luci-app-dualwan.json`)
//! checked by the real rpcd (`../shared/owrt`), on the real ubusd with the daemon
//! registered: ubusd and rpcd run chrooted in a private root (`unshare -rm`, as
//! `../shared/owrt/README.md` shows), `dualwan run` in the lab's `rtr` namespace registers
//! on that ubusd's socket. A login whose rpcd config grants `luci-app-dualwan` may call
//! `dualwan status` and `dualwan probe` (rpcd's `session access` says so, which is what
//! LuCI's ubus gateway asks before every call, and the calls work on that ubusd) and may
//! read and write the `dualwan` config through rpcd's `uci`; a login granted only another
//! ACL group is denied both. Skipped without `../shared/owrt`; needs root for the lab
//! (`DUALWAN_SKIP_NETNS=1` skips it).

mod common;

use common::config::Config;
use common::daemon::{wait_up, BIN};
use common::lab::{lab_or_skip, wait_until, Lab};
use common::skip::owrt_program;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// md5-crypt of "secret" with salt "abcdefgh" (`openssl passwd -1 -salt abcdefgh secret`):
/// what rpcd compares a login's password with.
const SECRET_HASH: &str = "$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1";

/// Two logins: `admin` holds the app's ACL, `guest` only another group's.
const RPCD_CONFIG: &str = "config login
	option username 'admin'
	option password 'HASH'
	list read 'luci-app-dualwan'
	list write 'luci-app-dualwan'

config login
	option username 'guest'
	option password 'HASH'
	list read 'other-app'
	list write 'other-app'
";

/// The other group: something of its own, nothing of dualwan's.
const OTHER_ACL: &str = r#"{
	"other-app": {
		"description": "Another app",
		"read": { "ubus": { "session": [ "list" ] }, "uci": [ "system" ] },
		"write": { "uci": [ "system" ] }
	}
}
"#;

/// The `dualwan` config rpcd's `uci` reads and writes (not the daemon's own).
const UCI_DUALWAN: &str = "
config globals 'globals'
	option log_level 'notice'

config interface 'wan'
	option device 'wan1'
	list track_ip '203.0.113.1'
";

/// ubusd and rpcd chrooted in a private root; killed on drop.
struct Chroot {
    root: PathBuf,
    ubus: PathBuf,
    children: Vec<Child>,
}

impl Chroot {
    fn sock(&self) -> PathBuf {
        self.root.join("var/run/ubus.sock")
    }

    /// `unshare -rm`: a mount namespace (for /dev/urandom) as uid 0, then `chroot ROOT PROGRAM`.
    fn spawn(&mut self, program: &str) {
        let script = r#"mount --bind /dev/urandom "$0/dev/urandom" && exec chroot "$0" "$1" -s /var/run/ubus.sock"#;
        let child = Command::new("unshare")
            .args(["-rm", "sh", "-c", script])
            .arg(&self.root)
            .arg(program)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run unshare");
        self.children.push(child);
    }

    /// `ubus -s SOCK ARGS`.
    fn ubus(&self, args: &[&str]) -> Output {
        Command::new(&self.ubus).arg("-s").arg(self.sock()).args(args).stdin(Stdio::null()).output().expect("ubus")
    }

    /// `ubus call OBJECT METHOD ARGS`: (exit code, stdout parsed or Null, first stderr line).
    fn call(&self, object: &str, method: &str, args: &Value) -> (Option<i32>, Value, String) {
        let out = self.ubus(&["call", object, method, &args.to_string()]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let err = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default().to_string();
        (out.status.code(), v, err)
    }

    /// Logs `username` in: its session id.
    fn login(&self, username: &str) -> String {
        let (code, v, err) = self.call("session", "login", &json!({ "username": username, "password": "secret" }));
        assert_eq!(code, Some(0), "login {username}: {err}");
        v["ubus_rpc_session"].as_str().expect("a session id").to_string()
    }

    /// rpcd's answer to "may session `sid` call `object`.`function`" (LuCI's ubus gateway
    /// asks this before every call).
    fn may_call(&self, sid: &str, object: &str, function: &str) -> bool {
        let args = json!({ "ubus_rpc_session": sid, "scope": "ubus", "object": object, "function": function });
        let (code, v, err) = self.call("session", "access", &args);
        assert_eq!(code, Some(0), "session access: {err}");
        v["access"].as_bool().expect("access: a boolean")
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The private root: ubusd, rpcd, their configs and the app's ACL under test.
fn build_root(lab: &Lab, owrt: &Path) -> Chroot {
    let root = lab.dir().join("rpcd-root");
    for dir in ["sbin", "etc/config", "usr/share/rpcd/acl.d", "var/run", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for program in ["ubusd", "rpcd"] {
        std::fs::copy(owrt.join(program), root.join("sbin").join(program)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/config/rpcd"), RPCD_CONFIG.replace("HASH", SECRET_HASH)).unwrap();
    std::fs::write(root.join("etc/config/dualwan"), UCI_DUALWAN).unwrap();
    std::fs::write(root.join("etc/config/system"), "\nconfig system\n\toption hostname 'lab'\n").unwrap();
    let app = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openwrt/luci-app-dualwan/root/usr/share/rpcd/acl.d/luci-app-dualwan.json"
    );
    std::fs::copy(app, root.join("usr/share/rpcd/acl.d/luci-app-dualwan.json")).unwrap();
    std::fs::write(root.join("usr/share/rpcd/acl.d/other-app.json"), OTHER_ACL).unwrap();
    std::fs::write(root.join("dev/urandom"), "").unwrap();
    Chroot { root, ubus: owrt.join("ubus"), children: Vec::new() }
}

#[test]
fn the_luci_acl_grants_status_probe_and_the_config_and_nothing_to_others() {
    let (Some(_), Some(_), Some(_)) = (owrt_program("ubusd"), owrt_program("rpcd"), owrt_program("ubus")) else {
        return;
    };
    let Some(owrt) = common::skip::owrt_dir() else { return };
    let Some(lab) = lab_or_skip("rpcd") else { return };
    let mut chroot = build_root(&lab, &owrt);
    chroot.spawn("/sbin/ubusd");
    let sock = chroot.sock();
    assert!(wait_until(Duration::from_secs(5), || sock.exists()).is_some(), "ubusd did not start");
    chroot.spawn("/sbin/rpcd");
    let waited = chroot.ubus(&["-t", "5", "wait_for", "session", "uci"]);
    assert!(waited.status.success(), "rpcd did not register: {}", String::from_utf8_lossy(&waited.stderr));

    // The daemon, in the lab, on the chroot's ubusd.
    let cfg = Config::lab().write(&lab);
    let mut d =
        lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()]);
    wait_up(&lab, &d);
    let registered = chroot.ubus(&["-t", "5", "wait_for", "dualwan"]);
    assert!(registered.status.success(), "dualwan did not register:\n{}", lab.stderr_of(&d));

    // admin holds luci-app-dualwan: both methods, and the dualwan config read and written.
    let admin = chroot.login("admin");
    assert!(chroot.may_call(&admin, "dualwan", "status"));
    assert!(chroot.may_call(&admin, "dualwan", "probe"));
    assert!(!chroot.may_call(&admin, "dualwan", "reload"), "nothing beyond the two methods");
    let (code, status, err) = chroot.call("dualwan", "status", &json!({}));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(status["interfaces"]["wan"]["status"], "online");
    let (code, probe, err) = chroot.call("dualwan", "probe", &json!({ "interface": "wan" }));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(probe["interface"], "wan");
    assert_eq!(probe["probes"].as_array().map(Vec::len), Some(4), "three targets and the gateway: {probe}");

    let get = json!({ "ubus_rpc_session": admin, "config": "dualwan", "section": "globals", "option": "log_level" });
    let (code, v, err) = chroot.call("uci", "get", &get);
    assert_eq!((code, &v["value"]), (Some(0), &json!("notice")), "{err}");
    let set = json!({ "ubus_rpc_session": admin, "config": "dualwan", "section": "globals",
                      "values": { "log_level": "debug" } });
    let (code, _, err) = chroot.call("uci", "set", &set);
    assert_eq!(code, Some(0), "uci set: {err}");
    let (code, _, err) = chroot.call("uci", "commit", &json!({ "ubus_rpc_session": admin, "config": "dualwan" }));
    assert_eq!(code, Some(0), "uci commit: {err}");
    let written = std::fs::read_to_string(chroot.root.join("etc/config/dualwan")).unwrap();
    assert!(written.contains("option log_level 'debug'"), "{written}");

    // guest holds only other-app: rpcd denies the methods and the config.
    let guest = chroot.login("guest");
    assert!(!chroot.may_call(&guest, "dualwan", "status"));
    assert!(!chroot.may_call(&guest, "dualwan", "probe"));
    assert!(chroot.may_call(&guest, "session", "list"), "its own group works");
    let get = json!({ "ubus_rpc_session": guest, "config": "dualwan" });
    let (code, _, err) = chroot.call("uci", "get", &get);
    assert_eq!(code, Some(250), "uci get: PERMISSION_DENIED");
    assert!(err.ends_with("(Permission denied)"), "{err}");
    let set = json!({ "ubus_rpc_session": guest, "config": "dualwan", "section": "globals",
                      "values": { "log_level": "err" } });
    let (code, _, err) = chroot.call("uci", "set", &set);
    assert_eq!(code, Some(250), "uci set: PERMISSION_DENIED");
    assert!(err.ends_with("(Permission denied)"), "{err}");
    let after = std::fs::read_to_string(chroot.root.join("etc/config/dualwan")).unwrap();
    assert_eq!(after, written, "the guest changed nothing");
    assert!(lab.terminate(&mut d).success(), "{}", lab.stderr_of(&d));
}
