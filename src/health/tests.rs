//! Unit tests of the health module: one family's probes driven through simulated time
//! (steady probes, confirmations, hysteresis, late and lost answers, quality), the RTT
//! estimator and the reasons' words.

use super::reason::Thousands;
use super::round::next_tick;
use super::*;
use crate::time::Duration;
use core::net::{IpAddr, Ipv4Addr};

fn wan() -> Wan {
    let mut w = Wan::with_defaults("wan", "eth1");
    for ip in [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]] {
        w.track_ip.push(Ipv4Addr::from(ip).into()).unwrap();
    }
    w
}

const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const RTT: Duration = Duration::from_millis(5);

/// Drives one health through time: probes go out at the instants the health asks
/// for, and `answer(dst)` at that moment decides who replies (after `rtt`).
struct Drive {
    h: WanHealth,
    w: Wan,
    now: Instant,
    rtt: Duration,
    /// Every probe sent: (when, destination).
    sent: Vec<(Instant, IpAddr)>,
    transitions: Vec<(Instant, Transition)>,
    pending: Vec<(Instant, IpAddr, u16)>,
}

impl Drive {
    fn new(w: Wan) -> Drive {
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        Drive { h, w, now: Instant::ZERO, rtt: RTT, sent: vec![], transitions: vec![], pending: vec![] }
    }

    /// Runs until `until`, with `answer` deciding which probes are answered.
    fn run(&mut self, until: Instant, answer: &dyn Fn(Instant, IpAddr) -> bool) {
        loop {
            let reply = self.pending.iter().map(|p| p.0).min();
            let next = [self.h.next_deadline(), reply].into_iter().flatten().min();
            let Some(t) = next.filter(|&t| t <= until) else { break };
            self.now = self.now.max(t);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
            self.pending = later;
            for (_, src, seq) in due {
                self.h.handle_reply(now, src, seq);
            }
            let mut out = vec![];
            self.h.handle_timeout(now, &self.w, Some(GW), &mut |t| out.push(t));
            let mut sent = vec![];
            self.h.start_round(now, &self.w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
            for (dst, seq) in sent {
                self.sent.push((now, dst));
                if answer(now, dst) {
                    self.pending.push((now + self.rtt, dst, seq));
                }
            }
            self.transitions.extend(out.into_iter().map(|t| (now, t)));
        }
        self.now = until;
    }

    fn run_ms(&mut self, ms: u64, answer: &dyn Fn(Instant, IpAddr) -> bool) {
        let until = self.now + Duration::from_millis(ms);
        self.run(until, answer);
    }
}

fn all(_: Instant, _: IpAddr) -> bool {
    true
}

#[test]
fn a_healthy_wan_sends_one_probe_per_interval_in_turn_and_the_gateway_now_and_then() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    assert_eq!(d.h.status(), Status::Online);
    let first = d.sent.len();
    d.run_ms(d.w.interval.as_micros() / 1000 * 40, &all);
    let steady: Vec<_> = d.sent[first..].to_vec();
    // 40 grid points in 40 intervals; the gateway with every twentieth.
    let to_targets: Vec<_> = steady.iter().filter(|(_, ip)| *ip != GW).collect();
    assert_eq!(to_targets.len(), 40);
    assert_eq!(steady.len() - to_targets.len(), 2);
    // In turn, each on a multiple of the interval.
    for pair in to_targets.windows(2) {
        assert_ne!(pair[0].1, pair[1].1);
        assert_eq!(pair[1].0.saturating_since(pair[0].0), d.w.interval);
    }
    assert!(to_targets.iter().all(|(t, _)| t.as_micros() % d.w.interval.as_micros() == 0));
    assert_eq!(d.h.confirmations(), 0);
    // Each target has a history, RTT and an adaptive timeout at the floor.
    for i in 0..3 {
        assert!(d.h.target(i).probes() >= 13);
        assert_eq!(d.h.target(i).avg_rtt(), Some(RTT));
        assert_eq!(d.h.target(i).timeout(d.w.timeout), RTO_MIN);
    }
}

