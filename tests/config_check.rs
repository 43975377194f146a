//! `dualwan check` on good and bad configs: exit codes, `FILE:LINE:` messages, and the
//! effective config with defaults.

use std::io::Write;
use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("dualwan-check-{}-{}", std::process::id(), fastrand()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dualwan");
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dualwan")).args(["check", "-c"]).arg(&path).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).replace(path.to_str().unwrap(), "FILE");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

fn fastrand() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const GOOD: &str = "config globals 'globals'\n\toption log_level 'notice'\n\n\
config interface 'wan'\n\toption device 'eth1'\n\toption metric '10'\n\tlist track_ip '1.1.1.1'\n\tlist track_ip '8.8.8.8'\n\n\
config interface 'wanb'\n\toption device 'wwan0'\n\toption metric '20'\n\tlist track_ip '9.9.9.9'\n";

/// Replaces line `n` (1-based) of GOOD.
fn with_line(n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = GOOD.lines().collect();
    lines[n - 1] = line;
    lines.join("\n") + "\n"
}

#[test]
fn the_shipped_default_config_and_a_typical_one_are_accepted() {
    let shipped = include_str!("../openwrt/files/dualwan.config");
    let (code, out, err) = check(shipped);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("config interface 'wwan'\n\toption enabled '1'\n\toption device 'wwan0'"), "{out}");
    // The init script's `user` option, uncommented, is no warning either.
    let (code, _, err) = check(&shipped.replace("#option user", "option user"));
    assert_eq!((code, err.as_str()), (0, ""));
    let (code, out, err) = check(GOOD);
    assert_eq!((code, err.as_str()), (0, ""));
    // Every default is printed.
    for line in [
        "\toption last_resort 'main'",
        "\toption interval '0.4'",
        "\toption timeout '0.5'",
        "\toption down '4'",
        "\toption up '3'",
        "\toption recovery_wait '10'",
        "\toption reliability '1'",
        "\toption gateway 'auto'",
        "\toption log_level 'notice'",
    ] {
        assert!(out.contains(line), "{line} missing in\n{out}");
    }
}

#[test]
fn each_class_of_error_names_its_line() {
    let cases: &[(String, &str)] = &[
        (with_line(6, "\toption metric 'ten'"), "FILE:6: option 'metric' in interface 'wan': 'ten' is not a whole number"),
        (
            GOOD.replace("\toption metric '10'", "\toption metric '10'\n\toption interval '0'"),
            "FILE:7: option 'interval' in interface 'wan': '0' is below 0.1",
        ),
        (
            with_line(7, "\tlist track_ip 'dns.google'"),
            "FILE:7: option 'track_ip' in interface 'wan': 'dns.google' is not an IP address (host names are not resolved: use an address)",
        ),
        (
            with_line(7, "\tlist track_ip 'fe80::1'"),
            "FILE:7: option 'track_ip' in interface 'wan': 'fe80::1' is a link-local address, not an Internet host",
        ),
        (
            with_line(7, "\tlist track_ip '2001:db8::g'"),
            "FILE:7: option 'track_ip' in interface 'wan': '2001:db8::g' is not an IPv6 address",
        ),
        (
            with_line(7, "\toption gateway6 '192.0.2.1'"),
            "FILE:7: option 'gateway6' in interface 'wan': '192.0.2.1' is neither 'auto' nor an IPv6 address",
        ),
        (
            with_line(7, "\toption gateway '2001:db8::1'"),
            "FILE:7: option 'gateway' in interface 'wan': '2001:db8::1' is neither 'auto' nor an IPv4 address",
        ),
        (
            GOOD.replace("\tlist track_ip '9.9.9.9'", "\tlist track_ip '9.9.9.9'\n\toption reliability '2'"),
            "FILE:14: option 'reliability' in interface 'wanb': '2' is more than the 1 track_ip targets",
        ),
        (with_line(11, "\toption device 'eth1'"), "FILE:10: interface 'wanb': device 'eth1' is already used by interface 'wan'"),
        (
            with_line(12, "\toption metric '10'"),
            "FILE:10: interface 'wanb': metric 10 is already used by interface 'wan' (metrics of enabled interfaces must differ)",
        ),
        (
            GOOD.replace("\toption device 'eth1'", "\toption device 'eth1'\n\toption enabled '0'")
                .replace("\toption device 'wwan0'", "\toption device 'wwan0'\n\toption enabled 'off'"),
            "FILE:4: no enabled interface: nothing to fail over between",
        ),
        (with_line(2, "\toption last_resort 'blackhole'"), "FILE:2: option 'last_resort' in globals 'globals': 'blackhole' is not one of: main, unreachable"),
        (with_line(5, "\toption devcie 'eth1'"), "FILE:4: interface 'wan': option 'device' or 'network' is missing"),
        (with_line(5, "\toptoin device 'eth1'"), "FILE:5: Parse error (invalid command) at line 5, byte 1"),
        // The uci text keeps libuci's count (0 here: the error is on a last line without a
        // newline); FILE:LINE names the line itself.
        (
            GOOD.trim_end().to_string() + "\n\toptoin x",
            "FILE:14: Parse error (invalid command) at line 13, byte 1",
        ),
        ("confitoption a 'b'".to_string(), "FILE:1: Parse error (invalid command) at line 0, byte 0"),
        (
            with_line(2, "\toption table_base '250'"),
            "FILE:2: option 'table_base' in globals 'globals': '250' makes our tables 250..266 overlap the kernel's tables 253-255",
        ),
    ];
    for (text, expected) in cases {
        let (code, out, err) = check(text);
        assert_eq!(code, 1, "{expected}\n{err}");
        assert!(out.is_empty());
        assert!(err.lines().any(|l| l == *expected), "expected {expected:?} in\n{err}");
    }
}

