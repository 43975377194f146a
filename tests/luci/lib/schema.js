// The status reply's schema (src/status.rs), checked strictly: key order, optional
// keys and how they go together. Returns a list of problems (empty: the reply fits).
//
// Dual stack: an interface with an IPv6 track_ip has the IPv6 keys (address6, gateway6,
// active6, status6 .. transitions6, gateway_probe6), the reply has `active6` when an
// enabled interface has them, and history entries name their `family`. Replies of a
// daemon without IPv6 support have none of these and still fit.
//
// Balance mode: `active` names every WAN sharing the traffic, separated by spaces; each
// interface has `weight`, `share` and `tier` (`share6`, `tier6` with IPv6 targets), the
// shares of those carrying traffic adding up to about 100. `rules` (when the config has
// `config rule` sections) holds per rule `priority` and `via` / `via6`.
'use strict';
const { isIPv6 } = require('net');

const WAN_STATES = ['online', 'offline', 'connecting', 'disconnecting', 'disabled', 'no_link'];
const TARGET_STATES = ['up', 'down', 'unknown'];
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function keysIn(obj, order, optional, where, out) {
	const keys = Object.keys(obj);
	const want = order.filter(k => !optional.includes(k) || k in obj);
	if (keys.join(',') !== want.join(','))
		out.push(`${where}: keys ${keys.join(',')} (want ${want.join(',')})`);
}

const isUint = v => Number.isInteger(v) && v >= 0;
// As Rust prints an Ipv6Addr: lower case, no zone. (Literal targets only: a colon means IPv6.)
const isV6 = v => typeof v === 'string' && isIPv6(v) && v === v.toLowerCase() && !v.includes('%');
const isIP = v => IPV4.test(v) || isV6(v);
const linkLocal6 = v => /^fe[89ab][0-9a-f]:/.test(v);
const isMs = v => typeof v === 'number' && v >= 0 && Math.abs(v * 10 - Math.round(v * 10)) < 1e-9;

// `method` and `port` came with TCP probes: a reply of an older daemon has neither.
function checkProbe(t, where, out, gateway) {
	keysIn(t, ['ip', 'method', 'port', 'status', 'latency', 'jitter', 'packetloss', 'last_rtt'],
		['method', 'port', 'latency', 'jitter', 'last_rtt'], where, out);
	if (!isIP(t.ip)) out.push(`${where}: ip ${t.ip}`);
	if ('method' in t && !['icmp', 'tcp'].includes(t.method)) out.push(`${where}: method ${t.method}`);
	if (('port' in t) !== (t.method === 'tcp')) out.push(`${where}: port if and only if method tcp`);
	if ('port' in t && !(isUint(t.port) && t.port >= 1 && t.port <= 65535)) out.push(`${where}: port ${t.port}`);
	if (gateway && 'method' in t && t.method !== 'icmp') out.push(`${where}: a gateway is pinged, not ${t.method}`);
	if (!TARGET_STATES.includes(t.status)) out.push(`${where}: status ${t.status}`);
	for (const k of ['latency', 'jitter', 'last_rtt'])
		if (k in t && !isMs(t[k])) out.push(`${where}: ${k} ${t[k]} is not ms with one decimal`);
	if (!isUint(t.packetloss) || t.packetloss > 100) out.push(`${where}: packetloss ${t.packetloss}`);
	if (t.status === 'up' && !('last_rtt' in t)) out.push(`${where}: up without last_rtt`);
	if (t.status !== 'up' && 'last_rtt' in t) out.push(`${where}: last_rtt while ${t.status}`);
	if (t.status === 'unknown' && ('latency' in t || 'jitter' in t || t.packetloss !== 0))
		out.push(`${where}: unknown target with measurements`);
	if ('jitter' in t && !('latency' in t)) out.push(`${where}: jitter without latency`);
}

/* One family's state (sfx '' for IPv4, '6' for IPv6) of interface w. */
function checkFamily(r, name, w, sfx, out) {
	const at = `interfaces.${name}`, k = key => key + sfx;
	if (!WAN_STATES.includes(w[k('status')])) out.push(`${at}: ${k('status')} ${w[k('status')]}`);
	if (!isUint(w[k('online')]) || !isUint(w[k('offline')])) out.push(`${at}: ${k('online')}/${k('offline')}`);
	const up = w[k('status')] === 'online' || w[k('status')] === 'disconnecting';
	if ((up && w[k('offline')] !== 0) || (!up && w[k('online')] !== 0)) out.push(`${at}: ${k('online')}/${k('offline')} vs ${k('status')}`);
	if (w[k('online')] > r.uptime || w[k('offline')] > r.uptime) out.push(`${at}: ${k('status')} longer than uptime`);
	if (typeof w[k('reason')] !== 'string' || !w[k('reason')]) out.push(`${at}: ${k('reason')}`);
	if (!isUint(w[k('transitions')])) out.push(`${at}: ${k('transitions')}`);
	const carriers = String(r[k('active')] || '').split(' ');
	if (w[k('active')] !== carriers.includes(name)) out.push(`${at}: ${k('active')} disagrees with reply.${k('active')}`);
	if (w[k('active')] && w[k('status')] === 'disabled') out.push(`${at}: ${k('active')} while ${k('status')} is disabled`);
	const probe = 'gateway_probe' + sfx;
	if (probe in w) {
		if (!(k('gateway') in w)) out.push(`${at}: ${probe} without ${k('gateway')}`);
		else if (w[probe].ip !== w[k('gateway')]) out.push(`${at}: ${probe} ip`);
		checkProbe(w[probe], `${at}.${probe}`, out, true);
	}
}