#[test]
fn a_standby_wan_probes_every_other_grid_point_and_a_carrier_at_once_every_interval() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    let every = d.w.interval * STANDBY_EVERY;
    d.h.set_standby(d.now, true, &d.w);
    // The probe already planned goes out; from then on one per STANDBY_EVERY intervals, on
    // the grid's multiples of that.
    d.run_ms(d.w.interval.as_micros() / 1000 + 1, &all);
    let first = d.sent.len();
    d.run_ms(every.as_micros() / 1000 * 10, &all);
    let to_targets: Vec<_> = d.sent[first..].iter().filter(|(_, ip)| *ip != GW).copied().collect();
    assert_eq!(to_targets.len(), 10, "{to_targets:?}");
    for pair in to_targets.windows(2) {
        assert_ne!(pair[0].1, pair[1].1, "still in turn");
        assert_eq!(pair[1].0.saturating_since(pair[0].0), every);
    }
    assert!(to_targets.iter().all(|(t, _)| t.as_micros() % every.as_micros() == 0));
    // Traffic arrives (the active line failed) right after a standby probe: the next
    // probe goes at the interval's next grid point, not a whole standby step later.
    let last = to_targets.last().unwrap().0;
    d.run(last + Duration::from_millis(1), &all);
    d.h.set_standby(d.now, false, &d.w);
    let before = d.sent.len();
    d.run(last + d.w.interval, &all);
    assert_eq!(
        d.sent[before..].iter().filter(|(_, ip)| *ip != GW).map(|(t, _)| *t).collect::<Vec<_>>(),
        [last + d.w.interval]
    );
    assert_eq!(d.h.status(), Status::Online);
    assert_eq!(d.h.confirmations(), 0);
}

#[test]
fn a_silent_failure_is_confirmed_by_down_rounds_half_a_timeout_apart() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    let dead_at = d.now + Duration::from_millis(37);
    let upstream = move |t: Instant, ip: IpAddr| t < dead_at || ip == GW;
    d.run_ms(2000, &upstream);
    let (at, t) = d.transitions.iter().find(|(_, t)| t.to == Status::Offline).copied().expect("offline");
    assert_eq!(t.reason.to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
    // The first steady probe after the failure, its timeout, three half timeouts between
    // the four rounds, and the last one's timeout.
    let took = at.saturating_since(dead_at);
    let probe_at = next_tick(dead_at, d.w.interval);
    let half = Duration::from_micros(RTO_MIN.as_micros() / 2);
    let expect = probe_at.saturating_since(dead_at) + RTO_MIN + half * 3 + RTO_MIN;
    assert_eq!(took, expect, "detection");
    // The confirmation: `down` rounds to every target and the gateway, half a timeout
    // apart, the first when the steady probe timed out.
    let confirm: Vec<_> = d.sent.iter().filter(|(t, _)| *t > probe_at && *t <= at).collect();
    assert_eq!(confirm.len(), 4 * 4, "{confirm:?}");
    let starts: Vec<Instant> = confirm.iter().step_by(4).map(|(t, _)| *t).collect();
    assert_eq!(starts[0], probe_at + RTO_MIN);
    for (k, s) in starts.iter().enumerate() {
        assert_eq!(*s, starts[0] + half * k as u32);
    }
    assert_eq!(d.h.confirmations(), 1);
}

#[test]
fn a_late_wake_up_reads_every_waiting_answer_before_a_deadline_judges() {
    // Two full rounds went out; the daemon wakes only after both deadlines, with all
    // their answers waiting in the socket. Each answer ends only complete rounds; the
    // clock judges after the last one was read.
    let mut w = wan();
    w.reliability = 3;
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    let (mut sent, mut out) = (vec![], vec![]);
    h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
    h.start_round(Instant::ZERO + w.interval, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
    assert_eq!(sent.len(), 8, "two rounds of three targets and the gateway");
    let late = Instant::ZERO + w.interval + w.timeout + Duration::from_millis(1);
    for (dst, seq) in &sent {
        assert!(matches!(h.handle_reply(late, *dst, *seq), ReplyOutcome::Matched(_)));
        h.handle_complete(late, &w, Some(GW), &mut |t| out.push(t));
    }
    h.handle_timeout(late, &w, Some(GW), &mut |t| out.push(t));
    assert!(out.iter().all(|t| t.to != Status::Offline), "{out:?}");
    assert_eq!(h.status(), Status::Online);
}

#[test]
fn a_confirmation_round_sent_late_still_gets_a_whole_timeout() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    let gateway_only = |_: Instant, ip: IpAddr| ip == GW;
    while d.h.confirmations() == 0 {
        d.run_ms(1, &gateway_only);
    }
    // The daemon is not scheduled again until long after the confirmation's deadline;
    // its remaining rounds go out then, and the targets answer them.
    d.now = d.now + Duration::from_millis(500);
    d.run_ms(1000, &all);
    assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline), "{:?}", d.transitions);
    assert_eq!(d.h.status(), Status::Online);
    assert_eq!(d.h.confirmations(), 1);
}

