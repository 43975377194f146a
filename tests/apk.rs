//! The apk-tools 3 packages of `make apk` (OpenWrt 25.12): `cross/apk.sh` stages dualwan
//! and luci-app-dualwan as OpenWrt's package-pack.mk does, `cross/apk.py` packs them as
//! `apk mkpkg` does.
//!
//! Self-contained (tests/vectors/apk, copied from packages the real `apk mkpkg` made):
//! this file's own ADB reader, written from the format, renders every reference package
//! exactly as `apk adbdump` printed it; the packer, given the reference staging trees and
//! mkpkg's command lines, writes the same bytes (compared inflated); the dualwan package's
//! info fields, files, modes, sha256, conffiles and scripts, and luci-app-dualwan's; every
//! cross build packed with its OpenWrt arch; what the generated scripts do in an offline
//! root.
//!
//! With the real apk (`../shared/owrt/apk`; skipped without it): install into an empty
//! offline root with stub dependencies, `apk audit`, `apk adbdump`, upgrade to a higher
//! release keeping an edited config, removal, truncated packages refused,
//! luci-app-dualwan (noarch), every cross build's package in a root of its arch (and
//! refused by another), `apk mkpkg` on the same staged trees writing the same bytes,
//! and the scripts run by apk (chrooted in the root) enabling and starting the service on
//! install, starting it on upgrade, stopping and disabling it on removal.
//!
//! The dualwan package is built from the x86_64 musl binary (`cross/build.sh
//! x86_64-unknown-linux-musl`, which `make test` runs first); without it those tests skip.
//! Needs python3 (the packer, and zlib to inflate) and sha256sum.

#[path = "apk/adb.rs"]
mod adb;
mod common;

use adb::{adbdump, hex, Node, Package};
use common::files::{feed_var, read, text};
use common::skip::{progress, skip};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TARGET: &str = "x86_64-unknown-linux-musl";
/// Every mtime in the packages built here.
const EPOCH: &str = "1700000000";

fn root() -> &'static Path {
    Path::new(ROOT)
}