#[test]
fn option_network_replaces_option_device() {
    let text = GOOD.replace("\toption device 'eth1'", "\toption network 'wan'");
    let (code, out, err) = check(&text);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(
        out.contains("config interface 'wan'\n\toption enabled '1'\n\toption network 'wan'\n\toption gateway 'auto'"),
        "{out}"
    );
    assert!(!out.contains("option device 'eth1'"), "{out}");
    let text = text.replace("\toption device 'wwan0'", "\toption network 'wwan_4'");
    let (code, out, _) = check(&text);
    assert_eq!(code, 0);
    assert!(out.contains("\toption network 'wwan_4'"), "{out}");

    let cases: &[(String, &str)] = &[
        (
            GOOD.replace("\toption device 'eth1'", "\toption device 'eth1'\n\toption network 'wan'"),
            "FILE:6: interface 'wan': options 'device' and 'network' exclude each other: give one",
        ),
        (
            with_line(5, "\toption network 'wan-1'"),
            "FILE:5: option 'network' in interface 'wan': 'wan-1' is not a netifd interface name (1-15 characters of A-Z, a-z, 0-9, _)",
        ),
        (
            with_line(5, "\toption network 'a_very_long_name'"),
            "FILE:5: option 'network' in interface 'wan': 'a_very_long_name' is not a netifd interface name (1-15 characters of A-Z, a-z, 0-9, _)",
        ),
        (
            GOOD.replace("\toption device 'eth1'", "\toption network 'wan'")
                .replace("\toption device 'wwan0'", "\toption network 'wan'"),
            "FILE:10: interface 'wanb': network 'wan' is already used by interface 'wan'",
        ),
        (
            GOOD.replace("\toption device 'eth1'", "\tlist network 'wan'"),
            "FILE:5: option 'network' in interface 'wan': 'wan' is a list; this option takes one value",
        ),
    ];
    for (text, expected) in cases {
        let (code, out, err) = check(text);
        assert_eq!(code, 1, "{expected}\n{err}");
        assert!(out.is_empty());
        assert!(err.lines().any(|l| l == *expected), "expected {expected:?} in\n{err}");
    }
    // A device and a network may be the same device at run time: only netifd knows.
    let text = GOOD.replace("\toption device 'eth1'", "\toption network 'eth1'");
    assert_eq!(check(&text).0, 0);
}

#[test]
fn too_many_interfaces_and_warnings() {
    let mut text = String::new();
    for i in 0..9 {
        text += &format!(
            "config interface 'w{i}'\n\toption device 'eth{i}'\n\toption metric '{i}'\n\tlist track_ip '1.1.1.1'\n"
        );
    }
    let (code, _, err) = check(&text);
    assert_eq!(code, 1);
    assert!(err.contains("FILE:33: more than 8 interface sections"), "{err}");

    let text = GOOD.to_string() + "\nconfig member\n\toption interface 'wan'\n" + "config globals\n";
    let (code, _, err) =
        check(&text.replace("\toption log_level 'notice'", "\toption log_level 'notice'\n\toption colour 'red'"));
    assert_eq!(code, 1, "a second globals section is an error");
    assert!(err.contains("FILE:3: unknown option 'colour' in globals 'globals' ignored (warning)"), "{err}");
    assert!(err.contains("FILE:16: unknown section type 'member' ignored (warning)"), "{err}");
    assert!(
        err.contains("FILE:18: anonymous globals section: second globals section (the first is on line 1)"),
        "{err}"
    );
}