const V6_KEYS = ['address6', 'gateway6', 'active6', 'status6', 'online6', 'offline6', 'reason6', 'transitions6',
	'confirmations6', 'quality6', 'gateway_probe6'];

/* A family's `quality`: its last 16 probes to its targets, and the thresholds when on. */
function checkQuality(q, where, out) {
	const limits = ['failure_latency', 'recovery_latency', 'failure_loss', 'recovery_loss'];
	keysIn(q, ['check', 'latency', 'packetloss', 'probes'].concat(limits), ['latency'].concat(limits), where, out);
	if (typeof q.check !== 'boolean') out.push(`${where}: check`);
	if ('latency' in q && !isMs(q.latency)) out.push(`${where}: latency ${q.latency} is not ms with one decimal`);
	if (!isUint(q.packetloss) || q.packetloss > 100) out.push(`${where}: packetloss`);
	if (!isUint(q.probes) || q.probes > 16) out.push(`${where}: probes`);
	if (limits.some(k => k in q) !== q.check) out.push(`${where}: thresholds if and only if check`);
	if (q.check && !(q.recovery_loss < q.failure_loss && q.recovery_latency < q.failure_latency))
		out.push(`${where}: recovery not stricter than failure`);
}

function checkReply(r) {
	const out = [];
	keysIn(r, ['version', 'uptime', 'mode', 'active', 'active6', 'interfaces', 'rules', 'history'], ['active6', 'rules'], 'reply', out);
	if (typeof r.version !== 'string') out.push('version');
	if (!isUint(r.uptime)) out.push('uptime');
	if (r.mode !== 'failover' && r.mode !== 'balance') out.push('mode');
	const balance = r.mode === 'balance';
	for (const a of ['active', 'active6']) {
		const names = a in r ? String(r[a]).split(' ').filter(n => n) : [];
		if (a in r && (typeof r[a] !== 'string' || names.some(n => !(n in r.interfaces)))) out.push(`${a} ${r[a]}`);
		if (!balance && names.length > 1) out.push(`${a}: several WANs in failover mode`);
	}
	for (const [name, rule] of Object.entries(r.rules || {})) {
		keysIn(rule, ['priority', 'via', 'via6'], ['via', 'via6'], `rules.${name}`, out);
		if (!isUint(rule.priority)) out.push(`rules.${name}: priority`);
		for (const k of ['via', 'via6'])
			if (k in rule && !(['main', 'unreachable', 'blackhole'].includes(rule[k]) ||
				(rule[k] !== '' && rule[k].split(' ').every(n => n in r.interfaces))))
				out.push(`rules.${name}: ${k} ${rule[k]}`);
	}
	const dual = Object.values(r.interfaces || {}).some(w => w.enabled === true && 'status6' in w);
	if (dual !== ('active6' in r)) out.push('active6 is there if and only if an enabled interface has IPv6 targets');

	for (const [name, w] of Object.entries(r.interfaces || {})) {
		const at = `interfaces.${name}`;
		const v4 = (w.track_ip || []).filter(t => !String(t.ip).includes(':')).length;
		const v6 = (w.track_ip || []).length - v4;
		if (!/^[A-Za-z0-9_]{1,32}$/.test(name)) out.push(`${at}: bad section name`);
		const BALANCE_KEYS = ['weight', 'share', 'tier', 'share6', 'tier6'];
		keysIn(w, ['enabled', 'device', 'network', 'address', 'gateway', 'address6', 'gateway6', 'metric', 'active', 'active6',
			'weight', 'share', 'tier', 'share6', 'tier6',
			'status', 'online', 'offline', 'reason', 'transitions', 'status6', 'online6', 'offline6', 'reason6', 'transitions6',
			'flushed', 'confirmations', 'confirmations6', 'quality', 'quality6', 'track_ip', 'gateway_probe', 'gateway_probe6'],
		['network', 'address', 'gateway', 'gateway_probe', 'confirmations', 'quality'].concat(V6_KEYS, BALANCE_KEYS), at, out);
		// A daemon before check_quality has neither; one after has both, for each family it tracks.
		if (('confirmations' in w) !== ('quality' in w)) out.push(`${at}: confirmations and quality come together`);
		for (const sfx of ['', '6'])
			if (('quality' + sfx) in w)
				checkQuality(w['quality' + sfx], `${at}.quality${sfx}`, out);
		if ('confirmations' in w && !isUint(w.confirmations)) out.push(`${at}: confirmations`);
		if (balance) {
			if (!isUint(w.weight) || w.weight < 1 || w.weight > 100) out.push(`${at}: weight`);
			if (!isUint(w.share) || w.share > 100 || (w.share > 0) !== w.active) out.push(`${at}: share vs active`);
			if (typeof w.tier !== 'boolean') out.push(`${at}: tier`);
		} else {
			for (const k of BALANCE_KEYS)
				if (k in w) out.push(`${at}: ${k} in failover mode`);
		}
		if (typeof w.enabled !== 'boolean') out.push(`${at}: enabled`);
		if (typeof w.device !== 'string' || !w.device) out.push(`${at}: device`);
		if ('network' in w && !/^[A-Za-z0-9_]{1,15}$/.test(w.network)) out.push(`${at}: network`);
		for (const k of ['address', 'gateway'])
			if (k in w && !IPV4.test(w[k])) out.push(`${at}: ${k}`);
		if ('address6' in w && (!isV6(w.address6) || linkLocal6(w.address6))) out.push(`${at}: address6 is not a global IPv6 address`);
		if ('gateway6' in w && !isV6(w.gateway6)) out.push(`${at}: gateway6`);
		if (!isUint(w.metric) || w.metric > 65535) out.push(`${at}: metric`);
		checkFamily(r, name, w, '', out);
		if (!isUint(w.flushed)) out.push(`${at}: flushed`);
		if (w.enabled === false && w.status !== 'disabled') out.push(`${at}: disabled interface not "disabled"`);
		if (w.enabled === true && !v4 && (w.status !== 'disabled' || w.reason !== 'no IPv4 track_ip'))
			out.push(`${at}: no IPv4 targets, but not disabled for IPv4 with reason "no IPv4 track_ip"`);
		if (w.enabled === true && v4 && w.status === 'disabled') out.push(`${at}: enabled with IPv4 targets, yet disabled`);
		if (!Array.isArray(w.track_ip) || w.track_ip.length < 1 || w.track_ip.length > 8) out.push(`${at}: track_ip count`);
		(w.track_ip || []).forEach((t, i) => {
			checkProbe(t, `${at}.track_ip[${i}]`, out);
			if (linkLocal6(String(t.ip))) out.push(`${at}.track_ip[${i}]: link-local target`);
		});
		const ips = (w.track_ip || []).map(t => t.ip);
		if (new Set(ips).size !== ips.length) out.push(`${at}: a target listed twice`);
		const ways = (w.track_ip || []).map(t => `${t.method}/${t.port}`);
		if (new Set(ways).size > 1) out.push(`${at}: targets probed different ways (one track_method, one track_port)`);
		if (v6) {
			for (const k of ['active6', 'status6', 'online6', 'offline6', 'reason6', 'transitions6'])
				if (!(k in w)) out.push(`${at}: IPv6 targets without ${k}`);
			if (!out.some(p => p.startsWith(`${at}: IPv6 targets without`))) {
				checkFamily(r, name, w, '6', out);
				if (w.enabled === false && w.status6 !== 'disabled') out.push(`${at}: disabled interface not "disabled" for IPv6`);
				if (w.enabled === true && w.status6 === 'disabled') out.push(`${at}: enabled with IPv6 targets, yet disabled for IPv6`);
			}
		} else {
			for (const k of V6_KEYS)
				if (k in w) out.push(`${at}: ${k} without IPv6 targets`);
		}
	}

	if (!Array.isArray(r.history) || r.history.length > 16) out.push('history');
	let age = 0;
	const withFamily = (r.history || []).filter(e => 'family' in e).length;
	if (withFamily && withFamily !== r.history.length) out.push('history: family in some entries only');
	if ('active6' in r && withFamily !== (r.history || []).length) out.push('history: a dual-stack reply names each entry\'s family');
	(r.history || []).forEach((e, i) => {
		const at = `history[${i}]`;
		keysIn(e, ['age', 'interface', 'family', 'from', 'to', 'reason'], ['family'], at, out);
		if (!isUint(e.age) || e.age < age || e.age > r.uptime) out.push(`${at}: age (newest first)`);
		age = e.age;
		if (!(e.interface in r.interfaces)) out.push(`${at}: interface`);
		if ('family' in e && e.family !== 'ipv4' && e.family !== 'ipv6') out.push(`${at}: family ${e.family}`);
		if (!WAN_STATES.includes(e.from) || !WAN_STATES.includes(e.to) || e.from === e.to) out.push(`${at}: from/to`);
	});
	return out;
}

module.exports = { checkReply, WAN_STATES };
