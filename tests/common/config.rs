//! dualwan's UCI config for a test, built in the order the file reads: the globals, then
//! each interface with its options.
//!
//! ```ignore
//! // The lab's two WANs (`wan` on wan1, `wanb` on wan2), back 2 s after a recovery.
//! let cfg = Config::lab().all("recovery_wait 2").write(&lab);
//! // Anything else, section by section.
//! let text = Config::new()
//!     .global("log_level 'info'")
//!     .interface("wan").device("eth1").metric(10).track(&["203.0.113.1"])
//!     .interface("wwan").network("wwan").metric(20).option("interval 0.5")
//!     .text();
//! ```
//!
//! An option is given as it stands in the file after `option ` (`"recovery_wait 2"`,
//! `"flush_conntrack 'on_down'"`), so a test shows the very words a user would write.
#![allow(dead_code)]

use super::lab::{Lab, TARGETS, TARGETS6};

/// One `config interface` section: its name and its lines, in order.
#[derive(Clone, Debug)]
struct Interface {
    name: String,
    lines: Vec<String>,
}

/// A whole config file: `config globals 'globals'` and the interface sections.
#[derive(Clone, Debug, Default)]
pub struct Config {
    globals: Vec<String>,
    interfaces: Vec<Interface>,
}

impl Config {
    /// The globals section alone, with no options.
    pub fn new() -> Config {
        Config::default()
    }

    /// The lab's two WANs with every default: `wan` on device wan1 (metric 10) and `wanb`
    /// on wan2 (metric 20), both tracking the IPv4 [`TARGETS`].
    pub fn lab() -> Config {
        Config::lab_tracking(&TARGETS)
    }

    /// The same for an IPv6 lab: both WANs track [`TARGETS`] and [`TARGETS6`].
    pub fn lab_dual_stack() -> Config {
        Config::lab_tracking(&[TARGETS, TARGETS6].concat())
    }

    fn lab_tracking(hosts: &[&str]) -> Config {
        let wan = Config::new().interface("wan").device("wan1").metric(10).track(hosts);
        wan.interface("wanb").device("wan2").metric(20).track(hosts)
    }

    /// `option OPTION` in the globals section.
    pub fn global(mut self, option: &str) -> Config {
        self.globals.push(format!("\toption {option}\n"));
        self
    }

    /// Begins `config interface 'NAME'`: what follows goes into it.
    pub fn interface(mut self, name: &str) -> Config {
        self.interfaces.push(Interface { name: name.to_string(), lines: Vec::new() });
        self
    }

    /// `option device 'DEV'` in the interface last begun.
    pub fn device(self, dev: &str) -> Config {
        self.line(format!("\toption device '{dev}'\n"))
    }

    /// `option network 'NAME'` (netifd's interface) in the interface last begun.
    pub fn network(self, name: &str) -> Config {
        self.line(format!("\toption network '{name}'\n"))
    }

    /// `option metric N` in the interface last begun.
    pub fn metric(self, metric: u32) -> Config {
        self.line(format!("\toption metric {metric}\n"))
    }

    /// One `list track_ip 'HOST'` per host, in the interface last begun.
    pub fn track(self, hosts: &[&str]) -> Config {
        hosts.iter().fold(self, |c, h| c.line(format!("\tlist track_ip '{h}'\n")))
    }

    /// `option OPTION` in the interface last begun.
    pub fn option(self, option: &str) -> Config {
        self.line(format!("\toption {option}\n"))
    }

    /// `option OPTION` in every interface begun so far.
    pub fn all(mut self, option: &str) -> Config {
        for i in &mut self.interfaces {
            i.lines.push(format!("\toption {option}\n"));
        }
        self
    }

    /// `option OPTION` in the interface named `name`, wherever it stands.
    pub fn on(mut self, name: &str, option: &str) -> Config {
        let i = self.interfaces.iter_mut().find(|i| i.name == name);
        let i = i.unwrap_or_else(|| panic!("no interface {name:?} in this config"));
        i.lines.push(format!("\toption {option}\n"));
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = String::from("config globals 'globals'\n");
        text.extend(self.globals.iter().map(String::as_str));
        for i in &self.interfaces {
            text += &format!("\nconfig interface '{}'\n", i.name);
            text.extend(i.lines.iter().map(String::as_str));
        }
        text
    }

    /// Writes the file as `dualwan.conf` in the lab's temp dir; returns its path.
    pub fn write(&self, lab: &Lab) -> String {
        let path = lab.dir().join("dualwan.conf");
        std::fs::write(&path, self.text()).expect("write config");
        path.to_string_lossy().into_owned()
    }

    fn line(mut self, line: String) -> Config {
        let last = self.interfaces.last_mut().expect("an option before any `interface(...)`");
        last.lines.push(line);
        self
    }
}