#[test]
fn command_line_errors_exit_2() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_dualwan")).args(args).output().unwrap();
    assert_eq!(run(&["--bogus"]).status.code(), Some(2));
    assert_eq!(run(&["check", "--nope"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
    let v = run(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&v.stdout), format!("{}\n", env!("CARGO_PKG_VERSION")));
    let missing = run(&["check", "-c", "/nonexistent/dualwan"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("/nonexistent/dualwan: cannot read"));
}

#[test]
fn flush_conntrack_defaults_to_on_down_and_takes_three_words() {
    let (code, out, err) = check(GOOD);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out.matches("\toption flush_conntrack 'on_down'\n").count(), 2, "{out}");
    for word in ["none", "on_down", "on_switch"] {
        let (code, out, err) = check(&with_line(6, &format!("\toption flush_conntrack '{word}'")));
        assert_eq!((code, err.as_str()), (0, ""), "{word}");
        assert!(out.contains(&format!("\toption flush_conntrack '{word}'\n")), "{out}");
    }
    let (code, out, err) = check(&with_line(6, "\toption flush_conntrack 'always'"));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "FILE:6: option 'flush_conntrack' in interface 'wan': 'always' is not one of: none, on_down, on_switch\n"
    );
}

/// `check_quality` and its thresholds carry mwan3's names and defaults; recovery must be
/// stricter than failure, or the error names the line that makes it not.
#[test]
fn quality_thresholds_take_mwan3s_names_and_recovery_must_be_stricter() {
    let (code, out, err) = check(GOOD);
    assert_eq!((code, err.as_str()), (0, ""));
    for line in [
        "\toption check_quality '0'\n",
        "\toption failure_latency '1000'\n",
        "\toption recovery_latency '500'\n",
        "\toption failure_loss '40'\n",
        "\toption recovery_loss '10'\n",
    ] {
        assert_eq!(out.matches(line).count(), 2, "{line} in {out}");
    }
    let quality = "\toption check_quality '1'\n\toption failure_loss '20'\n\toption recovery_loss '5'";
    let (code, out, err) = check(&with_line(6, &format!("\toption metric '10'\n{quality}")));
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("\toption check_quality '1'\n\toption failure_latency '1000'"), "{out}");
    let cases = [
        (
            "\toption metric '10'\n\toption failure_loss '20'\n\toption recovery_loss '20'",
            "FILE:8: option 'recovery_loss' in interface 'wan': '20' is not below failure_loss 20 (recovery must be stricter than failure)",
        ),
        (
            // Only the failure side given: it is the one named (the recovery default is 10).
            "\toption metric '10'\n\toption failure_loss '5'",
            "FILE:7: option 'failure_loss' in interface 'wan': '5' is not above recovery_loss 10 (recovery must be stricter than failure)",
        ),
        (
            "\toption metric '10'\n\toption recovery_latency '1500'",
            "FILE:7: option 'recovery_latency' in interface 'wan': '1500' is not below failure_latency 1000 (recovery must be stricter than failure)",
        ),
        (
            "\toption metric '10'\n\toption failure_loss '101'",
            "FILE:7: option 'failure_loss' in interface 'wan': '101' is above 100",
        ),
    ];
    for (lines, message) in cases {
        let (code, out, err) = check(&with_line(6, lines));
        assert_eq!((code, out.as_str()), (1, ""), "{lines}");
        assert_eq!(err, format!("{message}\n"), "{lines}");
    }
}

