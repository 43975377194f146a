//! Unit tests of the config module: value parsing, the effective config, and the option
//! tables against the fields behind them.

use super::effective::write_value;
use super::*;
use crate::options::{Section, Type, Value};

#[test]
fn seconds_accept_decimals_and_reject_the_rest() {
    assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
    assert_eq!(parse_seconds("10"), Some(Duration::from_secs(10)));
    assert_eq!(parse_seconds("1.125"), Some(Duration::from_millis(1125)));
    assert_eq!(parse_seconds("0.05"), Some(Duration::from_millis(50)));
    for bad in ["", ".5", "5.", "-1", "1e3", "0.0001", "1,5", "abc", "9999999"] {
        assert_eq!(parse_seconds(bad), None, "{bad}");
    }
}

/// Every seconds-valued option of the table says what is wrong with a number it refuses:
/// out of range before too precise, and "not a number" only for what is no number.
#[test]
fn seconds_options_say_why_a_number_is_refused() {
    fn each<T>(table: &Section<T>, checked: &mut Vec<&'static str>) {
        for opt in table.options {
            let Type::Seconds { min, max, decimals } = opt.ty else { continue };
            let why = |v: &str| super::value::parse(&opt.ty, v).err().unwrap_or_default();
            // Just above min, with one decimal more than allowed.
            let min_text = min.to_string();
            let (whole, frac) = min_text.split_once('.').unwrap_or((&min_text, ""));
            let places = usize::from(decimals);
            let precise = format!("{whole}.{frac:0<places$}1");
            let expected = match decimals {
                0 => "has decimals: whole seconds only".to_string(),
                n => format!("has more than {n} decimals"),
            };
            assert_eq!(why(&precise), expected, "{} '{precise}'", opt.name);
            if min > Duration::ZERO {
                // Below min, with more decimals than allowed: the range is what is wrong.
                assert_eq!(why("0.0001"), format!("is below {min}"), "{}", opt.name);
            }
            assert_eq!(why(&format!("{max}.0001")), format!("is above {max}"), "{}", opt.name);
            assert_eq!(why(&format!("{max}.0000")), expected, "{}: exactly max, too many decimals", opt.name);
            for junk in ["abc", ".5", "5.", "-1", "1e3", "1,5"] {
                assert!(why(junk).starts_with("is not a number of seconds"), "{} '{junk}': {}", opt.name, why(junk));
            }
            checked.push(opt.name);
        }
    }
    let mut checked = Vec::new();
    each(&options::GLOBALS, &mut checked);
    each(&options::INTERFACE, &mut checked);
    each(&options::RULE, &mut checked);
    for name in ["interval", "timeout", "recovery_wait", "balance_idle"] {
        assert!(checked.contains(&name), "{name} not among the seconds options {checked:?}");
    }
}

/// Found by fuzzing: `dualwan check` printed `option device 'ww'n0'`, which does not
/// parse; Linux allows a quote in a device name.
#[test]
fn effective_config_quotes_a_device_name() {
    let text = "config interface 'wan'\n\toption device \"ww'n0\"\n\tlist track_ip '1.1.1.1'\n";
    let config = load_str(text).0.unwrap();
    let mut out = String::new();
    write_effective(&config, &mut out).unwrap();
    assert!(out.contains("\toption device 'ww'\\''n0'\n"), "{out}");
    assert_eq!(load_str(&out).0.unwrap().wans[0].device().map(|d| d.as_str()), Some("ww'n0"));
}

/// What `--schema` gives as a default is what `dualwan check` prints for an unset option.
#[test]
fn defaults_print_as_the_table_states_them() {
    fn each<T>(table: &Section<T>, from: &T) {
        for opt in table.options {
            let Some(default) = opt.default else { continue };
            let mut out = String::new();
            write_value(&opt.ty, (opt.get)(from).expect(opt.name), &mut out).unwrap();
            assert_eq!(out, format!("'{default}'"), "{}", opt.name);
        }
    }
    each(&options::GLOBALS, &Globals::default());
    each(&options::INTERFACE, &Wan::with_defaults("wan", "eth1"));
}

/// Every word and both ends of every range fit the field behind the option.
#[test]
fn each_option_keeps_what_it_accepts() {
    fn each<T>(table: &Section<T>, mut into: T) {
        for opt in table.options {
            let values: Vec<Value<'_>> = match opt.ty {
                Type::Bool => vec![Value::Bool(false), Value::Bool(true)],
                Type::Uint { min, max, .. } => vec![Value::Uint(min), Value::Uint(max)],
                Type::Seconds { min, max, .. } => vec![Value::Seconds(min), Value::Seconds(max)],
                Type::Enum { words, .. } => (0..words.len()).map(Value::Word).collect(),
                _ => continue,
            };
            for value in values {
                (opt.set)(&mut into, value);
                assert_eq!((opt.get)(&into), Some(value), "{}", opt.name);
            }
        }
    }
    each(&options::GLOBALS, Globals::default());
    each(&options::INTERFACE, Wan::with_defaults("wan", "eth1"));
}

/// mwan3's word for ICMP echo reads as `icmp` and is printed so; the port is TCP's.
#[test]
fn ping_is_icmp_and_track_port_belongs_to_tcp() {
    let base = "config interface 'wan'\n\toption device 'eth1'\n\tlist track_ip '1.1.1.1'\n";
    // The one interface's own warning is not what this test is about.
    let other_than_single_wan = |report: &Report| -> Vec<String> {
        let others = report.warnings.iter().filter(|w| !matches!(w.problem, Problem::SingleWan { .. }));
        others.map(|w| w.display_in("F").to_string()).collect()
    };
    let (config, report) = load_str(&format!("{base}\toption track_method 'ping'\n"));
    let wan = &config.expect("valid").wans[0];
    assert_eq!((wan.track_method, wan.track_port), (TrackMethod::Icmp, 443));
    assert_eq!(other_than_single_wan(&report), Vec::<String>::new());
    let mut out = String::new();
    write_effective(&load_str(&format!("{base}\toption track_method 'ping'\n")).0.unwrap(), &mut out).unwrap();
    assert!(out.contains("\toption track_method 'icmp'\n\toption track_port '443'\n"), "{out}");

    let (config, report) = load_str(&format!("{base}\toption track_method 'tcp'\n\toption track_port '80'\n"));
    let wan = &config.expect("valid").wans[0];
    assert_eq!((wan.track_method, wan.track_port), (TrackMethod::Tcp, 80));
    assert!(wan.probes_tcp() && other_than_single_wan(&report).is_empty());

    let (config, report) = load_str(&format!("{base}\toption track_port '80'\n"));
    assert!(config.is_some());
    assert_eq!(
        other_than_single_wan(&report),
        ["F:4: option 'track_port' in interface 'wan': '80' does nothing: track_method is icmp"]
    );
    for (bad, why) in [
        ("\toption track_method 'nping-tcp'\n", "'nping-tcp' is not one of: icmp, tcp"),
        ("\toption track_port '0'\n", "'0' is below 1"),
        ("\toption track_port '65536'\n", "'65536' is above 65535"),
    ] {
        let (config, report) = load_str(&format!("{base}{bad}"));
        assert!(config.is_none(), "{bad}");
        assert!(report.errors[0].problem.to_string().ends_with(why), "{bad}: {:?}", report.errors);
    }
}

#[test]
fn booleans_follow_uci() {
    assert_eq!(parse_bool("on"), Some(true));
    assert_eq!(parse_bool("disabled"), Some(false));
    assert_eq!(parse_bool("2"), None);
}
