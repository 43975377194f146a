//! The real OpenWrt `ubusd` and `ubus` command (static builds in `../shared/owrt`) for the
//! tests, so the daemon meets in a test the ubusd it meets on a router.
//!
//! ```ignore
//! let Some(mut ubusd) = Ubusd::start(dir.join("ubus.sock")) else { return }; // skipped without ../shared
//! let events = ubusd.listen(&["dualwan.interface", "dualwan.active"]);      // `ubus listen ...`
//! assert!(ubusd.wait_for(&["dualwan"], 3));                                  // `ubus -t 3 wait_for dualwan`
//! let out = ubusd.call("dualwan", "status", Some(r#"{"interface":"wan"}"#));   // exit codes as the CLI's
//! ubusd.kill();                                                              // a crash: the socket file stays
//! ubusd.restart();                                                           // procd's respawn, same path
//! ```
//!
//! How ubusd runs: in a private mount namespace (`unshare -m`; as a normal user `unshare
//! -rm`, where every client of the same user is root to ubusd) in which `/run` is an empty
//! tmpfs, because ubusd always creates `/var/run/ubus` whatever `-s` says, and `/dev/kmsg`
//! is `/dev/null`, because ubusd logs refused clients to the kernel log. With
//! [`Options::users`] that namespace also sees a passwd and group file of the test's
//! instead of the host's (ubusd resolves every client's uid and gid, and the users an ACL
//! names, through them): the host's `/etc` is never touched.
#![allow(dead_code)]