/// Found in the bounds audit: a FIFO in the config's place blocked `open(2)` (and with it
/// the daemon's loop on SIGHUP) until something wrote to it. A symlink and a directory are
/// refused too.
#[test]
fn only_a_regular_file_is_read() {
    let dir = std::env::temp_dir().join(format!("dualwan-check-special-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let real = dir.join("real");
    std::fs::write(&real, GOOD).unwrap();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = dir.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for (path, why) in
        [(&fifo, "not a regular file"), (&dir, "not a regular file"), (&link, "Too many levels of symbolic links")]
    {
        let started = std::time::Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dualwan"))
            .args(["check", "-c"])
            .arg(path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() && started.elapsed() < std::time::Duration::from_secs(3) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            panic!("dualwan check hangs on {}", path.display());
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert!(err.starts_with(&format!("{}: ", path.display())) && err.contains(why), "{}: {err}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const SCHEMA_FILE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/openwrt/luci-app-dualwan/htdocs/luci-static/resources/dualwan/schema.json");

fn schema() -> (String, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dualwan")).args(["check", "--schema"]).output().unwrap();
    assert_eq!((out.status.code(), out.stderr.as_slice()), (Some(0), &b""[..]));
    let text = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("--schema is not JSON: {e}\n{text}"));
    (text, json)
}

fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect()
}

/// The LuCI app validates with the schema.json it ships: that file is exactly what this
/// `dualwan check --schema` prints (`make schema` writes it), in the shape the README gives.
#[test]
fn the_luci_apps_schema_is_check_schema() {
    let (printed, schema) = schema();
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap();
    assert!(printed == committed, "{SCHEMA_FILE} differs from `dualwan check --schema`: run `make schema`");

    assert_eq!(keys(&schema), ["bool", "sections"]);
    assert_eq!(schema["bool"]["true"][0], "1");
    assert_eq!(schema["bool"]["false"][0], "0");
    assert_eq!(keys(&schema["sections"]), ["globals", "interface", "rule"]);
    for (ty, section) in schema["sections"].as_object().unwrap() {
        assert_eq!(keys(section), ["name", "max", "one_of", "options"], "{ty}");
        for (name, option) in section["options"].as_object().unwrap() {
            let k = keys(option);
            let params: &[&str] = match option["type"].as_str().unwrap() {
                "bool" | "text" | "prefix" => &[],
                "ports" => &["max"],
                "wans" => &["max", "words"],
                "uint" if option.get("reserved").is_some() => &["min", "max", "span", "reserved"],
                "uint" if option.get("span").is_some() => &["min", "max", "span"],
                "uint" | "hosts" => &["min", "max"],
                "seconds" => &["min", "max", "decimals"],
                "enum" if option.get("aliases").is_some() => &["words", "aliases"],
                "enum" => &["words"],
                "gateway" => &["family", "words"],
                "name" if option.get("chars").is_some() => &["min", "max", "chars", "invalid"],
                "name" => &["min", "max", "forbid", "invalid"],
                other => panic!("{ty}.{name}: type {other}"),
            };
            let want: Vec<&str> = ["type"].iter().chain(params).chain(&["list", "default", "help"]).copied().collect();
            assert_eq!(k, want, "{ty}.{name}");
            assert!(option["default"].is_null() || option["default"].is_string(), "{ty}.{name}");
            assert!(option["help"].as_str().is_some_and(|h| !h.is_empty() && h.len() <= 64), "{ty}.{name}: short help");
        }
    }
    // An alias names one of its option's words.
    let method = &schema["sections"]["interface"]["options"]["track_method"];
    assert_eq!(method["aliases"], serde_json::json!({"ping": "icmp"}));
    for (ty, section) in schema["sections"].as_object().unwrap() {
        for (name, option) in section["options"].as_object().unwrap() {
            for word in option.get("aliases").and_then(|a| a.as_object()).into_iter().flat_map(|a| a.values()) {
                assert!(option["words"].as_array().unwrap().contains(word), "{ty}.{name}: alias of {word}");
            }
        }
    }
    assert_eq!(schema["sections"]["interface"]["max"], 8);
    assert_eq!(schema["sections"]["interface"]["one_of"], serde_json::json!(["device", "network"]));
}

/// The schema names exactly the options the reader knows, and their defaults are what
/// `dualwan check` prints for options left unset.
#[test]
fn schema_options_are_the_readers_and_their_defaults_are_printed() {
    let (_, schema) = schema();
    let options = |ty: &str| schema["sections"][ty]["options"].as_object().unwrap().clone();

    // Every option set (to a value that may well be wrong): no "unknown option" warning.
    let mut text = String::from("config globals 'globals'\n");
    for name in options("globals").keys() {
        text += &format!("\toption {name} 'x'\n");
    }
    text += "\toption colour 'red'\nconfig interface 'wan'\n";
    for name in options("interface").keys() {
        text += &format!("\toption {name} 'x'\n");
    }
    text += "config rule 'r'\n";
    for name in options("rule").keys() {
        text += &format!("\toption {name} 'x'\n");
    }
    let (_, _, err) = check(&text);
    let unknown: Vec<&str> = err.lines().filter(|l| l.contains("unknown option")).collect();
    assert_eq!(unknown, ["FILE:10: unknown option 'colour' in globals 'globals' ignored (warning)"], "{err}");

    // wanb in GOOD sets only device, metric and track_ip.
    let (code, out, err) = check(GOOD);
    assert_eq!((code, err.as_str()), (0, ""));
    let (globals, wanb) =
        (out.split("config interface").next().unwrap(), out.split("config interface 'wanb'").nth(1).unwrap());
    for (ty, printed, set) in
        [("globals", globals, &["log_level"][..]), ("interface", wanb, &["device", "metric", "track_ip"])]
    {
        for (name, option) in options(ty) {
            match option["default"].as_str() {
                Some(d) if !set.contains(&name.as_str()) => {
                    assert!(
                        printed.contains(&format!("\toption {name} '{d}'\n")),
                        "{ty}.{name} default {d}:\n{printed}"
                    )
                }
                _ => {}
            }
        }
    }
}

/// Balance mode allows equal metrics (failover still refuses them); each class of error of
/// a `config rule` names its line.
#[test]
fn balance_and_rules_errors_name_their_lines() {
    let balance = GOOD.replace("\toption metric '20'", "\toption metric '10'\n\toption weight '3'");
    let (code, _, err) = check(&balance);
    assert_eq!(code, 1, "failover: equal metrics refused");
    assert!(err.contains("metric 10 is already used by interface 'wan'"), "{err}");
    let balance =
        balance.replace("\toption log_level 'notice'", "\toption log_level 'notice'\n\toption mode 'balance'");
    let (code, out, err) = check(&balance);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("\toption mode 'balance'\n") && out.contains("\toption weight '3'\n"), "{out}");

    // GOOD has 13 lines; the rule starts on line 15.
    let rule = |body: &str| format!("{GOOD}\nconfig rule 'voip'\n{body}");
    let cases: &[(String, &str)] = &[
        (
            rule("\tlist use 'lte'\n"),
            "FILE:16: option 'use' in rule 'voip': 'lte' is not an interface section (config interface 'lte') nor 'balance'",
        ),
        (rule("\toption dest_port '5060'\n"), "FILE:16: option 'dest_port' in rule 'voip': '5060' needs proto tcp or udp (proto is 'all')"),
        (
            rule("\toption proto 'udp'\n\toption dest_port '5060,70000'\n"),
            "FILE:17: option 'dest_port' in rule 'voip': '70000' is not a port (1-65535) or a range a-b",
        ),
        (
            rule("\toption src_ip '192.0.2.130'\n\toption dest_ip '2001:db8::/32'\n"),
            "FILE:17: option 'dest_ip' in rule 'voip': '2001:db8::/32' is IPv6 but src_ip is IPv4: a rule is of one family",
        ),
        (
            rule("\toption src_ip '192.0.2.130'\n\toption family 'ipv6'\n"),
            "FILE:17: option 'family' in rule 'voip': 'ipv6' does not match src_ip '192.0.2.130', an IPv4 address",
        ),
        (rule("\toption src_ip '192.0.2.130/24'\n"), "FILE:16: option 'src_ip' in rule 'voip': '192.0.2.130/24' has host bits set: the prefix is 192.0.2.0/24"),
        (rule("\tlist use 'wan'\n\tlist use 'wan'\n"), "FILE:17: option 'use' in rule 'voip': 'wan' is listed twice"),
    ];
    for (text, want) in cases {
        let (code, _, err) = check(text);
        assert_eq!(code, 1, "{want}");
        assert!(err.lines().any(|l| l == *want), "want {want:?} in:\n{err}");
    }

    // 17 rules; 80 kernel rules and one more.
    let mut many = GOOD.to_string();
    for i in 0..17 {
        many += &format!("config rule 'r{i}'\n\tlist use 'wan'\n");
    }
    let (code, _, err) = check(&many);
    assert_eq!(code, 1);
    assert!(err.contains("FILE:46: more than 16 rule sections"), "{err}");
    let mut wide = GOOD.to_string();
    for i in 0..9 {
        let ports: Vec<String> = (0..9).map(|p| (1000 + i * 100 + p).to_string()).collect();
        wide += &format!("config rule 'w{i}'\n\toption proto 'tcp'\n\toption dest_port '{}'\n", ports.join(","));
    }
    let (code, _, err) = check(&wide);
    assert_eq!(code, 1);
    assert!(
        err.contains("FILE:38: rule 'w8': needs 9 kernel rules (one per port combination), 81 in all: more than the 80 priorities rule_priority+10 to +89 hold"),
        "{err}"
    );
}