#[test]
fn one_answer_in_a_confirmation_ends_it_and_steady_probing_resumes() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    // .1 stops answering for one turn of the steady probes: its probe is lost once.
    let first = d.sent.len();
    let lose_one = |_: Instant, ip: IpAddr| ip != IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    d.run_ms(900, &lose_one);
    d.run_ms(1000, &all);
    assert_eq!(d.h.confirmations(), 1);
    assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline));
    // Only the first confirmation round went out: 3 targets and the gateway.
    let grid = d.w.interval.as_micros();
    let after: Vec<_> = d.sent[first..].iter().filter(|(t, _)| t.as_micros() % grid != 0).collect();
    assert_eq!(after.len(), 4, "{after:?}");
    assert_eq!(d.h.status(), Status::Online);
}

/// A delay spike (a saturated uplink): answers come, but long after the adaptive
/// timeout. The steady probe that started the confirmation may answer until its
/// verdict, RTO + 1.5 RTO + RTO after it went out; later the timeout adapts.
#[test]
fn a_delay_spike_shorter_than_the_confirmation_is_no_failure() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    d.rtt = Duration::from_millis(170); // < 3.5 × RTO_MIN = 175 ms
    d.run_ms(3000, &all);
    assert!(d.h.confirmations() >= 1);
    assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline), "{:?}", d.transitions);
    assert_eq!(d.h.status(), Status::Online);
    for i in 0..3 {
        let t = d.h.target(i);
        assert!(t.timeout(d.w.timeout) > Duration::from_millis(150), "adapted: {i} {t:?} {}", d.h.confirmations());
    }
    // Longer than the confirmation's span: that is a dead line.
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    d.rtt = Duration::from_millis(185);
    d.run_ms(1000, &all);
    assert!(d.transitions.iter().any(|(_, t)| t.to == Status::Offline), "{:?}", d.transitions);
}

/// A target that is dead while the others answer does not start a confirmation every
/// time its turn comes; but once no target's newest probe was answered, any lost
/// probe does (else a line whose every target looked down could never be judged).
#[test]
fn a_dead_target_among_live_ones_is_no_news_but_all_silent_is() {
    let dead = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
    let mut d = Drive::new(wan());
    let not_dead = move |_: Instant, ip: IpAddr| ip != dead;
    d.run_ms(1000, &all);
    d.run_ms(d.w.interval.as_micros() / 1000 * 30, &not_dead);
    // Its first lost probe was news (it had answered before); the next nine are not.
    assert_eq!(d.h.confirmations(), 1);
    assert_eq!(d.h.status(), Status::Online);
    // Every target's newest probe lost (as after a delay spike): the next loss counts,
    // whoever's turn it is.
    for i in 0..3 {
        d.h.targets[i].record(None);
    }
    let next = next_tick(d.now, d.w.interval);
    d.run(next + Duration::from_millis(1), &|_, _| false);
    d.run_ms(d.w.interval.as_micros() / 1000, &not_dead);
    assert_eq!(d.h.confirmations(), 2);
}

#[test]
fn the_adaptive_timeout_follows_rfc_6298_within_its_floor_and_ceiling() {
    let mut s = TargetStats::default();
    let ceiling = Duration::from_millis(500);
    assert_eq!(s.timeout(ceiling), ceiling, "no answer yet");
    s.record(Some(Duration::from_millis(100)));
    assert_eq!(s.timeout(ceiling), Duration::from_millis(300), "R + 4 × R/2");
    s.record(Some(Duration::from_millis(100)));
    // RTTVAR = 3/4 × 50 + 0 = 37.5 ms, SRTT 100 ms.
    assert_eq!(s.timeout(ceiling), Duration::from_micros(250_000));
    s.record(None);
    assert_eq!(s.timeout(ceiling), Duration::from_micros(250_000), "a loss changes no estimate");
    for _ in 0..40 {
        s.record(Some(Duration::from_millis(2)));
    }
    assert_eq!(s.timeout(ceiling), RTO_MIN);
    s.record(Some(Duration::from_secs(3)));
    assert_eq!(s.timeout(ceiling), ceiling);
}

