//! mwan3's members, policies and rules → dualwan's globals (`mode`, `last_resort`), each
//! interface's `metric`, `weight` and `flush_conntrack`, and `config rule` sections.
//!
//! mwan3 sends a rule's traffic to a policy: of its members (an interface, `metric`
//! default 1, `weight` default 1; a metric above 256 leaves the member out) that are online,
//! those of the lowest metric share new connections by weight; with none online, the
//! policy's `last_resort` (`unreachable`, the default, `blackhole`, or `default`: the main
//! table). Rules (`src_ip`, `src_port`, `dest_ip`, `dest_port`, `proto` default all,
//! `src_iface` a netifd interface, `family` default any, `ipset`, `sticky` with `timeout`,
//! `logging`, `use_policy`: a policy or `default`, `unreachable`, `blackhole`) are tried in
//! file order, the first match wins, and what no rule matches uses the main table.
//!
//! dualwan has one arrangement of the interfaces (`mode`, `metric`, `weight`) for the
//! traffic no rule takes. The policy of the first rule that takes all traffic (mwan3's
//! `default_rule_v4`) gives it; that rule then needs no section of its own. Other rules get
//! `use` lists: the interfaces in order of preference (a policy whose metrics all differ),
//! `balance` alone (the globals' tiers), or the named interfaces and `balance` (one tier,
//! by weight).
//!
//! Sets and lists of interfaces are small fixed arrays ([`Wans`]) and bit masks, not
//! vectors: the binary runs on routers, and this keeps the translator small in it.
//!
//! One idea a file: `policy` reads members and policies, `rule` reads rules, `arrange`
//! decides the globals' arrangement, `uses` says what a policy is for one rule (a `use`
//! list), and `write` writes the rule sections and each interface's routing options. This
//! module holds what they share: the sets of interfaces and families, and [`translate`].

mod arrange;
mod policy;
mod rule;
mod uses;
mod write;

use super::emit::Output;
use super::lost;
use super::network::Network;
use super::source::Read;
use crate::config::MAX_WANS;
#[cfg(doc)]
use crate::route::Family;
use crate::uci::Package;
use arrange::{arrange, Arrangement};
use policy::{read_members, read_policies, LastResort, Policy};
use rule::read_rule;
use write::{write_interfaces, write_rules};

/// mwan3 skips policies and rules with longer names (they name its iptables chains).
const CHAIN_NAME_MAX: usize = 15;
/// A family set, by [`Family::index`].
type Families = [bool; 2];
const BOTH: Families = [true, true];
/// The families' names, by [`Family::index`].
const FAMILY: [&str; 2] = ["ipv4", "ipv6"];

/// Interfaces in an order, each with a metric: a policy's members of one family (sorted by
/// metric, so that each run of one metric is a tier), or the interfaces a rule uses. Each
/// interface is there at most once, so there are at most [`MAX_WANS`].
#[derive(Copy, Clone)]
struct Wans {
    len: usize,
    wan: [u8; MAX_WANS],
    metric: [u32; MAX_WANS],
}

impl Wans {
    const NONE: Wans = Wans { len: 0, wan: [0; MAX_WANS], metric: [0; MAX_WANS] };

    /// The interfaces, in order.
    fn wans(&self) -> &[u8] {
        &self.wan[..self.len]
    }

    /// Adds an interface at the end unless it is there already; its index.
    fn add(&mut self, wan: usize, metric: u32) -> usize {
        if let Some(i) = self.wans().iter().position(|&w| usize::from(w) == wan) {
            return i;
        }
        let i = self.len;
        self.wan[i] = wan as u8;
        self.metric[i] = metric;
        self.len += 1;
        i
    }

    /// By metric, keeping the order of equal ones: an insertion sort (a handful of
    /// entries), far smaller in the binary than the standard library's sorts.
    fn sort_by_metric(&mut self) {
        for i in 1..self.len {
            let mut j = i;
            while j > 0 && self.metric[j - 1] > self.metric[j] {
                self.wan.swap(j - 1, j);
                self.metric.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// Where the tier (the run of one metric) that starts at `i` ends.
    fn tier_end(&self, i: usize) -> usize {
        let mut end = i + 1;
        while end < self.len && self.metric[end] == self.metric[i] {
            end += 1;
        }
        end
    }

    /// Entry `i` shares its tier with another interface.
    fn shared(&self, i: usize) -> bool {
        self.tier_end(i) > i + 1 || (i > 0 && self.metric[i - 1] == self.metric[i])
    }

    /// The set of the interfaces, one bit each.
    fn set(&self) -> u32 {
        self.wans().iter().fold(0, |set, &w| set | 1 << w)
    }
}

/// Everything a rule's translation needs.
struct Ctx<'r, 'a> {
    read: &'r Read<'a>,
    policies: &'r [Policy<'a>],
    arr: &'r Arrangement,
}

/// Translates members, policies and rules into `out`.
pub(super) fn translate(pkg: &Package, net: &Network<'_>, read: &Read<'_>, out: &mut Output) {
    let members = read_members(pkg, read, &mut out.globals.notices);
    let policies = read_policies(pkg, &members, &mut out.globals.notices);
    let mut rules = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "rule") {
        let rule = read_rule(&s, rules.len(), net, &policies);
        rules.push(rule);
    }
    // The catch-all of IPv4 traffic if there is one (an IPv6 one may come first).
    let catch_all = (0..2).find_map(|f| rules.iter().find(|r| r.is_catch_all() && r.families[f]));
    let main = catch_all.and_then(|r| r.policy);
    let arr = arrange(read, &policies, main, out);

    let globals = &mut out.globals;
    globals.option("mode", &if arr.balance { "balance" } else { "failover" });
    let last_resort = main.map_or(LastResort::Main, |p| policies[p].last_resort);
    if let (LastResort::Blackhole, Some(p), Some(r)) = (last_resort, main, catch_all) {
        lost(&mut globals.notices, r.line, format_args!(
            "last_resort 'blackhole' of policy '{}': with no interface up dualwan's globals reject traffic (unreachable) rather than drop it",
            policies[p].name
        ));
    }
    globals.option("last_resort", &if last_resort == LastResort::Main { "main" } else { "unreachable" });

    let ctx = Ctx { read, policies: &policies, arr: &arr };
    write_rules(&ctx, &mut rules, out);
    write_interfaces(read, &arr, out);
}