use super::lab::is_root;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How ubusd is started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-A DIR`: the ACL files (each root-owned and not group/world-writable, or ubusd
    /// skips it). Without it ubusd looks in `/usr/share/acl.d`, which a test host lacks.
    pub acl_dir: Option<PathBuf>,
    /// The lines of the passwd and group files ubusd sees (the host's when `None`). They
    /// must name every uid and gid that connects, root included.
    pub users: Option<(String, String)>,
}

/// The real `ubusd` (and its `ubus` command) on one socket path. Stops when dropped.
pub struct Ubusd {
    program: PathBuf,
    cli: PathBuf,
    sock: PathBuf,
    options: Options,
    child: Option<Child>,
    /// ubusd processes started so far.
    starts: u32,
}

/// The programs, or why they are missing.
fn programs() -> Result<(PathBuf, PathBuf), String> {
    let Some(dir) = super::skip::owrt_dir() else {
        return Err("needs the real OpenWrt 'ubusd' from ../shared/owrt, which this checkout does not have".into());
    };
    let (program, cli) = (dir.join("ubusd"), dir.join("ubus"));
    for p in [&program, &cli] {
        if !p.is_file() {
            return Err(format!("needs {}, which is missing", p.display()));
        }
    }
    Ok((program, cli))
}

impl Ubusd {
    /// ubusd listening on `sock`, or `None` after [`super::skip::skip`] when
    /// `../shared/owrt` is missing.
    pub fn start(sock: impl AsRef<Path>) -> Option<Ubusd> {
        Ubusd::start_with(sock, Options::default())
    }

    /// The same with ACLs and users.
    pub fn start_with(sock: impl AsRef<Path>, options: Options) -> Option<Ubusd> {
        match Ubusd::start_if_present(sock, options) {
            Ok(ubusd) => Some(ubusd),
            Err(reason) => {
                super::skip::skip(reason);
                None
            }
        }
    }

    /// For tests that use a ubusd only on the side: the reason instead of a skip, so the
    /// test can go on with its main work and say what it left out.
    pub fn start_if_present(sock: impl AsRef<Path>, options: Options) -> Result<Ubusd, String> {
        let (program, cli) = programs()?;
        assert!(
            options.users.is_none() || is_root(),
            "a passwd of the test's own for ubusd needs root (bind mounts over /etc in a mount namespace)"
        );
        let mut ubusd = Ubusd { program, cli, sock: sock.as_ref().to_path_buf(), options, child: None, starts: 0 };
        ubusd.launch();
        Ok(ubusd)
    }

    /// The socket path.
    pub fn sock(&self) -> &Path {
        &self.sock
    }

    /// ubusd processes started so far (1 + restarts).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The pid of the running ubusd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn dir(&self) -> &Path {
        self.sock.parent().expect("the socket path has a directory")
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "ubusd is already running on {}", self.sock.display());
        // Clients running as other users (a daemon as `dualwan`) must reach the socket.
        let dir = self.dir().to_path_buf();
        let _ = std::fs::create_dir_all(&dir);
        let mut script = String::from("set -e\n");
        // Mount /run over only when the socket is elsewhere.
        if !self.sock.starts_with("/run") && !self.sock.starts_with("/var/run") {
            script += "mount -t tmpfs -o mode=755 tmpfs /run\n";
        }
        script += "if [ -e /dev/kmsg ]; then mount --bind /dev/null /dev/kmsg; fi\n";
        if let Some((passwd, group)) = &self.options.users {
            let (p, g) = (dir.join("ubusd.passwd"), dir.join("ubusd.group"));
            std::fs::write(&p, passwd).expect("write ubusd's passwd");
            std::fs::write(&g, group).expect("write ubusd's group");
            script +=
                &format!("mount --bind '{}' /etc/passwd\nmount --bind '{}' /etc/group\n", p.display(), g.display());
        }
        script += "exec \"$@\"\n";
        let mut cmd = Command::new("unshare");
        cmd.arg(if is_root() { "-m" } else { "-rm" }).args(["--propagation", "private", "--", "sh", "-c", &script]);
        cmd.arg("ubusd").arg(&self.program).arg("-s").arg(&self.sock);
        if let Some(acl) = &self.options.acl_dir {
            cmd.arg("-A").arg(acl);
        }
        let err = dir.join(format!("ubusd-{}.stderr", self.starts));
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(&err).expect("ubusd's stderr file"));
        let mut child = cmd.spawn().expect("spawn unshare (util-linux) for ubusd");
        self.starts += 1;
        // `unshare` and `sh` exec: the child is ubusd itself. Ready once it accepts (a
        // socket file a killed ubusd left behind refuses).
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&err).unwrap_or_default();
                panic!("ubusd on {} exited at start ({status}): {text}", self.sock.display());
            }
            if UnixStream::connect(&self.sock).is_ok() {
                break;
            }
            assert!(Instant::now() < end, "ubusd did not listen on {} within 5 s", self.sock.display());
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child = Some(child);
    }

    fn signal(&mut self, signal: Signal) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, as procd stops it: clients see EOF and ubusd removes its socket file.
    /// Returns its exit status (`None` if it was not running).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM)
    }

    /// SIGKILL, as a crash: clients see EOF, the socket file stays (and refuses).
    pub fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
    }

    /// Stops it if it runs, and starts a new ubusd on the same path (no clients, no
    /// objects, new ids).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// `ubus -s SOCK ARGS` (stderr is not a tty: a failed call exits 256 - status).
    pub fn ubus(&self, args: &[&str]) -> Output {
        Command::new(&self.cli).arg("-s").arg(&self.sock).args(args).stdin(Stdio::null()).output().expect("run ubus")
    }

    /// `ubus call OBJECT METHOD [ARGS]`.
    pub fn call(&self, object: &str, method: &str, args: Option<&str>) -> Output {
        let mut all = vec!["call", object, method];
        all.extend(args);
        self.ubus(&all)
    }

    /// `ubus call OBJECT METHOD [ARGS]` that must exit 0: its stdout, and it parsed.
    pub fn call_json(&self, object: &str, method: &str, args: Option<&str>) -> (String, Value) {
        let out = self.call(object, method, args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ubus call {object} {method} {args:?}: {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("ubus call {object} {method}: {e}: {text}"));
        (text, value)
    }

    /// `ubus -t SECS wait_for OBJECTS...`: true once all are registered, false on timeout
    /// (exit 7) or when ubusd cannot be reached.
    pub fn wait_for(&self, objects: &[&str], secs: u32) -> bool {
        let t = secs.to_string();
        let mut args = vec!["-t", &t, "wait_for"];
        args.extend_from_slice(objects);
        self.ubus(&args).status.success()
    }

    /// `ubus listen PATTERNS...` in the background, returned once it hears events: it
    /// sends marker events (`{"listener_check": N}`, named after the first pattern) until
    /// one arrives. [`Listener::events`] leaves them out.
    pub fn listen(&self, patterns: &[&str]) -> Listener {
        assert!(!patterns.is_empty());
        let n = LISTENERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.dir().join(format!("ubus-listen-{}-{n}.stdout", std::process::id()));
        let err = out.with_extension("stderr");
        let child = Command::new(&self.cli)
            .arg("-s")
            .arg(&self.sock)
            .arg("listen")
            .args(patterns)
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("listener's stdout file"))
            .stderr(File::create(&err).expect("listener's stderr file"))
            .spawn()
            .expect("run ubus listen");
        let mut listener = Listener { child, out, err };
        let name = match patterns[0].strip_suffix('*') {
            Some(prefix) => format!("{prefix}listener-check"),
            None => patterns[0].to_string(),
        };
        let end = Instant::now() + Duration::from_secs(5);
        for k in 0u32.. {
            let data = format!("{{\"listener_check\":{k}}}");
            let sent = self.ubus(&["send", &name, &data]);
            assert!(sent.status.success(), "ubus send {name}: {}", String::from_utf8_lossy(&sent.stderr));
            std::thread::sleep(Duration::from_millis(30));
            if listener.all().iter().any(|(_, v)| v.get("listener_check").is_some()) {
                break;
            }
            if let Ok(Some(status)) = listener.child.try_wait() {
                panic!("ubus listen {patterns:?} exited ({status}): {}", listener.stderr());
            }
            assert!(Instant::now() < end, "ubus listen {patterns:?} heard nothing within 5 s");
        }
        listener
    }
}

impl Drop for Ubusd {
    fn drop(&mut self) {
        self.stop();
    }
}

static LISTENERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running `ubus listen`. Killed when dropped. It does not end when its ubusd goes away
/// (it stays, deaf): listen again on a restarted ubusd.
pub struct Listener {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Listener {
    /// Every complete line so far as (event name, data), markers included.
    fn all(&self) -> Vec<(String, Value)> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("ubus listen line {line:?}: {e}"));
                let (name, data) = v.as_object().and_then(|o| o.iter().next()).expect("{ \"NAME\": DATA }");
                (name.clone(), data.clone())
            })
            .collect()
    }

    /// Every event heard so far, oldest first (markers left out).
    pub fn events(&self) -> Vec<(String, Value)> {
        self.all().into_iter().filter(|(_, v)| v.get("listener_check").is_none()).collect()
    }

    /// The data of the events named `name`, oldest first.
    pub fn named(&self, name: &str) -> Vec<Value> {
        self.events().into_iter().filter(|(n, _)| n == name).map(|(_, v)| v).collect()
    }

    /// Waits up to `timeout` for an event named `name` whose data `wanted` accepts, the
    /// first such event heard.
    pub fn wait_for(&self, name: &str, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = self.named(name).into_iter().find(|v| wanted(v)) {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What it wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(&self.err);
    }
}