fn vectors() -> PathBuf {
    root().join("tests/vectors/apk")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dualwan-apk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o755);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` with `input` on stdin; its status and its stdout and stderr together.
fn run(cmd: &mut Command, input: &[u8]) -> (bool, String, Vec<u8>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out: Output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let both = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), both, out.stdout)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let (ok, all, out) = run(&mut Command::new("sha256sum"), bytes);
    assert!(ok, "sha256sum: {all}");
    String::from_utf8(out).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The inner file of an .apk: as is (`ADB.`), or inflated (`ADBd` + raw deflate, with
/// python3's zlib).
fn inflate(apk: &[u8]) -> Vec<u8> {
    match &apk[..4] {
        b"ADB." => apk.to_vec(),
        b"ADBd" => {
            let code = "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()[4:], -15))";
            let (ok, all, out) = run(Command::new("python3").args(["-c", code]), apk);
            assert!(ok, "inflate: {all}");
            out
        }
        other => panic!("not an apk v3 package: magic {other:?}"),
    }
}

/// Decodes a whole .apk, compressed or not.
fn decode(apk: &[u8]) -> Result<Package, String> {
    adb::decode(&inflate(apk))
}

// ---------------------------------------------------------------------------------------
// Building packages.

fn version(release: &str) -> String {
    format!("{}-r{release}", env!("CARGO_PKG_VERSION"))
}

/// Runs cross/apk.sh for `what` (a target or `luci`) into `dist`; the package's path.
fn build(what: &str, dist: &Path, env: &[(&str, &str)]) -> PathBuf {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("cross/apk.sh")).arg(what).env("DIST", dist).env("SOURCE_DATE_EPOCH", EPOCH);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (ok, all, stdout) = run(&mut cmd, b"");
    assert!(ok, "cross/apk.sh {what}: {all}");
    let path = PathBuf::from(String::from_utf8(stdout).unwrap().trim());
    assert!(path.starts_with(dist.join("apk")) && path.exists(), "apk.sh printed {path:?}");
    path
}

/// Whether the x86_64 cross build is there to be packed; if not, a skip line. Tests call
/// it before making anything, so that a skipped test leaves no temp dir.
fn x86_64_built() -> bool {
    let bin = root().join("target").join(TARGET).join("release/dualwan");
    if !bin.exists() {
        skip(format_args!("no {} (cross/build.sh {TARGET}; make test builds it)", bin.display()));
    }
    bin.exists()
}

/// The x86_64 dualwan package built into `dist` (release `release`).
fn build_dualwan(dist: &Path, release: &str) -> PathBuf {
    let apk = build(TARGET, dist, &[("PKG_RELEASE", release)]);
    assert_eq!(apk, dist.join(format!("apk/x86_64/dualwan-{}.apk", version(release))));
    apk
}

/// Packs `files` (a directory) with cross/apk.py and `args`; (success, output).
fn apk_py(args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("cross/apk.py")).arg("mkpkg").args(args).env("SOURCE_DATE_EPOCH", EPOCH);
    let (ok, all, _) = run(&mut cmd, b"");
    (ok, all)
}

/// An empty package `name` (a stub dependency) for `arch`, in `dir`.
fn stub(dir: &Path, name: &str, arch: &str) -> PathBuf {
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    set_mode(&empty, 0o755);
    let out = dir.join(format!("{name}-{arch}-stub.apk"));
    let (ok, all) = apk_py(&[
        "--info",
        &format!("name:{name}"),
        "--info",
        "version:1-r1",
        "--info",
        &format!("arch:{arch}"),
        "--files",
        empty.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "stub {name}: {all}");
    out
}

/// The scripts OpenWrt's package-pack.mk generates for a package without postinst/prerm.
fn openwrt_scripts(pkg: &str) -> [(&'static str, String); 3] {
    let post_install = format!(
        "#!/bin/sh\n\
         [ \"${{IPKG_NO_SCRIPT}}\" = \"1\" ] && exit 0\n\
         [ -s ${{IPKG_INSTROOT}}/lib/functions.sh ] || exit 0\n\
         . ${{IPKG_INSTROOT}}/lib/functions.sh\n\
         export root=\"${{IPKG_INSTROOT}}\"\n\
         export pkgname=\"{pkg}\"\n\
         add_group_and_user\n\
         default_postinst\n"
    );
    let post_upgrade =
        format!("#!/bin/sh\nexport PKG_UPGRADE=1\n{}", post_install.strip_prefix("#!/bin/sh\n").unwrap());
    let pre_deinstall = format!(
        "#!/bin/sh\n\
         [ -s ${{IPKG_INSTROOT}}/lib/functions.sh ] || exit 0\n\
         . ${{IPKG_INSTROOT}}/lib/functions.sh\n\
         export root=\"${{IPKG_INSTROOT}}\"\n\
         export pkgname=\"{pkg}\"\n\
         default_prerm\n"
    );
    [("post-install", post_install), ("pre-deinstall", pre_deinstall), ("post-upgrade", post_upgrade)]
}

// ---------------------------------------------------------------------------------------
// Self-contained: the reference vectors.

/// (file under tests/vectors/apk, mkpkg's arguments from MKPKG-COMMANDS.txt).
fn reference_packages() -> Vec<(&'static str, Vec<&'static str>)> {
    let demo = vec![
        "--info",
        "name:demo",
        "--info",
        "version:1.2.3-r1",
        "--info",
        "description:Demo daemon for reference vectors",
        "--info",
        "arch:mipsel_24kc",
        "--info",
        "license:GPL-2.0-only",
        "--info",
        "origin:feeds/packages/net/demo",
        "--info",
        "url:https://example.org/demo",
        "--info",
        "maintainer:Jane Doe <jane@example.org>",
        "--script",
        "post-install:staging/apk-mipsel_24kc/demo/post-install",
        "--script",
        "post-upgrade:staging/apk-mipsel_24kc/demo/post-upgrade",
        "--script",
        "pre-deinstall:staging/apk-mipsel_24kc/demo/pre-deinstall",
        "--info",
        "depends:libc",
        "--files",
        "staging/ipkg-mipsel_24kc/demo",
    ];
    let min = vec![
        "--info",
        "name:min",
        "--info",
        "version:1.0-r1",
        "--info",
        "arch:mipsel_24kc",
        "--files",
        "staging/ipkg-mipsel_24kc/min",
    ];
    let libc = vec![
        "--info",
        "name:libc",
        "--info",
        "version:1.2.5-r4",
        "--info",
        "arch:mipsel_24kc",
        "--info",
        "description:stub libc for tests",
        "--files",
        "staging/ipkg-mipsel_24kc/libc",
    ];
    let empty = vec![
        "--info",
        "name:empty",
        "--info",
        "version:0.1-r1",
        "--info",
        "description:",
        "--info",
        "arch:mipsel_24kc",
        "--info",
        "license:",
        "--info",
        "origin:",
        "--info",
        "url:",
        "--info",
        "maintainer:",
        "--info",
        "depends:",
        "--files",
        "staging/ipkg-mipsel_24kc/min",
    ];
    let none = |mut args: Vec<&'static str>| {
        args.splice(0..0, ["--compression", "none"]);
        args
    };
    vec![
        ("demo-1.2.3-r1", demo.clone()),
        ("min-1.0-r1", min.clone()),
        ("libc-1.2.5-r4", libc),
        ("empty-0.1-r1", empty),
        ("uncompressed/demo-1.2.3-r1", none(demo)),
        ("uncompressed/min-1.0-r1", none(min)),
    ]
}

#[test]
fn reference_packages_read_as_apk_adbdump_printed_them() {
    // The copies are intact.
    let sums = text(vectors().join("SHA256SUMS"));
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        assert_eq!(sha256_hex(&read(vectors().join(name))), sum, "{name} differs from its recording");
    }
    for (name, _) in reference_packages() {
        assert!(sums.contains(&format!("  {name}.apk\n")), "{name}.apk not in SHA256SUMS");
        let pkg = decode(&read(vectors().join(format!("{name}.apk")))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(adbdump(&pkg), text(vectors().join(format!("{name}.adbdump.txt"))), "{name}");
        // Each DATA block is its file's content: the size and sha256 the ADB recorded.
        for f in pkg.files() {
            assert_eq!(f.content.len() as u64, f.size, "{name}: {}", f.path);
            assert_eq!(hex(&f.hash), sha256_hex(&f.content), "{name}: {}", f.path);
        }
    }
    // The reader refuses what is not a package: a truncated one, a bad block size.
    let demo = inflate(&read(vectors().join("demo-1.2.3-r1.apk")));
    assert!(decode(&demo[..600]).is_err(), "a truncated package decoded");
    let mut bad = demo.clone();
    bad[9] ^= 0x01; // the ADB block's size
    assert!(decode(&bad).is_err(), "a bad block size decoded");
}

/// The reference staging trees in `dir`, with the modes MKPKG-COMMANDS.txt names.
fn copy_staging(dir: &Path) {
    let (ok, all, _) = run(Command::new("cp").arg("-R").arg(vectors().join("staging")).arg(dir), b"");
    assert!(ok, "cp: {all}");
    let staging = dir.join("staging");
    std::fs::create_dir_all(staging.join("ipkg-mipsel_24kc/libc")).unwrap(); // git keeps no empty folder
    let (ok, all, out) = run(Command::new("find").arg(&staging), b"");
    assert!(ok, "find: {all}");
    for path in String::from_utf8(out).unwrap().lines().map(PathBuf::from) {
        let exec = ["usr/sbin/demo", "usr/bin/min", "etc/init.d/demo"].iter().any(|e| path.ends_with(e));
        set_mode(&path, if path.is_dir() || exec { 0o755 } else { 0o644 });
    }
}

#[test]
fn packer_writes_what_apk_mkpkg_wrote_for_the_reference_trees() {
    let dir = temp_dir("ref");
    copy_staging(&dir);
    std::fs::create_dir_all(dir.join("uncompressed")).unwrap();
    let mut compressed_same = 0;
    for (name, args) in reference_packages() {
        let out = format!("{name}.apk");
        let mut cmd = Command::new("python3");
        cmd.current_dir(&dir)
            .arg(root().join("cross/apk.py"))
            .arg("mkpkg")
            .args(&args)
            .args(["--output", &out])
            .env("SOURCE_DATE_EPOCH", EPOCH);
        let (ok, all, _) = run(&mut cmd, b"");
        assert!(ok, "{name}: {all}");
        let ours = read(dir.join(&out));
        let reference = read(vectors().join(&out));
        // The same inner file, byte for byte (deflate's output may differ between zlibs).
        assert!(inflate(&ours) == inflate(&reference), "{name}: not what apk mkpkg wrote");
        assert_eq!(&ours[..4], &reference[..4], "{name}: container");
        compressed_same += usize::from(ours == reference);
    }
    progress(format_args!(
        "6 reference packages rebuilt, the same inflated; {compressed_same} of 6 also compressed byte for byte"
    ));

    // Bad input: a clear error, and no package written.
    let files = dir.join("staging/ipkg-mipsel_24kc/min");
    let out = dir.join("bad.apk");
    let files = files.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    for (args, says) in [
        (vec!["--info", "name:x", "--info", "version:1.0 beta", "--info", "arch:x86_64"], "not an apk version"),
        (vec!["--info", "name:x", "--info", "version:1.0-r1"], "required info field 'arch'"),
        (
            vec!["--info", "name:x", "--info", "version:1-r1", "--info", "arch:x86_64", "--info", "depends:libc>=1"],
            "depends",
        ),
        (
            vec!["--info", "name:x", "--info", "version:1-r1", "--info", "arch:x86_64", "--info", "colour:red"],
            "invalid info field",
        ),
    ] {
        let mut all_args = args.clone();
        all_args.extend(["--files", files, "--output", out_s]);
        let (ok, output) = apk_py(&all_args);
        assert!(!ok && output.contains(says), "{args:?}: {output}");
        assert!(!out.exists() && !dir.join("bad.apk.tmp").exists(), "{args:?} left a package");
    }
    // A hard link: refused rather than packed differently from mkpkg.
    let linked = dir.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::fs::write(linked.join("a"), b"x").unwrap();
    std::fs::hard_link(linked.join("a"), linked.join("b")).unwrap();
    let (ok, output) = apk_py(&[
        "--info",
        "name:x",
        "--info",
        "version:1-r1",
        "--info",
        "arch:x86_64",
        "--files",
        linked.to_str().unwrap(),
        "--output",
        out_s,
    ]);
    assert!(!ok && output.contains("hard links"), "{output}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dualwan_apk_has_openwrts_fields_files_modes_conffiles_and_scripts() {
    if !x86_64_built() {
        return;
    }
    let a = temp_dir("fields-a");
    let apk = build_dualwan(&a, &feed_var("PKG_RELEASE"));
    let bytes = read(&apk);

    // Reproducible: a second build gives the same bytes.
    let b = temp_dir("fields-b");
    assert!(bytes == read(build_dualwan(&b, &feed_var("PKG_RELEASE"))), "two builds differ");

    let pkg = decode(&bytes).expect("our package decodes");
    let info = pkg.info();
    let makefile = text(root().join("openwrt/net/dualwan/Makefile"));
    let description: Vec<&str> = makefile
        .split("define Package/dualwan/description\n")
        .nth(1)
        .unwrap()
        .split("\nendef")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(info.str("name"), Some("dualwan"));
    assert_eq!(info.str("version"), Some(version(&feed_var("PKG_RELEASE")).as_str()));
    assert_eq!(info.str("description"), Some(description.join(" ").as_str()), "make's $(strip) of the description");
    assert_eq!(info.str("arch"), Some("x86_64"));
    assert_eq!(info.str("license"), Some(env!("CARGO_PKG_LICENSE")));
    assert_eq!(info.str("origin"), Some("feeds/dualwan/net/dualwan"));
    assert_eq!(info.str("url"), Some(feed_var("URL").as_str()));
    assert_eq!(info.str("maintainer"), Some(feed_var("PKG_MAINTAINER").as_str()));
    // mkpkg gets "libc kmod-nf-conntrack-netlink" (libc first, as OpenWrt passes it); apk
    // stores dependencies sorted by name.
    assert_eq!(pkg.depends(), ["kmod-nf-conntrack-netlink", "libc"], "ctnetlink for the per-WAN conntrack flush");
    assert_eq!(info.bytes("hashes").map(<[u8]>::len), Some(20), "mkpkg's unique id");
    let keys: Vec<&str> = match info {
        Node::Obj(f) => f.iter().map(|(k, _)| *k).collect(),
        _ => unreachable!(),
    };
    assert_eq!(
        keys,
        [
            "name",
            "version",
            "hashes",
            "description",
            "arch",
            "license",
            "origin",
            "maintainer",
            "url",
            "installed-size",
            "depends"
        ]
    );

    // Directories and files, with their modes; everything root:root.
    let dirs: Vec<(String, u64)> = pkg
        .dirs()
        .into_iter()
        .map(|(p, m, o)| {
            assert_eq!(o, ("root".into(), "root".into()), "{p}");
            (p, m)
        })
        .collect();
    let expect_dirs = [
        "",
        "etc",
        "etc/capabilities",
        "etc/config",
        "etc/hotplug.d",
        "etc/hotplug.d/dualwan",
        "etc/init.d",
        "lib",
        "lib/apk",
        "lib/apk/packages",
        "usr",
        "usr/sbin",
        "usr/share",
        "usr/share/acl.d",
    ];
    assert_eq!(dirs, expect_dirs.iter().map(|d| (d.to_string(), 0o755)).collect::<Vec<_>>());
    let files = pkg.files();
    let got: Vec<(&str, u64)> = files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
    assert_eq!(
        got,
        [
            ("/etc/capabilities/dualwan.json", 0o644),
            ("/etc/config/dualwan", 0o600),
            ("/etc/hotplug.d/dualwan/README", 0o644),
            ("/etc/init.d/dualwan", 0o755),
            ("/lib/apk/packages/dualwan.conffiles", 0o644),
            ("/lib/apk/packages/dualwan.conffiles_static", 0o644),
            ("/lib/apk/packages/dualwan.list", 0o644),
            ("/lib/apk/packages/dualwan.rusers", 0o644),
            ("/usr/sbin/dualwan", 0o755),
            ("/usr/share/acl.d/dualwan.json", 0o644),
        ]
    );
    for f in &files {
        assert_eq!(f.owner, ("root".into(), "root".into()), "{}", f.path);
        assert_eq!(f.mtime.to_string(), EPOCH, "{}: mtime is SOURCE_DATE_EPOCH", f.path);
        assert_eq!(f.content.len() as u64, f.size, "{}", f.path);
        assert_eq!(hex(&f.hash), sha256_hex(&f.content), "{}: sha256", f.path);
    }
    assert_eq!(info.num("installed-size"), Some(files.iter().map(|f| f.size).sum()), "installed-size");
    let same = |path: &str, source: &str| {
        assert!(pkg.file(path).content == read(root().join(source)), "{path} differs from {source}");
    };
    same("/usr/sbin/dualwan", &format!("target/{TARGET}/release/dualwan"));
    same("/etc/init.d/dualwan", "openwrt/files/dualwan.init");
    same("/etc/config/dualwan", "openwrt/files/dualwan.config");
    same("/etc/capabilities/dualwan.json", "openwrt/files/dualwan.capabilities.json");
    same("/usr/share/acl.d/dualwan.json", "openwrt/files/dualwan.acl.json");
    same("/etc/hotplug.d/dualwan/README", "openwrt/files/hotplug.README");
    // One DATA block per file, in path and file order.
    let order: Vec<(u32, u32)> = pkg.data.iter().map(|(p, f, _)| (*p, *f)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(order.len(), files.len());

    // The metadata package-pack.mk adds: the file list (taken before the conffiles files
    // exist), the conffiles with their sha256, the user default_postinst creates.
    let list = String::from_utf8(pkg.file("/lib/apk/packages/dualwan.list").content).unwrap();
    assert_eq!(
        list,
        "/etc/capabilities/dualwan.json\n/etc/config/dualwan\n/etc/hotplug.d/dualwan/README\n/etc/init.d/dualwan\n\
         /lib/apk/packages/dualwan.rusers\n/usr/sbin/dualwan\n/usr/share/acl.d/dualwan.json\n"
    );
    assert_eq!(pkg.file("/lib/apk/packages/dualwan.conffiles").content, b"/etc/config/dualwan\n");
    let config_sum = sha256_hex(&read(root().join("openwrt/files/dualwan.config")));
    assert_eq!(
        String::from_utf8(pkg.file("/lib/apk/packages/dualwan.conffiles_static").content).unwrap(),
        format!("/etc/config/dualwan {config_sum}\n")
    );
    assert_eq!(pkg.file("/lib/apk/packages/dualwan.rusers").content, format!("{}\n", feed_var("USERID")).as_bytes());

    // The scripts: OpenWrt's, exactly; default_postinst/default_prerm do the service work.
    assert_eq!(pkg.script_names(), ["post-install", "pre-deinstall", "post-upgrade"]);
    for (name, expected) in openwrt_scripts("dualwan") {
        assert_eq!(pkg.script(name), Some(expected.as_str()), "{name}");
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn luci_app_apk_is_noarch_with_the_staged_files_and_luci_s_postinst() {
    let dist = temp_dir("luci");
    let apk = build("luci", &dist, &[]);
    assert_eq!(apk, dist.join(format!("apk/noarch/luci-app-dualwan-{}.apk", version("1"))));
    let bytes = read(&apk);
    assert!(bytes == read(build("luci", &dist, &[])), "two builds differ");
    let pkg = decode(&bytes).expect("luci-app-dualwan decodes");
    let info = pkg.info();
    assert_eq!(info.str("name"), Some("luci-app-dualwan"));
    assert_eq!(info.str("arch"), Some("noarch"), "PKGARCH all is noarch for apk");
    assert_eq!(info.str("license"), Some("GPL-2.0-only"));
    assert_eq!(info.str("origin"), Some("feeds/dualwan/luci-app-dualwan"));
    assert!(info.str("description").is_some_and(|d| d.contains("Live status")));
    assert_eq!(pkg.depends(), ["dualwan", "libc", "luci-base"]);

    let mut listed: Vec<String> = text(root().join("openwrt/luci-app-dualwan/ipk-files.txt"))
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect();
    listed.sort();
    let list = String::from_utf8(pkg.file("/lib/apk/packages/luci-app-dualwan.list").content).unwrap();
    assert_eq!(list, listed.iter().map(|l| format!("{l}\n")).collect::<String>());
    let mut all = listed.clone();
    all.push("/lib/apk/packages/luci-app-dualwan.list".into());
    all.sort();
    let files = pkg.files();
    assert_eq!(files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), all);
    for f in &files {
        assert_eq!(f.mode, 0o644, "{}", f.path);
        assert_eq!(hex(&f.hash), sha256_hex(&f.content), "{}", f.path);
    }
    assert!(pkg.dirs().iter().all(|(_, mode, _)| *mode == 0o755));

    // OpenWrt's post-install, then the app's own postinst (clears LuCI's caches).
    let [(_, generic), (_, pre_deinstall), _] = openwrt_scripts("luci-app-dualwan");
    let post_install = pkg.script("post-install").unwrap();
    let body = post_install.strip_prefix(generic.as_str()).expect("OpenWrt's post-install first");
    assert!(body.contains("rm -rf /tmp/luci-modulecache/") && !body.contains("#!"), "{body}");
    assert!(body.contains("[ -n \"${IPKG_INSTROOT:-}\" ] && exit 0"), "nothing in an image build: {body}");
    assert_eq!(pkg.script("pre-deinstall"), Some(pre_deinstall.as_str()));
    assert_eq!(
        pkg.script("post-upgrade").unwrap(),
        format!("#!/bin/sh\nexport PKG_UPGRADE=1\n{}", &post_install[10..])
    );
    let _ = std::fs::remove_dir_all(&dist);
}

/// The five router targets and their OpenWrt architectures (as cross/apk.sh maps them).
const ARCHES: [(&str, &str); 5] = [
    ("x86_64-unknown-linux-musl", "x86_64"),
    ("aarch64-unknown-linux-musl", "aarch64_cortex-a53"),
    ("armv7-unknown-linux-musleabihf", "arm_cortex-a7_neon-vfpv4"),
    ("mipsel-unknown-linux-musl", "mipsel_24kc"),
    ("mips-unknown-linux-musl", "mips_24kc"),
];

/// The packages of every cross build present, built into `dist`: (arch, package); the
/// missing targets are named in a skip line (the test then did only part of its work).
fn build_every_arch(dist: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut built = Vec::new();
    let mut missing = Vec::new();
    for (target, arch) in ARCHES {
        if root().join("target").join(target).join("release/dualwan").exists() {
            let apk = build(target, dist, &[]);
            assert_eq!(apk, dist.join(format!("apk/{arch}/dualwan-{}.apk", version(&feed_var("PKG_RELEASE")))));
            built.push((arch, apk));
        } else {
            missing.push(target);
        }
    }
    if !missing.is_empty() {
        skip(format_args!("no cross build for {} (make cross builds them)", missing.join(", ")));
    }
    built
}

#[test]
fn every_cross_build_packs_with_its_openwrt_arch_and_the_same_other_files() {
    let dist = temp_dir("arches");
    let built = build_every_arch(&dist);
    let mut reference: Option<Vec<(String, Vec<u8>)>> = None;
    for (arch, apk) in &built {
        let bytes = read(apk);
        let pkg = decode(&bytes).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(pkg.info().str("arch"), Some(*arch));
        let target = ARCHES.iter().find(|(_, a)| a == arch).unwrap().0;
        let binary = pkg.file("/usr/sbin/dualwan");
        assert!(binary.content == read(root().join("target").join(target).join("release/dualwan")), "{arch}");
        assert_eq!(binary.mode, 0o755);
        progress(format_args!(
            "{arch}: {} bytes ({} bytes installed)",
            bytes.len(),
            pkg.info().num("installed-size").unwrap()
        ));
        // Everything but the binary is the same in every architecture's package.
        let others: Vec<(String, Vec<u8>)> =
            pkg.files().into_iter().filter(|f| f.path != "/usr/sbin/dualwan").map(|f| (f.path, f.content)).collect();
        match &reference {
            None => reference = Some(others),
            Some(r) => assert!(r == &others, "{arch}: files other than the binary differ"),
        }
    }
    let _ = std::fs::remove_dir_all(&dist);
}

/// A model of OpenWrt's /lib/functions.sh for these tests: what default_postinst and
/// default_prerm do with the init scripts a package lists in lib/apk/packages/<pkg>.list
/// (on a router: enable unless upgrading, then start; stop, and disable unless upgrading;
/// when building an image, IPKG_INSTROOT set: enable or disable through the root's
/// rc.common). Every call is logged to $IPKG_INSTROOT/calls; only shell builtins.
const FUNCTIONS_SH: &str = r#"log() { echo "$*" >> "${IPKG_INSTROOT}/calls"; }
add_group_and_user() {
	local rusers=""
	[ -f "$root/lib/apk/packages/$pkgname.rusers" ] && read -r rusers < "$root/lib/apk/packages/$pkgname.rusers"
	log "add_group_and_user $pkgname users=$rusers"
}
init_scripts() {
	while read -r f; do
		case $f in /etc/init.d/*)
			if [ -n "$root" ]; then /bin/sh "$root/etc/rc.common" "$root$f" "$1"
			elif [ "$1" = enable ]; then [ "$PKG_UPGRADE" = 1 ] || "$f" enable; "$f" start
			else "$f" stop; [ "$PKG_UPGRADE" = 1 ] || "$f" disable
			fi ;;
		esac
	done < "$root/lib/apk/packages/$pkgname.list"
}
default_postinst() { log "default_postinst $pkgname root=$root upgrade=${PKG_UPGRADE:-0}"; init_scripts enable; }
default_prerm() { log "default_prerm $pkgname root=$root upgrade=${PKG_UPGRADE:-0}"; init_scripts disable; }
"#;

/// The init scripts' interpreter (`#!/bin/sh /etc/rc.common`): logs the action.
const RC_COMMON: &str = "#!/bin/sh\necho \"rc.common ${1#$IPKG_INSTROOT} $2\" >> \"${IPKG_INSTROOT}/calls\"\n";