#[test]
fn hysteresis_needs_down_bad_and_up_good_rounds_in_a_row() {
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    assert_eq!(d.transitions[0].1.to, Status::Online);
    let gateway_only = |_: Instant, ip: IpAddr| ip == GW;
    d.run_ms(1000, &gateway_only);
    assert_eq!(d.h.status(), Status::Offline);
    assert_eq!(d.h.reason().to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
    // Recovery needs `up` good rounds, one per interval, and then `recovery_wait`.
    let back = d.now;
    // The next round starts within an interval; `up` more intervals see it through.
    d.run_ms((u64::from(d.w.up) + 1) * d.w.interval.as_micros() / 1000, &all);
    let (at, t) = *d.transitions.last().unwrap();
    assert_eq!((t.to, t.reason), (Status::Online, Reason::Recovered));
    let rounds = at.saturating_since(back).as_micros() / d.w.interval.as_micros();
    assert!(rounds <= u64::from(d.w.up), "{rounds}");
    assert_eq!(d.h.eligible_at(), at + d.w.recovery_wait);
    assert_eq!(d.h.transitions(), 3);
}

#[test]
fn a_silent_gateway_is_named_but_answers_from_targets_keep_the_wan_up() {
    let mut d = Drive::new(wan());
    let targets_only = |_: Instant, ip: IpAddr| ip != GW;
    d.run_ms(5000, &targets_only);
    assert_eq!(d.h.status(), Status::Online);
    assert_eq!(d.h.gateway().loss_percent(), 100);
    d.run_ms(1000, &|_, _| false);
    assert_eq!(d.h.reason().to_string(), "gateway 192.0.2.1 unreachable");
}

#[test]
fn replies_count_only_for_the_probe_they_answer() {
    let w = wan();
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    let mut sent = Vec::new();
    h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
    let (dst, seq) = sent[0];
    let t = Instant::from_millis(1);
    assert_eq!(h.handle_reply(t, Ipv4Addr::new(198, 51, 100, 9).into(), seq), ReplyOutcome::WrongSource);
    assert_eq!(h.handle_reply(t, dst, seq ^ 0x100), ReplyOutcome::Unknown);
    assert!(matches!(h.handle_reply(t, dst, seq), ReplyOutcome::Matched(_)));
    assert_eq!(h.handle_reply(t, dst, seq), ReplyOutcome::Duplicate);
    // Late, but its round is not judged yet: it counts (the loop reads before judging).
    let (dst2, seq2) = sent[1];
    assert!(matches!(h.handle_reply(Instant::from_millis(501), dst2, seq2), ReplyOutcome::Matched(_)));
    h.handle_timeout(Instant::from_millis(501), &w, Some(GW), &mut |_| {});
    // Judged lost, it still teaches the timeout (once), and changes nothing else.
    let (dst3, seq3) = sent[2];
    let late = ReplyOutcome::Late(Duration::from_millis(502));
    assert_eq!(h.handle_reply(Instant::from_millis(502), dst3, seq3), late);
    assert_eq!(h.target(2).last_rtt(), None, "still lost in the history");
    assert_eq!(h.target(2).timeout(w.timeout), w.timeout, "502 ms: the estimate hits the ceiling");
    assert_eq!(h.handle_reply(Instant::from_millis(503), dst3, seq3), ReplyOutcome::Unknown, "once");
    assert_eq!(h.ignored(), 4);
}

#[test]
fn a_probe_known_lost_completes_its_round_early() {
    let w = wan();
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    let mut sent = Vec::new();
    h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
    let t = Instant::from_millis(2);
    for &(d, s) in &sent[..3] {
        assert!(h.handle_lost(d, s));
    }
    assert!(!h.handle_lost(sent[0].0, sent[0].1), "known already");
    h.handle_reply(t, sent[3].0, sent[3].1);
    let mut seen = vec![];
    h.handle_timeout(t, &w, Some(GW), &mut |tr| seen.push(tr));
    assert_eq!(seen.len(), 1, "judged at once, not at the deadline");
    assert_eq!(h.reason().to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
}

/// Rounds judged without some answers name those probes once, for their TCP sockets
/// to be closed; answered and known-lost ones are not named, nor is a steady probe kept
/// open for its confirmation.
#[test]
fn judged_rounds_name_their_unanswered_probes_once() {
    let w = wan();
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    let mut sent = Vec::new();
    h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
    assert_eq!(sent.len(), 4);
    h.handle_reply(Instant::from_millis(3), sent[0].0, sent[0].1);
    assert!(h.handle_lost(sent[1].0, sent[1].1));
    let mut named = Vec::new();
    h.take_abandoned(&mut |seq| named.push(seq));
    assert!(named.is_empty(), "nothing judged yet");
    h.handle_timeout(Instant::from_millis(500), &w, Some(GW), &mut |_| {});
    h.take_abandoned(&mut |seq| named.push(seq));
    assert_eq!(named, [sent[2].1, sent[3].1], "the third target and the gateway");
    assert_eq!(slot_of(named[1]), GATEWAY_SLOT);
    h.take_abandoned(&mut |seq| named.push(seq));
    assert_eq!(named.len(), 2, "once");

    // Up and steady: a lost steady probe becomes the confirmation's trigger and stays
    // open; it is named with the confirmation's verdict.
    let mut d = Drive::new(wan());
    d.run_ms(1000, &all);
    d.h.take_abandoned(&mut |_| {});
    let steady_at = next_tick(d.now, d.w.interval);
    d.run(steady_at + RTO_MIN, &|_, _| false);
    let mut named = Vec::new();
    d.h.take_abandoned(&mut |seq| named.push(seq));
    assert!(d.h.is_confirming());
    assert!(named.is_empty(), "the trigger waits: {named:?}");
    d.run_ms(1000, &|_, _| false);
    d.h.take_abandoned(&mut |seq| named.push(seq));
    assert_eq!(d.h.status(), Status::Offline);
    // The trigger and the `down` rounds to 3 targets and the gateway.
    assert!(named.len() > 1 + 4 * 4, "{}", named.len());
}

#[test]
fn the_answer_window_covers_the_longest_wait() {
    let mut w = wan();
    assert_eq!(answer_window(&w), Duration::from_millis(500 + 500 + 250 * 3));
    w.down = 1;
    assert_eq!(answer_window(&w), Duration::from_millis(1000));
    // The steady probe's own timeout, `down` - 1 half timeouts, the last round's timeout.
    w.down = 100;
    w.timeout = Duration::from_secs(30);
    assert_eq!(answer_window(&w), Duration::from_secs(60 + 15 * 99));
}

#[test]
fn overlapping_rounds_are_judged_in_order() {
    let mut w = wan();
    w.timeout = Duration::from_millis(1000);
    w.up = 1;
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    h.start_round(Instant::ZERO, &w, None, &mut |_, _| {}, &mut |_| {});
    let mut second = Vec::new();
    let next = Instant::ZERO + w.interval;
    h.start_round(next, &w, None, &mut |d, s| second.push((d, s)), &mut |_| {});
    assert_eq!(second.len(), 3);
    for (d, s) in second {
        h.handle_reply(next + Duration::from_millis(10), d, s);
    }
    // The complete second round must wait for the first (which will fail).
    let mut seen = Vec::new();
    h.handle_timeout(next + Duration::from_millis(20), &w, None, &mut |t| seen.push(t));
    assert!(seen.is_empty());
    h.handle_timeout(Instant::from_millis(1000), &w, None, &mut |t| seen.push(t));
    assert_eq!(seen.iter().map(|t| t.to).collect::<Vec<_>>(), [Status::Offline, Status::Online]);
}

#[test]
fn link_loss_is_immediate_and_recovery_starts_from_down() {
    let mut d = Drive::new(wan());
    d.run_ms(500, &all);
    let t = d.h.link_lost(Instant::from_millis(700), Reason::CarrierLost).unwrap();
    assert_eq!((t.from, t.to, t.reason), (Status::Online, Status::NoLink, Reason::CarrierLost));
    assert!(!d.h.is_probing());
    assert_eq!(d.h.recent().probes(), 0, "the quality window starts afresh");
    assert_eq!(d.h.link_lost(Instant::from_millis(800), Reason::DeviceMissing), None);
    assert_eq!(d.h.reason(), Reason::DeviceMissing, "the newest cause is shown");
    d.h.link_usable(Instant::from_millis(900));
    assert_eq!(d.h.state(), State::Down { good_rounds: 0 });
}

#[test]
fn stats_track_loss_average_and_jitter() {
    let mut s = TargetStats::default();
    for ms in [10, 20, 10, 20] {
        s.record(Some(Duration::from_millis(ms)));
    }
    s.record(None);
    assert_eq!(s.loss_percent(), 20);
    assert_eq!(s.avg_rtt(), Some(Duration::from_millis(15)));
    assert_eq!(s.jitter(), Some(Duration::from_millis(10)));
    assert!(!s.is_up());
    for _ in 0..HISTORY {
        s.record(Some(Duration::from_millis(1)));
    }
    assert_eq!(s.loss_percent(), 0, "old losses leave the window");
    assert_eq!(s.probes(), HISTORY);
}

#[test]
fn quality_takes_an_answering_line_down_and_brings_it_back() {
    let mut w = wan();
    w.check_quality = true;
    w.failure_loss = 20;
    w.recovery_loss = 5;
    let mut d = Drive::new(w);
    d.run_ms(2000, &all);
    assert_eq!(d.h.status(), Status::Online);
    // Every other probe to each target is lost: 50 %.
    let half = |t: Instant, ip: IpAddr| ip == GW || (t.as_micros() / 1000 + u64::from(ip.is_ipv4())) % 2 == 0;
    d.run_ms(20_000, &half);
    let down = d.transitions.iter().find(|(_, t)| t.to == Status::Offline).expect("offline");
    let Reason::Loss { percent, limit: 20, recovering: false } = down.1.reason else { panic!("{:?}", down.1) };
    assert!(percent >= 20, "{percent}");
    assert_eq!(down.1.reason.to_string(), format!("loss {percent} % ≥ failure_loss 20 %"));
    // Clean again: the window drains, then `up` good rounds.
    d.run_ms(10_000, &all);
    assert_eq!(d.h.status(), Status::Online);
    assert_eq!(d.h.reason(), Reason::Recovered);
}

#[test]
fn quality_names_latency_with_thousands() {
    let mut w = wan();
    w.check_quality = true;
    w.timeout = Duration::from_secs(3);
    let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h.link_usable(Instant::ZERO);
    for _ in 0..HISTORY {
        h.recent.record(Some(Duration::from_millis(1240)));
    }
    assert_eq!(
        h.quality_failure(&w).map(|r| r.to_string()).as_deref(),
        Some("latency 1,240 ms ≥ failure_latency 1,000 ms")
    );
    assert_eq!(
        h.quality_short(&w).map(|r| r.to_string()).as_deref(),
        Some("latency 1,240 ms > recovery_latency 500 ms")
    );
    w.check_quality = false;
    assert_eq!(h.quality_failure(&w), None, "off: never");
    assert_eq!(Thousands(12).to_string(), "12");
    assert_eq!(Thousands(1_000).to_string(), "1,000");
    assert_eq!(Thousands(2_030_004).to_string(), "2,030,004");
}

#[test]
fn each_family_probes_and_judges_only_its_own_targets() {
    let mut w = wan(); // three IPv4 targets
    w.reliability = 2;
    let v6: IpAddr = "2001:db8:ff::1".parse().unwrap();
    w.track_ip.insert(1, v6).unwrap();
    let gw6: IpAddr = "fe80::1".parse().unwrap();
    let mut h6 = WanHealth::new(Instant::ZERO, &w, Family::V6);
    h6.link_usable(Instant::ZERO);
    let mut sent = Vec::new();
    h6.start_round(Instant::ZERO, &w, Some(gw6), &mut |d, s| sent.push((d, s)), &mut |_| {});
    assert_eq!(sent.iter().map(|(d, _)| *d).collect::<Vec<_>>(), [v6, gw6]);
    assert_eq!(sent[0].1 & 0x0f, 1, "the slot is the target's place in track_ip");
    // One IPv6 target: reliability 2 is capped at 1 for this family.
    h6.handle_reply(Instant::from_millis(3), v6, sent[0].1);
    h6.handle_reply(Instant::from_millis(3), gw6, sent[1].1);
    let mut seen = Vec::new();
    h6.handle_timeout(Instant::from_millis(3), &w, Some(gw6), &mut |t| seen.push(t));
    assert_eq!(h6.status(), Status::Online);
    assert_eq!(h6.target(1).probes(), 1);
    assert_eq!(h6.target(0).probes(), 0, "an IPv4 target is not IPv6's business");
    let mut h4 = WanHealth::new(Instant::ZERO, &w, Family::V4);
    h4.link_usable(Instant::ZERO);
    let mut sent = Vec::new();
    h4.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
    assert!(sent.iter().all(|(d, _)| d.is_ipv4()));
    assert_eq!(sent.len(), 4);
    // Without IPv6 targets the family is not judged at all.
    let only4 = wan();
    let none = WanHealth::new(Instant::ZERO, &only4, Family::V6);
    assert_eq!(none.status(), Status::Disabled);
    assert_eq!(none.reason().to_string(), "no IPv6 track_ip");
}
