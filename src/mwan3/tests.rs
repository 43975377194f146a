//! The translation on small configs, one mwan3 feature at a time. The fixtures and the
//! binary are tested in `tests/import_mwan3.rs`.

use super::*;
use crate::uci;

fn run(mwan3: &str, network: Option<&str>) -> Import {
    let m = uci::parse(mwan3).expect("mwan3 text parses");
    let n = network.map(|n| uci::parse(n).expect("network text parses"));
    import(&m, n.as_ref()).expect("an mwan3 config")
}

/// The option and list lines of `config HEAD`, comments left out.
fn section(imp: &Import, head: &str) -> Vec<String> {
    let text = &imp.text;
    let start = text.find(&format!("config {head}\n")).unwrap_or_else(|| panic!("no config {head} in\n{text}"));
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .filter(|l| !l.starts_with("\t#"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The comment lines of `config HEAD`.
fn comments(imp: &Import, head: &str) -> String {
    let text = &imp.text;
    let start = text.find(&format!("config {head}\n")).unwrap_or_else(|| panic!("no config {head} in\n{text}"));
    let lines: Vec<&str> = text[start..].lines().skip(1).take_while(|l| l.starts_with('\t')).collect();
    lines.iter().filter(|l| l.starts_with("\t#")).copied().collect::<Vec<_>>().join("\n")
}

/// The warnings, `LINE: TEXT`, but the one of configs without a catch-all rule (tested in
/// `rules_after_a_catch_all_and_catch_alls_of_other_policies`).
fn lost(imp: &Import) -> Vec<String> {
    imp.notices
        .iter()
        .filter(|n| n.kind == Kind::NotTranslated && !n.text.starts_with("no rule takes all"))
        .map(|n| format!("{}: {}", n.line, n.text))
        .collect()
}

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    1 + text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not in\n{text}"))
}

fn has(lines: &[String], line: &str) -> bool {
    lines.iter().any(|l| l == line)
}

/// Two IPv4 lines and, with `wan6`, IPv6 on the first; the network config of them.
const NETWORK: &str = "
config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'
config interface 'wanb'
	option device 'eth2'
	option proto 'dhcp'
config interface 'lan'
	option device 'br-lan'
	option proto 'static'
";

fn iface(name: &str, family: &str, targets: &[&str]) -> String {
    let mut s = format!("\nconfig interface '{name}'\n\toption enabled '1'\n\toption family '{family}'\n");
    for t in targets {
        s += &format!("\tlist track_ip '{t}'\n");
    }
    s
}

fn member(name: &str, iface: &str, metric: u32, weight: u32) -> String {
    format!("\nconfig member '{name}'\n\toption interface '{iface}'\n\toption metric '{metric}'\n\toption weight '{weight}'\n")
}

fn policy(name: &str, members: &[&str]) -> String {
    let mut s = format!("\nconfig policy '{name}'\n");
    for m in members {
        s += &format!("\tlist use_member '{m}'\n");
    }
    s
}

fn rule(name: &str, options: &[(&str, &str)]) -> String {
    let mut s = format!("\nconfig rule '{name}'\n");
    for (k, v) in options {
        s += &format!("\toption {k} '{v}'\n");
    }
    s
}

/// wan (1.1.1.1) and wanb (9.9.9.9), members of metric 1 and 2 and both at 1, the
/// catch-all to `policy`.
fn two_lines(policy_members: &[&str], extra: &str) -> String {
    iface("wan", "ipv4", &["1.1.1.1"])
        + &iface("wanb", "ipv4", &["9.9.9.9"])
        + &member("wan_m1", "wan", 1, 1)
        + &member("wan_m2", "wan", 2, 1)
        + &member("wanb_m1", "wanb", 1, 1)
        + &member("wanb_m2", "wanb", 2, 1)
        + &policy("main", policy_members)
        + extra
        + &rule("default_rule", &[("use_policy", "main")])
}

#[test]
fn other_configs_are_not_taken_for_mwan3() {
    let not = |text: &str| import(&uci::parse(text).unwrap(), None).map(|_| ()).unwrap_err().to_string();
    assert!(not(NETWORK).contains("interface 'wan' (line 2) has option 'proto': this looks like /etc/config/network"));
    let dualwan =
        "config globals 'globals'\nconfig interface 'wan'\n\toption device 'eth1'\n\tlist track_ip '1.1.1.1'\n";
    assert!(not(dualwan).contains("has option 'device': this looks like a dualwan config"), "{}", not(dualwan));
    assert_eq!(not(""), "not an mwan3 config: it has no interface, member, policy or rule sections");
    assert!(not("config globals 'globals'\n\toption mmx_mask '0x3F00'\n").contains("no interface, member"));
    // A lone interface section is mwan3's.
    assert_eq!(run(&iface("wan", "ipv4", &["1.1.1.1"]), None).interfaces, 1);
}

#[test]
fn an_ipv4_and_an_ipv6_section_on_one_device_are_one_interface() {
    let text = iface("wan", "ipv4", &["1.1.1.1", "9.9.9.9"]) + &iface("wan6", "ipv6", &["2606:4700:4700::1111"]);
    let imp = run(&text, Some(NETWORK));
    assert_eq!((imp.interfaces, imp.enabled), (1, 1));
    let wan = section(&imp, "interface 'wan'");
    assert!(has(&wan, "option network 'wan'"), "{wan:?}");
    for t in ["1.1.1.1", "9.9.9.9", "2606:4700:4700::1111"] {
        assert!(has(&wan, &format!("list track_ip '{t}'")), "{t}: {wan:?}");
    }
    assert!(
        comments(&imp, "interface 'wan'").contains("'wan' (ipv4) and 'wan6' (line 8, ipv6) use the same device, eth1")
    );

    // Without the network config, or on different devices, they stay apart.
    let apart = run(&text, None);
    assert_eq!(apart.interfaces, 2);
    assert!(has(&section(&apart, "interface 'wan6'"), "option network 'wan6'"));
    let other = NETWORK.replace("option device '@wan'", "option device 'eth3'");
    assert_eq!(run(&text, Some(&other)).interfaces, 2);

    // PPPoE: the IPv6 interface on the session's device.
    let ppp = "config interface 'wan'\n\toption device 'eth1'\n\toption proto 'pppoe'\n\
               config interface 'wan6'\n\toption device 'pppoe-wan'\n\toption proto 'dhcpv6'\n";
    assert_eq!(run(&text, Some(ppp)).interfaces, 1);
    // netifd's dynamic child of a PPPoE interface with `ipv6 auto`.
    let dynamic = iface("wan", "ipv4", &["1.1.1.1"]) + &iface("wan_6", "ipv6", &["2606:4700:4700::1111"]);
    assert_eq!(run(&dynamic, Some(ppp)).interfaces, 1);
}

#[test]
fn a_disabled_half_of_a_pair_is_left_out() {
    let text = iface("wan", "ipv4", &["1.1.1.1"])
        + &iface("wan6", "ipv6", &["2606:4700:4700::1111"]).replace("enabled '1'", "enabled '0'");
    let imp = run(&text, Some(NETWORK));
    let wan = section(&imp, "interface 'wan'");
    assert!(!wan.iter().any(|l| l.contains("2606")), "{wan:?}");
    assert!(
        comments(&imp, "interface 'wan'").contains("'wan6' (ipv6) is disabled: its targets and settings are left out")
    );
}

#[test]
fn lte_modems_are_followed_on_their_dynamic_ipv4_interface() {
    let net = "config interface 'wwan'\n\toption proto 'qmi'\n\toption device '/dev/cdc-wdm0'\n";
    let imp = run(&iface("wwan", "ipv4", &["1.1.1.1"]), Some(net));
    assert!(has(&section(&imp, "interface 'wwan'"), "option network 'wwan_4'"));
}

#[test]
fn mwan3s_defaults_are_written_where_dualwans_differ() {
    let text = "config interface 'wan'\n\tlist track_ip '1.1.1.1'\n";
    let imp = run(text, None);
    assert_eq!(imp.enabled, 0, "mwan3 leaves an interface without `enabled` disabled");
    let wan = section(&imp, "interface 'wan'");
    assert_eq!(
        wan,
        [
            "option enabled '0'",
            "option network 'wan'",
            "option metric '1'",
            "list track_ip '1.1.1.1'",
            "option interval '10'",
            "option timeout '4'",
            "option down '5'",
            "option up '5'",
            "option flush_conntrack 'none'"
        ]
    );
    let notes = comments(&imp, "interface 'wan'");
    assert!(notes.contains("enabled is unset: mwan3 leaves such an interface disabled"), "{notes}");
    assert!(notes.contains("interval 10, timeout 4, down 5, up 5 (leave them out for dualwan's: 0.4, 0.5, 4, 3)"));

    // What the section sets is written as set, decimals too.
    let set = iface("wan", "ipv4", &["1.1.1.1"])
        + "\toption interval '0.5'\n\toption timeout '1'\n\toption down '4'\n\toption up '3'\n\toption reliability '1'\n";
    let wan = section(&run(&set, None), "interface 'wan'");
    for l in
        ["option interval '0.5'", "option timeout '1'", "option down '4'", "option up '3'", "option reliability '1'"]
    {
        assert!(has(&wan, l), "{l}: {wan:?}");
    }
}

#[test]
fn values_beyond_dualwans_ranges_are_brought_in_and_reported() {
    let text = iface("wan", "ipv4", &["1.1.1.1", "8.8.8.8"])
        + "\toption interval '120'\n\toption reliability '0'\n\toption timeout 'soon'\n\toption up '0'\n\
           \toption check_quality '1'\n\toption failure_latency '300'\n\toption recovery_latency '400'\n\
           \toption failure_loss '20'\n\toption recovery_loss '20'\n";
    let imp = run(&text, None);
    let wan = section(&imp, "interface 'wan'");
    for l in [
        "option interval '60'",
        "option reliability '1'",
        "option timeout '4'",
        "option up '1'",
        "option check_quality '1'",
        "option failure_latency '300'",
        "option recovery_latency '299'",
        "option failure_loss '20'",
        "option recovery_loss '19'",
    ] {
        assert!(has(&wan, l), "{l}: {wan:?}");
    }
    let reported = lost(&imp);
    for l in [
        "7: interval '120' is above dualwan's most, 60: written",
        "8: reliability '0' is below dualwan's least, 1: written (with 0, mwan3 counts every round good)",
        "9: timeout 'soon' is not a number of seconds: mwan3's default 4 written",
        "10: up '0' is below dualwan's least, 1: written",
        "2: recovery_latency 400 is not below failure_latency 300: dualwan needs recovery stricter than failure, 299 written",
        "2: recovery_loss 20 is not below failure_loss 20: dualwan needs recovery stricter than failure, 19 written",
    ] {
        assert!(reported.iter().any(|x| x == l), "{l}: {reported:#?}");
    }
    // More reliability than targets: mwan3 is never up; dualwan takes at most the targets.
    let text = iface("wan", "ipv4", &["1.1.1.1", "8.8.8.8"]) + "\toption reliability '3'\n";
    let imp = run(&text, None);
    assert!(has(&section(&imp, "interface 'wan'"), "option reliability '2'"));
    assert!(lost(&imp)[0].contains("reliability 3 with 2 targets: mwan3 never counts a round good"));
}

#[test]
fn targets_dualwan_cannot_probe_are_reported_and_eight_are_shared_by_the_families() {
    let text = iface("wan", "ipv4", &["dns.google", "2001:db8::1", "1.1.1.1", "1.1.1.1", "224.0.0.1"]);
    let imp = run(&text, None);
    assert_eq!(section(&imp, "interface 'wan'").iter().filter(|l| l.starts_with("list track_ip")).count(), 1);
    let reported = lost(&imp).join("\n");
    assert!(reported.contains("track_ip 'dns.google' is a host name: dualwan takes addresses only"), "{reported}");
    assert!(reported.contains("track_ip '2001:db8::1' is an IPv6 address in an ipv4 interface"));
    assert!(reported.contains("track_ip '224.0.0.1' is not an Internet host"));

    let v4 = ["1.0.0.1", "1.1.1.1", "8.8.8.8", "8.8.4.4", "9.9.9.9", "149.112.112.112"];
    let v6 = ["2606:4700:4700::1111", "2606:4700:4700::1001", "2620:fe::fe"];
    let imp = run(&(iface("wan", "ipv4", &v4) + &iface("wan6", "ipv6", &v6)), Some(NETWORK));
    let wan = section(&imp, "interface 'wan'");
    let targets: Vec<&String> = wan.iter().filter(|l| l.starts_with("list track_ip")).collect();
    assert_eq!(targets.len(), 8);
    assert_eq!(targets.iter().filter(|l| l.contains(':')).count(), 3, "IPv6 keeps all its 3: {wan:?}");
    assert!(lost(&imp).iter().any(|l| l.ends_with("2: track_ip 149.112.112.112: dualwan probes at most 8 targets")));

    // `option track_ip` is read as the list it was meant to be, and said so.
    let imp = run("config interface 'wan'\n\toption enabled '1'\n\toption track_ip '1.1.1.1'\n", None);
    assert!(has(&section(&imp, "interface 'wan'"), "list track_ip '1.1.1.1'"));
    assert!(comments(&imp, "interface 'wan'").contains("track_ip is an option, not a list"));
}

#[test]
fn an_interface_without_targets_borrows_or_is_left_out() {
    let text = iface("wan", "ipv4", &["1.1.1.1"]) + &iface("wanb", "ipv4", &[]) + &iface("wan6", "ipv6", &[]);
    let imp = run(&text, None);
    assert!(has(&section(&imp, "interface 'wanb'"), "list track_ip '1.1.1.1'"));
    assert!(lost(&imp).iter().any(|l| l.contains("'wanb' has no usable track_ip") && l.contains("'wan''s are used")));
    assert!(!imp.text.contains("config interface 'wan6'"));
    assert!(lost(&imp)
        .iter()
        .any(|l| l.contains("no usable track_ip") && l.contains("dualwan needs targets to probe")));
    assert_eq!(imp.interfaces, 2);
}

#[test]
fn track_methods() {
    let with = |method: &str| iface("wan", "ipv4", &["1.1.1.1"]) + &format!("\toption track_method '{method}'\n");
    let tcp = run(&with("nping-tcp"), None);
    let wan = section(&tcp, "interface 'wan'");
    assert!(has(&wan, "option track_method 'tcp'") && has(&wan, "option track_port '80'"), "{wan:?}");
    assert!(lost(&tcp).is_empty());
    for m in ["ping", "nping-icmp"] {
        let imp = run(&with(m), None);
        assert!(lost(&imp).is_empty() && !imp.text.contains("track_method"), "{m}");
    }
    for (m, what) in [("httping", "HTTP requests"), ("arping", "ARP"), ("nslookup", "DNS"), ("nping-udp", "UDP")] {
        let lost = lost(&run(&with(m), None)).join("\n");
        assert!(lost.contains(&format!("track_method '{m}' ({what}")), "{lost}");
        assert!(lost.contains("dualwan probes with ICMP echo here"));
    }
}

#[test]
fn flush_conntrack_moves_to_the_interface_traffic_leaves() {
    let text = two_lines(&["wan_m1", "wanb_m2"], "")
        .replace("list track_ip '1.1.1.1'\n", "list track_ip '1.1.1.1'\n\tlist flush_conntrack 'connected'\n")
        .replace("list track_ip '9.9.9.9'\n", "list track_ip '9.9.9.9'\n\tlist flush_conntrack 'ifdown'\n");
    let imp = run(&text, None);
    assert!(has(&section(&imp, "interface 'wan'"), "option flush_conntrack 'none'"));
    assert!(has(&section(&imp, "interface 'wanb'"), "option flush_conntrack 'on_switch'"));
    assert!(comments(&imp, "interface 'wan'").contains("to move connections back to 'wan'"));
    // The old words.
    let always = text
        .replace("list flush_conntrack 'connected'", "option flush_conntrack 'never'")
        .replace("list flush_conntrack 'ifdown'", "option flush_conntrack 'always'");
    let imp = run(&always, None);
    assert!(has(&section(&imp, "interface 'wanb'"), "option flush_conntrack 'on_down'"));
    assert!(has(&section(&imp, "interface 'wan'"), "option flush_conntrack 'on_switch'"));
}

#[test]
fn failover_policies_are_metrics_and_ordered_use_lists() {
    let text = two_lines(
        &["wan_m1", "wanb_m2"],
        &(policy("backup_first", &["wan_m2", "wanb_m1"])
            + &rule("lte_first", &[("dest_ip", "198.51.100.0/24"), ("use_policy", "backup_first")])),
    );
    let imp = run(&text, None);
    assert_eq!(section(&imp, "globals 'globals'"), ["option mode 'failover'", "option last_resort 'unreachable'"]);
    assert!(has(&section(&imp, "interface 'wan'"), "option metric '1'"));
    assert!(has(&section(&imp, "interface 'wanb'"), "option metric '2'"));
    assert_eq!(
        section(&imp, "rule 'lte_first'"),
        ["option dest_ip '198.51.100.0/24'", "list use 'wanb'", "list use 'wan'", "option last_resort 'unreachable'"]
    );
    // The catch-all is the globals: a note, no section.
    assert!(!imp.text.contains("config rule 'default_rule'"));
    let line = line_of(&text, "config rule 'default_rule'");
    let note = format!("# mwan3:{line}: rule 'default_rule' takes all ipv4 and ipv6 traffic to policy 'main'");
    assert!(imp.text.contains(&note), "{note}");
    assert!(lost(&imp).is_empty(), "{:?}", lost(&imp));
}

#[test]
fn balanced_policies_are_weights_and_balance() {
    let text = two_lines(
        &["wan_m1", "wanb_m1"],
        &(member("wan_m1_w3", "wan", 1, 3)
            + &policy("uneven", &["wan_m1_w3", "wanb_m1"])
            + &policy("main_default", &["wan_m1", "wanb_m1"])
            + &rule("a", &[("dest_ip", "192.0.2.1"), ("use_policy", "uneven")])
            + &rule("b", &[("dest_ip", "192.0.2.2"), ("use_policy", "main_default")])),
    )
    .replace("config policy 'main'\n", "config policy 'main'\n\toption last_resort 'default'\n");
    let imp = run(&text, None);
    assert_eq!(section(&imp, "globals 'globals'"), ["option mode 'balance'", "option last_resort 'main'"]);
    assert!(has(&section(&imp, "interface 'wanb'"), "option metric '1'"));
    // Another policy with the catch-all's tiers is `balance` alone.
    assert_eq!(
        section(&imp, "rule 'b'"),
        ["option dest_ip '192.0.2.2'", "list use 'balance'", "option last_resort 'unreachable'"]
    );
    // Other weights than the interfaces' are reported; the interfaces' apply.
    assert_eq!(
        section(&imp, "rule 'a'")[1..3],
        ["list use 'balance'".to_string(), "option last_resort 'unreachable'".into()]
    );
    assert!(lost(&imp)
        .iter()
        .any(|l| l.ends_with("policy 'uneven' weighs wan 3, wanb 1: dualwan weighs by interface, wan 1, wanb 1")));
}

#[test]
fn a_policy_balancing_some_interfaces_names_them() {
    let text = iface("wanc", "ipv4", &["8.8.8.8"])
        + &member("wanc_m3", "wanc", 3, 1)
        + &member("wanc_m1", "wanc", 1, 1)
        + &two_lines(
            &["wan_m1", "wanb_m2", "wanc_m3"],
            &(policy("pair", &["wan_m1", "wanb_m1"])
                + &policy("tiered", &["wan_m1", "wanc_m1", "wanb_m2"])
                + &policy("late", &["wanc_m1", "wan_m2", "wanb_m2"])
                + &rule("to_pair", &[("dest_ip", "192.0.2.1"), ("use_policy", "pair")])
                + &rule("to_tiered", &[("dest_ip", "192.0.2.2"), ("use_policy", "tiered")])
                + &rule("to_late", &[("dest_ip", "192.0.2.3"), ("use_policy", "late")])),
        );
    let imp = run(&text, None);
    assert_eq!(section(&imp, "globals 'globals'")[0], "option mode 'failover'");
    assert_eq!(section(&imp, "rule 'to_pair'")[1..4], ["list use 'wan'", "list use 'wanb'", "list use 'balance'"]);
    // A balanced first tier keeps its balance and loses its fallback.
    assert_eq!(section(&imp, "rule 'to_tiered'")[1..4], ["list use 'wan'", "list use 'wanc'", "list use 'balance'"]);
    let lost = lost(&imp).join("\n");
    assert!(lost.contains("policy 'tiered' (ipv4): falling back to wanb after the first tier"), "{lost}");
    // A balanced later tier is used in order.
    assert_eq!(section(&imp, "rule 'to_late'")[1..4], ["list use 'wanc'", "list use 'wan'", "list use 'wanb'"]);
    assert!(lost.contains("policy 'late' (ipv4): wan, wanb share a tier: dualwan uses them in order"));
}

#[test]
fn a_policy_that_differs_between_families_is_one_rule_each() {
    let text = iface("wan", "ipv4", &["1.1.1.1"])
        + &iface("wanb", "ipv4", &["9.9.9.9"])
        + &iface("wan6", "ipv6", &["2606:4700:4700::1111"])
        + &iface("wanb6", "ipv6", &["2620:fe::fe"])
        + &member("wan_m1", "wan", 1, 1)
        + &member("wanb_m1", "wanb", 1, 1)
        + &member("wan6_m1", "wan6", 1, 1)
        + &member("wanb6_m2", "wanb6", 2, 1)
        + &member("wan6_m2", "wan6", 2, 1)
        + &member("wanb6_m1", "wanb6", 1, 1)
        + &policy("main", &["wan_m1", "wan6_m1", "wanb6_m2"])
        + &policy("mixed", &["wan_m1", "wanb_m1", "wanb6_m1", "wan6_m2"])
        + &policy("same", &["wan_m1", "wan6_m1"])
        + &rule("to_mixed", &[("proto", "tcp"), ("use_policy", "mixed")])
        + &rule("to_same", &[("proto", "udp"), ("use_policy", "same")])
        + &rule("ping6", &[("proto", "ipv6-icmp"), ("use_policy", "same")])
        + &rule("default_rule", &[("use_policy", "main")]);
    let imp = run(&text, None);
    assert_eq!(
        section(&imp, "rule 'to_mixed'"),
        [
            "option proto 'tcp'",
            "option family 'ipv4'",
            "list use 'wan'",
            "list use 'wanb'",
            "list use 'balance'",
            "option last_resort 'unreachable'"
        ]
    );
    assert_eq!(
        section(&imp, "rule 'to_mixed_2'"),
        [
            "option proto 'tcp'",
            "option family 'ipv6'",
            "list use 'wanb6'",
            "list use 'wan6'",
            "option last_resort 'unreachable'"
        ]
    );
    // One family's interfaces do not carry the other's: one rule says both.
    assert_eq!(section(&imp, "rule 'to_same'")[1..3], ["list use 'wan'", "list use 'wan6'"]);
    assert_eq!(section(&imp, "rule 'ping6'")[..3], ["option proto 'icmp'", "option family 'ipv6'", "list use 'wan6'"]);
    // wanb is in no policy the catch-all uses: it comes last, reported.
    assert!(has(&section(&imp, "interface 'wanb'"), "option metric '4'"));
    assert!(lost(&imp).iter().any(|l| l.contains("not in policy 'main', which takes all traffic")));
}

#[test]
fn rules_after_a_catch_all_and_catch_alls_of_other_policies() {
    let text = iface("wanb6", "ipv6", &["2620:fe::fe"])
        + &member("wanb6_m1", "wanb6", 1, 1)
        + &two_lines(
            &["wan_m1", "wanb_m2"],
            &(policy("backup", &["wanb_m1", "wanb6_m1"])
                + &rule("v6_all", &[("dest_ip", "::/0"), ("use_policy", "backup")])
                + &rule("v6_late", &[("dest_ip", "2001:db8::1"), ("use_policy", "main")])),
        )
        + &rule("late", &[("src_ip", "192.168.1.5"), ("use_policy", "backup")]);
    let imp = run(&text, None);
    // A catch-all of another policy is a rule without selectors.
    assert_eq!(
        section(&imp, "rule 'v6_all'"),
        ["option family 'ipv6'", "list use 'wanb6'", "option last_resort 'unreachable'"]
    );
    let line = line_of(&text, "config rule 'v6_late'");
    assert!(imp.text.contains(&format!(
        "# mwan3:{line}: rule 'v6_late' never matches in mwan3: rule 'v6_all' above takes all its traffic"
    )));
    assert!(imp.text.contains("rule 'late' never matches in mwan3: rule 'default_rule' above"));
    assert!(!imp.text.contains("config rule 'late'") && !imp.text.contains("config rule 'v6_late'"));
    assert!(!imp.notices.iter().any(|n| n.text.starts_with("no rule takes all")));

    // Without a catch-all: the main table took the rest; now the interfaces by metric.
    let none = iface("wan", "ipv4", &["1.1.1.1"])
        + &iface("wanb", "ipv4", &["9.9.9.9"])
        + &member("b", "wanb", 1, 1)
        + &member("a", "wan", 2, 1)
        + &policy("p", &["a", "b"])
        + &rule("one", &[("dest_ip", "192.0.2.1"), ("use_policy", "p")]);
    let imp = run(&none, None);
    assert_eq!(section(&imp, "globals 'globals'"), ["option mode 'failover'", "option last_resort 'main'"]);
    let text = "no rule takes all ipv4 traffic to a policy: mwan3 leaves what no rule takes to the main table, dualwan to the interfaces by metric";
    assert!(imp.notices.iter().any(|n| n.line == 0 && n.text == text && n.kind == Kind::NotTranslated));
    assert!(has(&section(&imp, "interface 'wanb'"), "option metric '1'"));
    assert!(imp.text.contains("\t# mwan3: not translated: no rule takes all ipv4 traffic"));
}

#[test]
fn rule_selectors() {
    let net = NETWORK.to_string() + "config interface 'guest'\n\toption type 'bridge'\n\toption ifname 'eth0.3'\n";
    let rules = rule("list", &[("dest_ip", "198.51.100.7, 203.0.113.0/255.255.255.0"), ("use_policy", "main")])
        + &rule(
            "bits",
            &[
                ("src_ip", "192.168.1.77/24"),
                ("proto", "udp"),
                ("src_port", "5060"),
                ("dest_port", "10000:20000,5004"),
                ("use_policy", "main"),
            ],
        )
        + &rule("ping", &[("proto", "icmp"), ("dest_port", "80"), ("use_policy", "main")])
        + &rule("guest", &[("src_iface", "guest"), ("use_policy", "main")])
        + &rule("lan", &[("src_iface", "lan"), ("sticky", "1"), ("logging", "1"), ("use_policy", "main")])
        + &rule("nodev", &[("src_iface", "nowhere"), ("use_policy", "main")])
        + &rule("set", &[("ipset", "streaming"), ("use_policy", "main")])
        + &rule("gre", &[("proto", "gre"), ("use_policy", "main")])
        + &rule("main_table", &[("dest_ip", "10.0.0.0/8"), ("use_policy", "default")])
        + &rule("drop", &[("dest_ip", "10.0.0.0/8"), ("use_policy", "blackhole")])
        + &rule("no_policy", &[("dest_ip", "10.0.0.0/8")])
        + &rule("name_of_sixteen_", &[("dest_ip", "10.0.0.0/8"), ("use_policy", "main")])
        + &rule("bad_port", &[("proto", "tcp"), ("dest_port", "https"), ("use_policy", "main")])
        + &rule("mixed", &[("src_ip", "192.168.1.0/24"), ("dest_ip", "2001:db8::/32"), ("use_policy", "main")]);
    let imp = run(&two_lines(&["wan_m1", "wanb_m2"], &rules), Some(&net));
    let tail = ["list use 'wan'", "list use 'wanb'", "option last_resort 'unreachable'"];
    assert_eq!(section(&imp, "rule 'list'"), [&["option dest_ip '198.51.100.7'"][..], &tail].concat());
    assert_eq!(section(&imp, "rule 'list_2'"), [&["option dest_ip '203.0.113.0/24'"][..], &tail].concat());
    assert_eq!(
        section(&imp, "rule 'bits'")[..4],
        [
            "option src_ip '192.168.1.0/24'",
            "option proto 'udp'",
            "option src_port '5060'",
            "option dest_port '10000-20000,5004'"
        ]
    );
    assert_eq!(section(&imp, "rule 'ping'")[..2], ["option proto 'icmp'", "option family 'ipv4'"]);
    assert!(comments(&imp, "rule 'ping'").contains("dest_port '80' without proto tcp or udp: mwan3 ignores it too"));
    assert_eq!(section(&imp, "rule 'guest'")[0], "option src_iface 'br-guest'");
    assert_eq!(section(&imp, "rule 'lan'")[0], "option src_iface 'br-lan'");
    let lost = lost(&imp).join("\n");
    for l in [
        "sticky (for 600 s): dualwan keeps each connection on its interface but does not keep a source address on one",
        "logging: dualwan logs its decisions, not the packets a rule matches",
        "rule 'nodev': src_iface 'nowhere': the network config gives no device for it",
        "rule 'set': ipset 'streaming': dualwan's rules select by address, port and incoming device, not by set",
        "rule 'gre': proto 'gre': dualwan's rules take tcp, udp, icmp or all",
        "rule 'main_table': use_policy 'default' (the main table)",
        "rule 'drop': use_policy 'blackhole'",
        "rule 'bad_port': dest_port 'https' is not ports dualwan takes",
    ] {
        assert!(lost.contains(l), "{l}: {lost}");
    }
    for gone in ["nodev", "set", "gre", "main_table", "drop", "no_policy", "name_of_sixteen_", "bad_port", "mixed"] {
        assert!(!imp.text.contains(&format!("config rule '{gone}'")), "{gone}");
    }
    assert!(imp.text.contains("rule 'no_policy' has no use_policy: mwan3 ignores it"), "{}", imp.text);
    assert!(imp.text.contains("rule 'name_of_sixteen_': its name is longer than 15 characters, so mwan3 skips it"));
    assert!(imp.text.contains("rule 'mixed' never matches in mwan3: its addresses and family disagree"));
}

#[test]
fn dualwans_limits_on_rules_and_interfaces() {
    let rules: String = (0..17)
        .map(|i| rule(&format!("r{i}"), &[("dest_ip", &format!("192.0.2.{i}")), ("use_policy", "main")]))
        .collect();
    let imp = run(&two_lines(&["wan_m1", "wanb_m2"], &rules), None);
    assert!(imp.text.contains("config rule 'r15'") && !imp.text.contains("config rule 'r16'"));
    assert!(lost(&imp).iter().any(|l| l.contains("rule 'r16': more than 16 rules: dualwan takes no more")));

    let ports = rule(
        "many",
        &[
            ("proto", "tcp"),
            ("src_port", "1,2,3,4,5,6,7,8,9"),
            ("dest_port", "1,2,3,4,5,6,7,8,9"),
            ("use_policy", "main"),
        ],
    );
    let imp = run(&two_lines(&["wan_m1", "wanb_m2"], &ports), None);
    assert!(lost(&imp).iter().any(|l| l.contains("more than 80 port combinations in all rules")));

    let nine: String = (1..=9).map(|i| iface(&format!("wan{i}"), "ipv4", &["1.1.1.1"])).collect();
    let imp = run(&nine, None);
    assert_eq!(imp.interfaces, 8);
    assert!(lost(&imp).iter().any(|l| l.ends_with("more than 8 interfaces: dualwan takes 8")));
}

#[test]
fn weights_are_brought_into_dualwans_range() {
    let text = |a: u32, b: u32| {
        iface("wan", "ipv4", &["1.1.1.1"])
            + &iface("wanb", "ipv4", &["9.9.9.9"])
            + &member("a", "wan", 1, a)
            + &member("b", "wanb", 1, b)
            + &policy("p", &["a", "b"])
            + &rule("all", &[("use_policy", "p")])
    };
    let weights = |imp: &Import| {
        let w =
            |name: &str| section(imp, &format!("interface '{name}'")).iter().find(|l| l.contains("weight")).cloned();
        (w("wan"), w("wanb"))
    };
    // Proportions kept exactly where they can be.
    let imp = run(&text(1000, 500), None);
    assert_eq!(weights(&imp), (Some("option weight '2'".into()), None));
    assert!(lost(&imp).is_empty());
    let imp = run(&text(150, 149), None);
    assert_eq!(weights(&imp), (Some("option weight '100'".into()), Some("option weight '99'".into())));
    assert!(lost(&imp).iter().any(|l| l == "0: weights above 100: scaled down, proportions rounded"));
    let imp = run(&text(0, 2), None);
    assert_eq!(weights(&imp), (None, Some("option weight '2'".into())));
}

#[test]
fn failover_needs_metrics_of_their_own() {
    // Two unpaired sections of one line, both at metric 1: the IPv6 one moves up one.
    let text = iface("wan", "ipv4", &["1.1.1.1"])
        + &iface("wan6", "ipv6", &["2606:4700:4700::1111"])
        + &member("a", "wan", 1, 1)
        + &member("b", "wan6", 1, 1)
        + &policy("p", &["a", "b"])
        + &rule("all", &[("use_policy", "p")]);
    let imp = run(&text, None);
    assert!(has(&section(&imp, "interface 'wan'"), "option metric '1'"));
    assert!(has(&section(&imp, "interface 'wan6'"), "option metric '2'"));
    assert!(comments(&imp, "interface 'wan6'").contains("metric 1 is another interface's too"));
}

#[test]
fn a_value_with_a_newline_stays_in_its_comment() {
    let imp = run(&(iface("wan", "ipv4", &["1.1.1.1"]) + "\toption size 'a\nconfig interface x'\n"), None);
    assert!(imp
        .text
        .contains("# mwan3:6: not translated: size 'a?config interface x': dualwan's probes have a fixed size"));
    assert_eq!(imp.text.matches("\nconfig ").count(), 2, "{}", imp.text);
}

#[test]
fn globals_and_unknown_sections() {
    let text = iface("wan", "ipv4", &["1.1.1.1"])
        + "\nconfig globals 'globals'\n\toption mmx_mask '0x3F00'\n\toption logging '0'\n\toption loglevel 'info'\n\
           \tlist rt_table_lookup '100'\n\toption rtmon_interval '5'\n\nconfig gadget 'g'\n";
    let lost = lost(&run(&text, None));
    assert_eq!(
        lost,
        [
            "8: mmx_mask '0x3F00': dualwan marks no packets (its ip rules select by address, port and incoming device)",
            "11: rt_table_lookup '100': dualwan's rules look up only the main table before its own (add a rule for those routes' destinations)",
            "12: option 'rtmon_interval' of globals: not an option mwan3 reads",
            "14: section type 'gadget': mwan3 has none such, nor has dualwan",
        ]
    );
}

#[test]
fn seconds_are_written_as_dualwan_reads_them() {
    use super::source::seconds;
    let cases = [(0, "0"), (100, "0.1"), (1250, "1.25"), (10_000, "10"), (100_000, "100"), (60_005, "60.005")];
    for (ms, text) in cases {
        assert_eq!(seconds(ms), text);
    }
}
