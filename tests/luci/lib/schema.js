// The status reply's schema (src/status.rs), checked strictly: key order, optional
// keys and how they go together. Returns a list of problems (empty: the reply fits).
'use strict';

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
const isMs = v => typeof v === 'number' && v >= 0 && Math.abs(v * 10 - Math.round(v * 10)) < 1e-9;

function checkProbe(t, where, out) {
	keysIn(t, ['ip', 'status', 'latency', 'jitter', 'packetloss', 'last_rtt'], ['latency', 'jitter', 'last_rtt'], where, out);
	if (!IPV4.test(t.ip)) out.push(`${where}: ip ${t.ip}`);
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

function checkReply(r) {
	const out = [];
	keysIn(r, ['version', 'uptime', 'mode', 'active', 'interfaces', 'history'], [], 'reply', out);
	if (typeof r.version !== 'string') out.push('version');
	if (!isUint(r.uptime)) out.push('uptime');
	if (r.mode !== 'failover') out.push('mode');
	if (typeof r.active !== 'string' || (r.active !== '' && !(r.active in r.interfaces))) out.push(`active ${r.active}`);

	for (const [name, w] of Object.entries(r.interfaces || {})) {
		const at = `interfaces.${name}`;
		if (!/^[A-Za-z0-9_]{1,32}$/.test(name)) out.push(`${at}: bad section name`);
		keysIn(w, ['enabled', 'device', 'address', 'gateway', 'metric', 'active', 'status', 'online', 'offline',
			'reason', 'transitions', 'flushed', 'track_ip', 'gateway_probe'], ['address', 'gateway', 'gateway_probe'], at, out);
		if (typeof w.enabled !== 'boolean') out.push(`${at}: enabled`);
		if (typeof w.device !== 'string' || !w.device) out.push(`${at}: device`);
		for (const k of ['address', 'gateway'])
			if (k in w && !IPV4.test(w[k])) out.push(`${at}: ${k}`);
		if (!isUint(w.metric) || w.metric > 65535) out.push(`${at}: metric`);
		if (w.active !== (r.active === name)) out.push(`${at}: active disagrees with reply.active`);
		if (!WAN_STATES.includes(w.status)) out.push(`${at}: status ${w.status}`);
		if (!isUint(w.online) || !isUint(w.offline)) out.push(`${at}: online/offline`);
		const up = w.status === 'online' || w.status === 'disconnecting';
		if ((up && w.offline !== 0) || (!up && w.online !== 0)) out.push(`${at}: online/offline vs status`);
		if (w.online > r.uptime || w.offline > r.uptime) out.push(`${at}: longer than uptime`);
		if (typeof w.reason !== 'string' || !w.reason) out.push(`${at}: reason`);
		if (!isUint(w.transitions)) out.push(`${at}: transitions`);
		if (!isUint(w.flushed)) out.push(`${at}: flushed`);
		if ((w.enabled === false) !== (w.status === 'disabled')) out.push(`${at}: enabled vs disabled status`);
		if (!Array.isArray(w.track_ip) || w.track_ip.length < 1 || w.track_ip.length > 8) out.push(`${at}: track_ip count`);
		(w.track_ip || []).forEach((t, i) => checkProbe(t, `${at}.track_ip[${i}]`, out));
		if ('gateway_probe' in w) {
			if (!('gateway' in w)) out.push(`${at}: gateway_probe without gateway`);
			else if (w.gateway_probe.ip !== w.gateway) out.push(`${at}: gateway_probe ip`);
			checkProbe(w.gateway_probe, `${at}.gateway_probe`, out);
		}
	}

	if (!Array.isArray(r.history) || r.history.length > 16) out.push('history');
	let age = 0;
	(r.history || []).forEach((e, i) => {
		const at = `history[${i}]`;
		keysIn(e, ['age', 'interface', 'from', 'to', 'reason'], [], at, out);
		if (!isUint(e.age) || e.age < age || e.age > r.uptime) out.push(`${at}: age (newest first)`);
		age = e.age;
		if (!(e.interface in r.interfaces)) out.push(`${at}: interface`);
		if (!WAN_STATES.includes(e.from) || !WAN_STATES.includes(e.to) || e.from === e.to) out.push(`${at}: from/to`);
	});
	return out;
}

module.exports = { checkReply, WAN_STATES };