/// Lays out `pkg`'s files in `r` as an install would.
fn lay_out(pkg: &Package, r: &Path) {
    for f in pkg.files() {
        let path = r.join(f.path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &f.content).unwrap();
        set_mode(&path, f.mode as u32);
    }
}

fn calls(r: &Path) -> String {
    std::fs::read_to_string(r.join("calls")).unwrap_or_default()
}

/// Runs a package script with the host's sh and only `env` (+ PATH) in its environment.
fn run_script(script: &str, dir: &Path, env: &[(&str, &Path)]) -> (bool, String) {
    let file = dir.join("script.sh");
    std::fs::write(&file, script).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(&file).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (ok, all, _) = run(&mut cmd, b"");
    (ok, all)
}

#[test]
fn scripts_do_nothing_in_an_empty_offline_root_and_pass_an_image_root_to_openwrts_functions() {
    if !x86_64_built() {
        return;
    }
    let dir = temp_dir("offline");
    let apk = build_dualwan(&dir, "1");
    let pkg = decode(&read(apk)).unwrap();
    let post_install = pkg.script("post-install").unwrap();
    let pre_deinstall = pkg.script("pre-deinstall").unwrap();

    // An offline root without OpenWrt's /lib/functions.sh (apk --root R on a build host):
    // the scripts stop at once, write nothing and print nothing.
    let empty = dir.join("empty-root");
    std::fs::create_dir_all(&empty).unwrap();
    for script in [post_install, pre_deinstall, pkg.script("post-upgrade").unwrap()] {
        let (ok, out) = run_script(script, &dir, &[("IPKG_INSTROOT", &empty)]);
        assert!(ok && out.is_empty(), "{out}");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "the script wrote into the empty root");
    }

    // An image being built (IPKG_INSTROOT=R, R has functions.sh): the root's functions get
    // root=R and pkgname=dualwan; they enable the service in R, and nothing starts.
    let r = dir.join("image-root");
    lay_out(&pkg, &r);
    std::fs::write(r.join("lib/functions.sh"), FUNCTIONS_SH).unwrap();
    std::fs::write(r.join("etc/rc.common"), RC_COMMON).unwrap();
    set_mode(&r.join("etc/rc.common"), 0o755);
    let rs = r.to_str().unwrap();
    let (ok, out) = run_script(post_install, &dir, &[("IPKG_INSTROOT", &r), ("IPKG_NO_SCRIPT", Path::new("1"))]);
    assert!(ok && calls(&r).is_empty(), "IPKG_NO_SCRIPT=1 ran something: {out}{}", calls(&r));
    let (ok, out) = run_script(post_install, &dir, &[("IPKG_INSTROOT", &r)]);
    assert!(ok, "{out}");
    assert_eq!(
        calls(&r),
        format!(
            "add_group_and_user dualwan users=dualwan:dualwan\n\
             default_postinst dualwan root={rs} upgrade=0\n\
             rc.common /etc/init.d/dualwan enable\n"
        )
    );
    std::fs::remove_file(r.join("calls")).unwrap();
    let (ok, out) = run_script(pre_deinstall, &dir, &[("IPKG_INSTROOT", &r)]);
    assert!(ok, "{out}");
    assert_eq!(
        calls(&r),
        format!("default_prerm dualwan root={rs} upgrade=0\nrc.common /etc/init.d/dualwan disable\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// With the real apk.

/// The real apk on the root `r`.
struct Apk {
    bin: PathBuf,
    r: PathBuf,
}

impl Apk {
    /// `apk --root R ARGS` (with --usermode when not root); (success, what it printed).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.r);
        if !is_root() && args.contains(&"--initdb") {
            cmd.arg("--usermode");
        }
        let (ok, all, _) = run(cmd.args(args), b"");
        (ok, all)
    }
    fn add(&self, initdb: bool, scripts: bool, packages: &[&Path]) -> (bool, String) {
        let mut args = vec!["--allow-untrusted", "--no-network", "--arch", "x86_64"];
        if initdb {
            args.push("--initdb");
        }
        if !scripts {
            args.push("--no-scripts");
        }
        args.push("add");
        args.extend(packages.iter().map(|p| p.to_str().unwrap()));
        self.run(&args)
    }
    fn installed(&self) -> String {
        std::fs::read_to_string(self.r.join("lib/apk/db/installed")).unwrap_or_default()
    }
}

/// The real apk and a fresh root `tag`, or `None` after a skip line.
fn real_apk(tag: &str) -> Option<Apk> {
    let bin = common::skip::owrt_program("apk")?;
    let r = temp_dir(&format!("{tag}-root"));
    Some(Apk { bin, r })
}

#[test]
fn real_apk_installs_audits_upgrades_and_removes_dualwan() {
    if !x86_64_built() {
        return;
    }
    let Some(apk) = real_apk("install") else { return };
    let dist = temp_dir("install-dist");
    let (r1, r2) = (build_dualwan(&dist, "1"), build_dualwan(&dist, "2"));
    let pkg = decode(&read(&r1)).unwrap();
    let libc = stub(&dist, "libc", "x86_64");
    let kmod = stub(&dist, "kmod-nf-conntrack-netlink", "x86_64");

    // apk adbdump reads our package as this file's reader does.
    let (ok, dump) = apk.run(&["adbdump", r1.to_str().unwrap()]);
    assert!(ok, "{dump}");
    assert_eq!(dump, adbdump(&pkg), "apk adbdump of our package");

    // Install into an empty offline root, dependencies from stubs.
    let (ok, out) = apk.add(true, false, &[&libc, &kmod, &r1]);
    progress(format_args!("apk add: {}", out.trim()));
    assert!(ok && out.contains(&format!("Installing dualwan ({})", version("1"))), "{out}");
    for f in pkg.files() {
        let on_disk = apk.r.join(f.path.trim_start_matches('/'));
        assert!(read(&on_disk) == f.content, "{} differs on disk", f.path);
        assert_eq!(mode_of(&on_disk) as u64, f.mode, "{} mode on disk", f.path);
    }
    let (ok, contents) = apk.run(&["info", "-L", "dualwan"]);
    assert!(ok, "{contents}");
    for f in pkg.files() {
        assert!(contents.lines().any(|l| l == f.path.trim_start_matches('/')), "info -L lacks {}: {contents}", f.path);
    }
    // apk audit: nothing of ours modified; then an edited config shows.
    let (ok, audit) = apk.run(&["audit"]);
    assert!(ok && audit.lines().all(|l| l.ends_with(" etc/apk/")), "apk audit after install: {audit}");
    let config = apk.r.join("etc/config/dualwan");
    let mut edited = read(&config);
    edited.extend_from_slice(b"\n# edited on the router\n");
    std::fs::write(&config, &edited).unwrap();
    let (ok, audit) = apk.run(&["audit"]);
    assert!(ok && audit.lines().any(|l| l == "U etc/config/dualwan"), "apk audit after the edit: {audit}");

    // Upgrade to a higher release: the edited config stays, the shipped one beside it.
    let (ok, out) = apk.add(false, false, &[&r2]);
    progress(format_args!("apk add (upgrade): {}", out.trim()));
    assert!(ok && out.contains(&format!("Upgrading dualwan ({} -> {})", version("1"), version("2"))), "{out}");
    assert!(read(&config) == edited, "the upgrade replaced the edited config");
    assert!(read(apk.r.join("etc/config/dualwan.apk-new")) == pkg.file("/etc/config/dualwan").content);
    assert!(apk.installed().contains(&format!("P:dualwan\nV:{}\n", version("2"))), "{}", apk.installed());

    // Removal: the package's files go, the edited config stays.
    let (ok, out) = apk.run(&["--no-network", "--no-scripts", "del", "dualwan"]);
    progress(format_args!("apk del: {}", out.trim()));
    assert!(ok && out.contains("Purging dualwan"), "{out}");
    for gone in
        ["usr/sbin/dualwan", "etc/init.d/dualwan", "lib/apk/packages/dualwan.list", "etc/config/dualwan.apk-new"]
    {
        assert!(!apk.r.join(gone).exists(), "{gone} left after apk del");
    }
    assert!(read(&config) == edited, "apk del removed the edited config");
    assert!(!apk.installed().contains("P:dualwan\n"));
    let _ = std::fs::remove_dir_all(&apk.r);
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn real_apk_refuses_a_truncated_dualwan_package_and_installs_nothing_of_it() {
    if !x86_64_built() {
        return;
    }
    let Some(apk) = real_apk("truncated") else { return };
    let dist = temp_dir("truncated-dist");
    let good = build_dualwan(&dist, "1");
    let bytes = read(&good);
    let libc = stub(&dist, "libc", "x86_64");
    let kmod = stub(&dist, "kmod-nf-conntrack-netlink", "x86_64");
    // Cut inside the ADB block, and in the middle of the binary's DATA block.
    for (cut, says) in [(1000, "unexpected end of file"), (bytes.len() / 2, "usr/sbin/dualwan")] {
        let bad = dist.join(format!("dualwan-cut-{cut}.apk"));
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let _ = std::fs::remove_dir_all(&apk.r);
        std::fs::create_dir_all(&apk.r).unwrap();
        let (ok, out) = apk.add(true, false, &[&libc, &kmod, &bad]);
        progress(format_args!("apk add of the first {cut} of {} bytes: {}", bytes.len(), out.trim()));
        assert!(!ok, "apk accepted a truncated package: {out}");
        assert!(out.contains("ERROR") && out.contains(says), "{out}");
        assert!(!apk.installed().contains("P:dualwan\n"), "{}", apk.installed());
        for path in ["usr/sbin/dualwan", "etc/config/dualwan", "etc/init.d/dualwan"] {
            assert!(!apk.r.join(path).exists(), "{path} installed from a truncated package");
        }
    }
    let _ = std::fs::remove_dir_all(&apk.r);
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn real_apk_installs_luci_app_dualwan_as_noarch() {
    let Some(apk) = real_apk("luci") else { return };
    let dist = temp_dir("luci-dist");
    let luci = build("luci", &dist, &[]);
    let pkg = decode(&read(&luci)).unwrap();
    let deps = [stub(&dist, "libc", "x86_64"), stub(&dist, "luci-base", "noarch"), stub(&dist, "dualwan", "x86_64")];
    let mut all: Vec<&Path> = deps.iter().map(PathBuf::as_path).collect();
    all.push(&luci);
    let (ok, out) = apk.add(true, false, &all);
    progress(format_args!("apk add: {}", out.trim()));
    assert!(ok && out.contains(&format!("Installing luci-app-dualwan ({})", version("1"))), "{out}");
    for f in pkg.files() {
        assert!(read(apk.r.join(f.path.trim_start_matches('/'))) == f.content, "{}", f.path);
    }
    let (ok, list) = apk.run(&["list", "--installed"]);
    assert!(ok && list.contains(&format!("luci-app-dualwan-{} noarch", version("1"))), "{list}");
    let (ok, out) = apk.run(&["--no-network", "--no-scripts", "del", "luci-app-dualwan"]);
    assert!(ok, "{out}");
    assert!(!apk.r.join("www/luci-static/resources/view/dualwan/status.js").exists());
    let _ = std::fs::remove_dir_all(&apk.r);
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn real_apk_mkpkg_writes_the_same_bytes_for_the_staged_trees() {
    let Some(apk_bin) = common::skip::owrt_program("apk") else { return };
    if !is_root() {
        // mkpkg records the file owner's name; OpenWrt packs under fakeroot.
        skip("apk mkpkg must run as root to record root:root as OpenWrt's fakeroot does");
        return;
    }
    let ours = temp_dir("mkpkg-ours");
    let theirs = temp_dir("mkpkg-theirs");
    let mkpkg = format!("{} mkpkg", apk_bin.display());
    let mut compared = vec![("luci", build("luci", &ours, &[]), build("luci", &theirs, &[("APK_MKPKG", &mkpkg)]))];
    if x86_64_built() {
        compared.push(("dualwan", build_dualwan(&ours, "1"), build(TARGET, &theirs, &[("APK_MKPKG", &mkpkg)])));
    }
    for (what, a, b) in compared {
        let (a, b) = (read(a), read(b));
        assert!(inflate(&a) == inflate(&b), "{what}: cross/apk.py and apk mkpkg differ");
        progress(format_args!(
            "{what}: the same as apk mkpkg's, {}",
            if a == b { "byte for byte" } else { "inflated" }
        ));
    }
    let _ = std::fs::remove_dir_all(&ours);
    let _ = std::fs::remove_dir_all(&theirs);
}

#[test]
fn real_apk_installs_the_package_of_every_cross_build_for_its_arch() {
    let Some(apk) = real_apk("arches") else { return };
    let dist = temp_dir("arches-dist");
    for (arch, package) in build_every_arch(&dist) {
        let _ = std::fs::remove_dir_all(&apk.r);
        std::fs::create_dir_all(&apk.r).unwrap();
        let (libc, kmod) = (stub(&dist, "libc", arch), stub(&dist, "kmod-nf-conntrack-netlink", arch));
        let mut args = vec!["--initdb", "--allow-untrusted", "--no-network", "--no-scripts", "--arch", arch, "add"];
        args.extend([&libc, &kmod, &package].map(|p| p.to_str().unwrap()));
        let (ok, out) = apk.run(&args);
        assert!(ok && out.contains("Installing dualwan"), "{arch}: {out}");
        assert!(
            read(apk.r.join("usr/sbin/dualwan")) == decode(&read(&package)).unwrap().file("/usr/sbin/dualwan").content
        );
        // Another architecture's root refuses it.
        let other = if arch == "x86_64" { "mips_24kc" } else { "x86_64" };
        let _ = std::fs::remove_dir_all(&apk.r);
        std::fs::create_dir_all(&apk.r).unwrap();
        let (other_libc, other_kmod) = (stub(&dist, "libc", other), stub(&dist, "kmod-nf-conntrack-netlink", other));
        let mut args = vec!["--initdb", "--allow-untrusted", "--no-network", "--no-scripts", "--arch", other, "add"];
        args.extend([&other_libc, &other_kmod, &package].map(|p| p.to_str().unwrap()));
        let (ok, out) = apk.run(&args);
        assert!(!ok && out.contains("uninstallable") && out.contains(arch), "{arch} package in a {other} root: {out}");
    }
    let _ = std::fs::remove_dir_all(&apk.r);
    let _ = std::fs::remove_dir_all(&dist);
}

/// Puts the host's /bin/sh (and the shared libraries it needs) into `r`.
fn shell_into(r: &Path) {
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let mut files = vec![sh.clone()];
    let (_, ldd, _) = run(Command::new("ldd").arg(&sh), b"");
    files.extend(ldd.split_whitespace().filter(|w| w.starts_with('/')).map(PathBuf::from).filter(|p| p.exists()));
    for f in files {
        let to = if f == sh { r.join("bin/sh") } else { r.join(f.strip_prefix("/").unwrap()) };
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
}

#[test]
fn real_apk_runs_the_scripts_enable_and_start_on_install_stop_and_disable_on_removal() {
    if !is_root() {
        skip("apk runs package scripts chrooted into the root, which needs root");
        return;
    }
    if !x86_64_built() {
        return;
    }
    let Some(apk) = real_apk("scripts") else { return };
    let dist = temp_dir("scripts-dist");
    let (r1, r2) = (build_dualwan(&dist, "1"), build_dualwan(&dist, "2"));
    let (libc, kmod) = (stub(&dist, "libc", "x86_64"), stub(&dist, "kmod-nf-conntrack-netlink", "x86_64"));
    // The root: a shell, the model of OpenWrt's functions.sh and an rc.common that logs.
    shell_into(&apk.r);
    std::fs::create_dir_all(apk.r.join("lib")).unwrap();
    std::fs::create_dir_all(apk.r.join("etc")).unwrap();
    std::fs::write(apk.r.join("lib/functions.sh"), FUNCTIONS_SH).unwrap();
    std::fs::write(apk.r.join("etc/rc.common"), RC_COMMON).unwrap();
    set_mode(&apk.r.join("etc/rc.common"), 0o755);
    let take_calls = || {
        let c = calls(&apk.r);
        let _ = std::fs::remove_file(apk.r.join("calls"));
        c
    };

    // Install: post-install creates the user and enables and starts the service.
    let (ok, out) = apk.add(true, true, &[&libc, &kmod, &r1]);
    assert!(ok && out.contains(&format!("Executing dualwan-{}.post-install", version("1"))), "{out}");
    assert_eq!(
        take_calls(),
        "add_group_and_user dualwan users=dualwan:dualwan\n\
         default_postinst dualwan root= upgrade=0\n\
         rc.common /etc/init.d/dualwan enable\n\
         rc.common /etc/init.d/dualwan start\n"
    );
    // Upgrade: post-upgrade (PKG_UPGRADE=1) only starts it (procd restarts what changed).
    let (ok, out) = apk.add(false, true, &[&r2]);
    assert!(ok && out.contains(&format!("Executing dualwan-{}.post-upgrade", version("2"))), "{out}");
    assert_eq!(
        take_calls(),
        "add_group_and_user dualwan users=dualwan:dualwan\n\
         default_postinst dualwan root= upgrade=1\n\
         rc.common /etc/init.d/dualwan start\n"
    );
    // Removal: pre-deinstall stops and disables it.
    let (ok, out) = apk.run(&["--no-network", "del", "dualwan"]);
    assert!(ok && out.contains(&format!("Executing dualwan-{}.pre-deinstall", version("2"))), "{out}");
    assert_eq!(
        take_calls(),
        "default_prerm dualwan root= upgrade=0\n\
         rc.common /etc/init.d/dualwan stop\n\
         rc.common /etc/init.d/dualwan disable\n"
    );
    let _ = std::fs::remove_dir_all(&apk.r);
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn feed_makefile_gives_the_sdk_what_an_apk_needs() {
    // apk's version is <PKG_VERSION>-r<PKG_RELEASE>: both must be plain.
    let release = feed_var("PKG_RELEASE");
    assert!(!release.is_empty() && release.bytes().all(|b| b.is_ascii_digit()), "PKG_RELEASE {release:?}");
    assert!(env!("CARGO_PKG_VERSION").split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())));
    // URL (mkpkg's url), USERID (the .rusers default_postinst reads), the conffiles.
    assert!(feed_var("URL").starts_with("https://"));
    assert_eq!(feed_var("USERID"), "dualwan:dualwan");
    let makefile = text(root().join("openwrt/net/dualwan/Makefile"));
    assert!(makefile.contains("define Package/dualwan/conffiles\n/etc/config/dualwan\nendef"));
    // No postinst/prerm of its own: OpenWrt's generated scripts do the service handling.
    assert!(
        !makefile.contains("define Package/dualwan/postinst") && !makefile.contains("define Package/dualwan/prerm")
    );
    let luci = text(root().join("openwrt/luci-app-dualwan/Makefile"));
    assert!(luci.contains("LUCI_PKGARCH:=all"), "luci-app-dualwan is noarch");
}
