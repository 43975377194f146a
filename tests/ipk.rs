//! The .ipk of `cross/ipk.sh`, unpacked and checked against OpenWrt's format (what
//! `scripts/ipkg-build` writes): a gzip'd tar of `./debian-binary`, `./data.tar.gz` and
//! `./control.tar.gz` in that order, numeric owners 0/0, sorted names, one fixed mtime,
//! byte-identical when built twice; the control fields, conffiles, maintainer scripts
//! and every installed file. Also the init script's procd calls (run against stubs) and
//! the feed Makefile's conventions.
//!
//! The package is built here from the x86_64 musl binary (`cross/build.sh
//! x86_64-unknown-linux-musl`, which `make test` runs first); without it the package
//! tests are skipped with a line saying so. Needs `tar` and `gzip`. With the real opkg
//! (`../shared/owrt/opkg`; skipped without it) the .ipk is installed into an offline root
//! and removed again.

mod common;

use common::files::{feed_var, read, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TARGET: &str = "x86_64-unknown-linux-musl";

fn root() -> &'static Path {
    Path::new(ROOT)
}

/// One entry of a tar archive.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    kind: u8,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let s: String = field.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
    let s = s.trim();
    if s.is_empty() {
        0
    } else {
        u64::from_str_radix(s, 8).unwrap_or_else(|_| panic!("bad octal field {s:?}"))
    }
}

/// Parses an uncompressed tar (GNU or ustar headers, short names only), in order.
fn untar(bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 512 <= bytes.len() {
        let h = &bytes[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let stored: u64 = octal(&h[148..156]);
        let sum: u64 =
            h.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
        assert_eq!(stored, sum, "tar header checksum at {at}");
        let kind = h[156];
        assert!(kind != b'L' && kind != b'K', "long names are not expected in our packages");
        assert!(&h[257..262] == b"ustar", "not a ustar/GNU header at {at}");
        let name: String = h[..100].iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
        let size = octal(&h[124..136]) as usize;
        let data = bytes[at + 512..at + 512 + size].to_vec();
        entries.push(Entry {
            name,
            mode: octal(&h[100..108]) as u32,
            uid: octal(&h[108..116]),
            gid: octal(&h[116..124]),
            mtime: octal(&h[136..148]),
            kind,
            data,
        });
        at += 512 + size.div_ceil(512) * 512;
    }
    entries
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "not gzip");
    // gzip -n: no name, no time (bytes 4..8 are MTIME).
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip header carries a time");
    assert_eq!(bytes[3] & 0x08, 0, "gzip header carries a file name");
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip (apt-get install gzip)");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}

fn version() -> String {
    format!("{}-r{}", env!("CARGO_PKG_VERSION"), feed_var("PKG_RELEASE"))
}

/// Builds the x86_64 .ipk into `dist` with cross/ipk.sh; `None` (after a skip line)
/// without the cross binary.
fn build_ipk(dist: &Path) -> Option<PathBuf> {
    let bin = root().join("target").join(TARGET).join("release/dualwan");
    if !bin.exists() {
        common::skip::skip(format_args!("no {} (cross/build.sh {TARGET}; make test builds it)", bin.display()));
        return None;
    }
    let out = Command::new("bash")
        .arg(root().join("cross/ipk.sh"))
        .arg(TARGET)
        .env("DIST", dist)
        .output()
        .expect("run cross/ipk.sh");
    assert!(out.status.success(), "cross/ipk.sh: {}", String::from_utf8_lossy(&out.stderr));
    let ipk = dist.join(format!("dualwan_{}_x86_64.ipk", version()));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ipk.to_string_lossy(), "ipk.sh prints the package path");
    Some(ipk)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dualwan-ipk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn control_fields(control: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in control.lines() {
        if let Some(cont) = line.strip_prefix(' ') {
            let last = fields.last_mut().expect("continuation line first");
            last.1.push('\n');
            last.1.push_str(cont);
        } else {
            let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("bad control line {line:?}"));
            fields.push((k.to_string(), v.trim_start().to_string()));
        }
    }
    fields
}

#[test]
fn ipk_is_in_openwrt_format_reproducible_and_complete() {
    let a = temp_dir("a");
    let Some(ipk) = build_ipk(&a) else {
        let _ = std::fs::remove_dir_all(&a);
        return;
    };
    let bytes = read(&ipk);

    // Reproducible: a second build gives the same bytes.
    let b = temp_dir("b");
    let again = read(build_ipk(&b).unwrap());
    assert!(bytes == again, "two builds of the .ipk differ");

    // The outer archive: a gzip'd tar (not `ar`), three members in ipkg-build's order.
    assert_ne!(&bytes[..7], b"!<arch>", "an ar archive, as Debian's; OpenWrt's is a tar.gz");
    let outer = untar(&gunzip(&bytes));
    let names: Vec<&str> = outer.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
    assert_eq!(outer[0].data, b"2.0\n");

    let control_entries = untar(&gunzip(&outer[2].data));
    let control_files: BTreeMap<&str, &Entry> = control_entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let control = String::from_utf8(control_files["./control"].data.clone()).unwrap();
    let fields = control_fields(&control);
    let field = |k: &str| -> &str {
        fields.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {k}"))
    };
    let epoch: u64 = field("SourceDateEpoch").parse().expect("SourceDateEpoch is a number");

    let data_tar = gunzip(&outer[1].data);
    let data = untar(&data_tar);
    // Owners, mtime, order for all three archives.
    for (what, entries) in [("outer", &outer), ("control", &control_entries), ("data", &data)] {
        for e in entries.iter() {
            assert_eq!((e.uid, e.gid), (0, 0), "{what}: {} is not owned by 0/0", e.name);
            assert_eq!(e.mtime, epoch, "{what}: {} mtime is not SourceDateEpoch", e.name);
        }
        if what != "outer" {
            let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "{what}: names are not sorted");
            assert_eq!(names[0], "./", "{what}: the archive is not rooted at ./");
        }
    }

    // Control fields, in package-pack.mk's order.
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "Package",
            "Version",
            "Depends",
            "Source",
            "SourceName",
            "License",
            "Section",
            "Require-User",
            "SourceDateEpoch",
            "URL",
            "Maintainer",
            "Architecture",
            "Installed-Size",
            "Description"
        ]
    );
    assert_eq!(field("Package"), "dualwan");
    assert_eq!(field("Version"), version());
    assert_eq!(field("Depends"), "libc, kmod-nf-conntrack-netlink", "ctnetlink for the per-WAN conntrack flush");
    assert_eq!(field("SourceName"), "dualwan");
    assert_eq!(field("License"), env!("CARGO_PKG_LICENSE"));
    assert_eq!(field("Section"), "net");
    assert_eq!(field("Require-User"), "dualwan:dualwan");
    assert_eq!(field("Maintainer"), feed_var("PKG_MAINTAINER"));
    assert_eq!(field("URL"), feed_var("URL"));
    assert_eq!(field("Architecture"), "x86_64");
    assert_eq!(field("Installed-Size"), data_tar.len().to_string(), "Installed-Size is the data tar's size");
    assert!(field("Description").contains("failover") || field("Description").contains("backup"));
    assert!(control.contains("\nDescription:  Probes"), "description as package-pack.mk writes it:\n{control}");

    // conffiles and the maintainer scripts: OpenWrt's defaults and nothing else.
    let mut control_names: Vec<&str> = control_files.keys().copied().collect();
    control_names.sort();
    assert_eq!(control_names, ["./", "./conffiles", "./control", "./postinst", "./prerm"]);
    assert_eq!(control_files["./conffiles"].data, b"/etc/config/dualwan\n");
    let postinst = String::from_utf8(control_files["./postinst"].data.clone()).unwrap();
    let prerm = String::from_utf8(control_files["./prerm"].data.clone()).unwrap();
    assert!(postinst.starts_with("#!/bin/sh\n") && postinst.ends_with("default_postinst $0 $@\n"), "{postinst}");
    assert!(prerm.starts_with("#!/bin/sh\n") && prerm.ends_with("default_prerm $0 $@\n"), "{prerm}");
    for script in [&postinst, &prerm] {
        assert!(script.contains(". ${IPKG_INSTROOT}/lib/functions.sh\n"), "{script}");
        // Enabling and starting is default_postinst's job (and not on upgrade).
        assert!(!script.contains("/etc/init.d/") && !script.contains("enable"), "own service handling:\n{script}");
    }
    for name in ["./postinst", "./prerm"] {
        assert_eq!(control_files[name].mode, 0o755, "{name} mode");
    }
    assert_eq!(control_files["./control"].mode, 0o644);

    // The files on the router.
    let files: BTreeMap<&str, &Entry> = data.iter().map(|e| (e.name.as_str(), e)).collect();
    let expected = [
        ("./", 0o755, b'5'),
        ("./etc/", 0o755, b'5'),
        ("./etc/capabilities/", 0o755, b'5'),
        ("./etc/capabilities/dualwan.json", 0o644, b'0'),
        ("./etc/config/", 0o755, b'5'),
        ("./etc/config/dualwan", 0o600, b'0'),
        ("./etc/hotplug.d/", 0o755, b'5'),
        ("./etc/hotplug.d/dualwan/", 0o755, b'5'),
        ("./etc/hotplug.d/dualwan/README", 0o644, b'0'),
        ("./etc/init.d/", 0o755, b'5'),
        ("./etc/init.d/dualwan", 0o755, b'0'),
        ("./usr/", 0o755, b'5'),
        ("./usr/sbin/", 0o755, b'5'),
        ("./usr/sbin/dualwan", 0o755, b'0'),
        ("./usr/share/", 0o755, b'5'),
        ("./usr/share/acl.d/", 0o755, b'5'),
        ("./usr/share/acl.d/dualwan.json", 0o644, b'0'),
    ];
    let got: Vec<(&str, u32, u8)> = data.iter().map(|e| (e.name.as_str(), e.mode, e.kind)).collect();
    assert_eq!(got, expected);

    let same = |name: &str, source: &str| {
        assert!(files[name].data == read(root().join(source)), "{name} differs from {source}");
    };
    same("./usr/sbin/dualwan", &format!("target/{TARGET}/release/dualwan"));
    same("./etc/init.d/dualwan", "openwrt/files/dualwan.init");
    same("./etc/config/dualwan", "openwrt/files/dualwan.config");
    same("./etc/capabilities/dualwan.json", "openwrt/files/dualwan.capabilities.json");
    same("./usr/share/acl.d/dualwan.json", "openwrt/files/dualwan.acl.json");
    same("./etc/hotplug.d/dualwan/README", "openwrt/files/hotplug.README");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn capabilities_and_ubus_acl_grant_only_what_the_daemon_needs() {
    let caps: serde_json::Value =
        serde_json::from_slice(&read(root().join("openwrt/files/dualwan.capabilities.json"))).unwrap();
    let obj = caps.as_object().unwrap();
    let sets: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(sets, ["bounding", "effective", "ambient", "permitted", "inheritable"]);
    for (set, caps) in obj {
        assert_eq!(caps, &serde_json::json!(["CAP_NET_ADMIN", "CAP_NET_RAW"]), "{set}");
    }

    let acl: serde_json::Value = serde_json::from_slice(&read(root().join("openwrt/files/dualwan.acl.json"))).unwrap();
    assert_eq!(acl["user"], "dualwan");
    assert_eq!(acl["publish"], serde_json::json!(["dualwan"]), "registers the ubus object `dualwan`");
    assert_eq!(acl["send"], serde_json::json!(["dualwan.*"]), "sends dualwan.interface and dualwan.active");
    // `option network`: netifd's events and its `status`, nothing else of netifd
    // (netifd_netns runs the daemon as `dualwan` under this ACL on the real ubusd).
    assert_eq!(acl["listen"], serde_json::json!(["network.interface"]), "hears netifd's ifup/ifdown");
    let access = serde_json::json!({"network.interface.*": {"methods": ["status"]}});
    assert_eq!(acl["access"], access, "asks netifd, may not call its other methods");
    let keys: Vec<&str> = acl.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["user", "publish", "send", "listen", "access"]);
}

#[test]
fn hotplug_readme_does_nothing_when_sourced_and_its_example_is_valid_shell() {
    let readme = text(root().join("openwrt/files/hotplug.README"));
    // dualwan sources every file in /etc/hotplug.d/dualwan/, this one too.
    for line in readme.lines() {
        assert!(line.is_empty() || line.starts_with('#'), "not a comment: {line:?}");
    }
    let example: String = readme
        .lines()
        .filter_map(|l| l.strip_prefix("#>"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l).to_string() + "\n")
        .collect();
    assert!(example.contains("$ACTION") && example.contains("$INTERFACE") && example.contains("$DEVICE"));
    let mut sh = Command::new("sh").arg("-n").stdin(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        sh.stdin.take().unwrap().write_all(example.as_bytes()).unwrap();
    }
    assert!(sh.wait().unwrap().success(), "the example is not valid sh:\n{example}");
}

/// Runs the init script's start_service and service_triggers with procd's and UCI's
/// functions stubbed to print their arguments; `user` is the config's `option user`.
fn init_calls(user: &str) -> String {
    let stubs = format!(
        r#"
config_load() {{ echo "config_load $*"; }}
config_get() {{ eval "$1='{user}'"; }}
procd_open_instance() {{ echo "procd_open_instance $*"; }}
procd_close_instance() {{ echo "procd_close_instance"; }}
procd_set_param() {{ echo "procd_set_param $*"; }}
procd_add_jail() {{ echo "procd_add_jail $*"; }}
procd_add_reload_trigger() {{ echo "procd_add_reload_trigger $*"; }}
logger() {{ echo "logger $*"; }}
. "$1"
running_field() {{ return 1; }}
ubus_acl_ensure() {{ echo "ubus_acl_ensure $*"; }}
start_service
service_triggers
"#
    );
    let out = Command::new("sh")
        .args(["-c", &stubs, "sh"])
        .arg(root().join("openwrt/files/dualwan.init"))
        .output()
        .expect("run sh");
    assert!(out.status.success(), "init script: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn init_script_runs_the_daemon_under_procd_and_reloads_with_sighup() {
    let init = text(root().join("openwrt/files/dualwan.init"));
    assert!(init.starts_with("#!/bin/sh /etc/rc.common\n"));
    assert!(init.contains("\nUSE_PROCD=1\n"));
    let calls = init_calls("");
    let expected = "config_load dualwan\n\
        procd_open_instance \n\
        procd_set_param command /usr/sbin/dualwan run -c /etc/config/dualwan --log syslog\n\
        procd_set_param file /etc/config/dualwan\n\
        procd_set_param reload_signal HUP\n\
        procd_set_param respawn\n\
        procd_set_param stdout 1\n\
        procd_set_param stderr 1\n\
        procd_close_instance\n\
        procd_add_reload_trigger dualwan\n";
    assert_eq!(calls, expected);

    // `option user` without procd-ujail (this host has no /sbin/ujail): a warning in
    // the log, and root as before.
    if !Path::new("/sbin/ujail").exists() {
        let calls = init_calls("dualwan");
        assert!(calls.contains("logger -t dualwan -p daemon.warn option user 'dualwan' needs procd-ujail"), "{calls}");
        assert!(!calls.contains("procd_set_param user"), "{calls}");
    }
    // With ujail and the user present, the jail with only the two capabilities.
    assert!(init.contains(
        "\t\tprocd_add_jail dualwan\n\
         \t\tprocd_set_param user \"$run_as\"\n\
         \t\tprocd_set_param capabilities /etc/capabilities/dualwan.json\n\
         \t\tprocd_set_param no_new_privs 1\n"
    ));
}

#[test]
fn feed_makefile_follows_openwrt_packages_conventions() {
    let makefile = text(root().join("openwrt/net/dualwan/Makefile"));
    assert_eq!(feed_var("PKG_VERSION"), env!("CARGO_PKG_VERSION"), "PKG_VERSION is the crate's version");
    let release = feed_var("PKG_RELEASE");
    assert!(!release.is_empty() && release.bytes().all(|b| b.is_ascii_digit()), "PKG_RELEASE {release:?}");
    assert_eq!(feed_var("PKG_LICENSE"), env!("CARGO_PKG_LICENSE"));
    for line in [
        "include $(TOPDIR)/rules.mk",
        "PKG_BUILD_DEPENDS:=rust/host",
        "include $(INCLUDE_DIR)/package.mk",
        "include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk",
        "  DEPENDS:=$(RUST_ARCH_DEPENDS) +kmod-nf-conntrack-netlink",
        "define Package/dualwan/conffiles\n/etc/config/dualwan\nendef",
        "$(INSTALL_BIN) $(PKG_INSTALL_DIR)/bin/dualwan $(1)/usr/sbin/dualwan",
        "$(eval $(call BuildPackage,dualwan))",
    ] {
        assert!(makefile.contains(line), "feed Makefile lacks {line:?}");
    }
    // Every file it installs from openwrt/files exists (one copy, shared with make ipk).
    for l in makefile.lines().filter(|l| l.contains("$(DUALWAN_FILES)/")) {
        let name = l.split("$(DUALWAN_FILES)/").nth(1).unwrap().split_whitespace().next().unwrap();
        assert!(root().join("openwrt/files").join(name).exists(), "openwrt/files/{name} missing");
    }
}

#[test]
fn luci_app_ipk_holds_exactly_the_staged_files_and_is_reproducible() {
    let dist = temp_dir("luci");
    let build = || {
        let out = Command::new("bash")
            .arg(root().join("cross/ipk.sh"))
            .arg("luci")
            .env("DIST", &dist)
            .output()
            .expect("run cross/ipk.sh luci");
        assert!(out.status.success(), "cross/ipk.sh luci: {}", String::from_utf8_lossy(&out.stderr));
        let ipk = dist.join(format!("luci-app-dualwan_{}_all.ipk", env!("CARGO_PKG_VERSION")));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ipk.to_string_lossy());
        read(&ipk)
    };
    let first = build();
    assert_eq!(first, build(), "two builds differ");
    let outer = untar(&gunzip(&first));
    let names: Vec<&str> = outer.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
    let data = untar(&gunzip(&outer[1].data));
    let mut files: Vec<String> =
        data.iter().filter(|e| e.kind == b'0').map(|e| e.name.trim_start_matches('.').to_string()).collect();
    files.sort();
    let mut listed: Vec<String> = text(root().join("openwrt/luci-app-dualwan/ipk-files.txt"))
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(files, listed);
    assert!(data.iter().all(|e| e.uid == 0 && e.gid == 0), "numeric root owners");
    let control = untar(&gunzip(&outer[2].data));
    let control_file = control.iter().find(|e| e.name == "./control").expect("control");
    let fields = control_fields(&String::from_utf8_lossy(&control_file.data));
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Package"), Some("luci-app-dualwan"));
    assert_eq!(get("Architecture"), Some("all"));
    assert_eq!(get("Version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(get("Depends").is_some_and(|d| d.contains("dualwan") && d.contains("luci-base")));
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn real_opkg_installs_the_ipk_into_an_offline_root_and_removes_it() {
    let Some(opkg) = common::skip::owrt_program("opkg") else { return };
    let dist = temp_dir("opkg-dist");
    let Some(ipk) = build_ipk(&dist) else {
        let _ = std::fs::remove_dir_all(&dist);
        return;
    };
    let data = untar(&gunzip(&untar(&gunzip(&read(&ipk)))[1].data));

    // An empty offline root whose opkg database says libc and the kmod are installed.
    let r = temp_dir("opkg-root");
    for d in ["etc", "usr/lib/opkg/info", "var/lock"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let conf = r.join("etc/opkg.conf");
    std::fs::write(&conf, "dest root /\nlists_dir ext /var/opkg-lists\narch all 1\narch noarch 1\narch x86_64 10\n")
        .unwrap();
    let mut status = String::new();
    for p in ["libc", "kmod-nf-conntrack-netlink"] {
        status += &format!("Package: {p}\nVersion: 0\nStatus: install user installed\nArchitecture: x86_64\n\n");
        std::fs::write(r.join(format!("usr/lib/opkg/info/{p}.list")), "").unwrap();
    }
    std::fs::write(r.join("usr/lib/opkg/status"), status).unwrap();
    let run = |args: &[&str]| {
        let out =
            Command::new(&opkg).arg("--offline-root").arg(&r).arg("--conf").arg(&conf).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };

    // Install: every file of data.tar.gz lands with its mode; the conffile is recorded
    // with its sha256; the maintainer scripts are kept (opkg runs none offline).
    let (ok, out) = run(&["install", ipk.to_str().unwrap()]);
    common::skip::progress(format_args!("opkg install: {}", out.trim()));
    assert!(ok && out.contains(&format!("Installing dualwan ({}) to root", version())), "{out}");
    let (ok, installed) = run(&["list-installed"]);
    assert!(ok && installed.contains(&format!("dualwan - {}\n", version())), "{installed}");
    for e in data.iter().filter(|e| e.kind == b'0') {
        let path = r.join(e.name.trim_start_matches("./"));
        assert!(read(&path) == e.data, "{} differs on disk", e.name);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777, e.mode, "{} mode", e.name);
    }
    let config = r.join("etc/config/dualwan");
    let sum = Command::new("sha256sum").arg(&config).output().unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    let status = text(r.join("usr/lib/opkg/status"));
    assert!(status.contains(&format!("Conffiles:\n /etc/config/dualwan {sum}\n")), "{status}");
    for f in ["postinst", "prerm", "list", "control"] {
        assert!(r.join(format!("usr/lib/opkg/info/dualwan.{f}")).exists(), "no info/dualwan.{f}");
    }

    // Remove after editing the config: the package goes, the edited config stays.
    let mut edited = read(&config);
    edited.extend_from_slice(b"# edited on the router\n");
    std::fs::write(&config, &edited).unwrap();
    let (ok, out) = run(&["remove", "dualwan"]);
    common::skip::progress(format_args!("opkg remove: {}", out.trim()));
    assert!(ok && out.contains("Not deleting modified conffile"), "{out}");
    assert!(!r.join("usr/sbin/dualwan").exists() && !r.join("etc/init.d/dualwan").exists());
    assert!(read(&config) == edited, "opkg remove deleted the edited config");
    let (_, installed) = run(&["list-installed"]);
    assert!(!installed.contains("dualwan"), "{installed}");
    let _ = std::fs::remove_dir_all(&r);
    let _ = std::fs::remove_dir_all(&dist);
}
