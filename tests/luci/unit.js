// The page logic on recorded replies, and the configuration rules, under Node.
// The app's modules are loaded through the stand-in LuCI runtime (shim/luci-lite.js).
'use strict';
const assert = require('assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { test } = require('./lib/harness');
const { runtime, reply, replyNames } = require('./lib/load');
const { checkReply } = require('./lib/schema');
const { htdocs } = require('./lib/paths');

/* The app's schema.json, as config.js hands it to validate.js. */
function appSchema() {
	return JSON.parse(fs.readFileSync(path.join(htdocs, 'dualwan/schema.json'), 'utf8'));
}

let mods = null;
async function load() {
	if (!mods) {
		const rt = runtime();
		mods = { fmt: await rt.require('dualwan.format'), val: await rt.require('dualwan.validate') };
	}
	mods.val.setSchema(appSchema());
	return mods;
}

const STATUS_REPLIES = replyNames().filter(n => n !== 'not-running');

// --- the recorded replies themselves ---

for (const name of STATUS_REPLIES)
	test(`reply ${name}.json fits the daemon's status schema`, () => {
		assert.deepEqual(checkReply(reply(name)), []);
	});

test('reply not-running.json is the JSON-RPC error for a missing ubus object', () => {
	const r = reply('not-running');
	assert.equal(r.jsonrpc, '2.0');
	assert.equal(r.error.code, -32000);
	assert.equal(r.error.message, 'Object not found');
});

test('the schema check catches a wrong reply', () => {
	const r = reply('failover');
	r.interfaces.wan.online = 5;                         // offline WAN with online seconds
	delete r.interfaces.wanb.track_ip[0].last_rtt;       // up target without last_rtt
	r.history.reverse();                                 // oldest first
	const problems = checkReply(r);
	assert.ok(problems.some(p => p.includes('online/offline vs status')), problems.join('\n'));
	assert.ok(problems.some(p => p.includes('up without last_rtt')), problems.join('\n'));
	assert.ok(problems.some(p => p.includes('newest first')), problems.join('\n'));
});

test('reply dualstack-v6-failover.json: quality and confirmations per family', () => {
	const w = reply('dualstack-v6-failover').interfaces.wan;
	assert.equal(w.quality6.packetloss, 100);
	assert.equal(w.confirmations6, 4);
	const bad = reply('dualstack-v6-failover');
	bad.interfaces.wan.quality.check = true;              // on, without its thresholds
	assert.ok(checkReply(bad).some(p => p.includes('thresholds if and only if check')));
});

// --- state, durations, numbers ---

test('each WAN state has its label and colour', async () => {
	const { fmt } = await load();
	const seen = {};
	for (const s of ['online', 'offline', 'connecting', 'disconnecting', 'no_link', 'disabled']) {
		const st = fmt.wanState(s);
		seen[s] = `${st.label}/${st.tone}`;
		assert.ok(st.hint.length > 10, s);
	}
	assert.deepEqual(seen, {
		online: 'Online/ok', offline: 'Offline/bad', connecting: 'Connecting/warn',
		disconnecting: 'Disconnecting/warn', no_link: 'No link/bad', disabled: 'Disabled/off',
	});
	assert.equal(fmt.wanState('sleeping').label, 'sleeping');
	assert.equal(fmt.wanState('sleeping').tone, 'off');
});

test('durations read as a person reads them', async () => {
	const { fmt } = await load();
	const cases = [[0, '0 s'], [42, '42 s'], [60, '1 min'], [95, '1 min 35 s'], [312, '5 min 12 s'],
		[3600, '1 h'], [7500, '2 h 05 min'], [86120, '23 h 55 min'], [86400, '1 d'], [93784, '1 d 2 h'],
		[undefined, '–'], [-1, '–']];
	for (const [s, want] of cases)
		assert.equal(fmt.duration(s), want, `duration(${s})`);
	assert.equal(fmt.ago(0), 'just now');
	assert.equal(fmt.ago(95), '1 min 35 s ago');
});

test('RTT, jitter and loss formatting', async () => {
	const { fmt } = await load();
	assert.equal(fmt.ms(12.4), '12.4 ms');
	assert.equal(fmt.ms(0.4), '0.4 ms');
	assert.equal(fmt.ms(44), '44.0 ms');
	assert.equal(fmt.ms(131.7), '132 ms');
	assert.equal(fmt.ms(undefined), '—');
	assert.equal(fmt.loss(undefined), '—');
	assert.equal(fmt.loss(0), '0 %');
	assert.equal(fmt.loss(100), '100 %');
	assert.deepEqual([0, 6, 49, 50, 100, undefined].map(p => fmt.lossTone(p)), ['ok', 'warn', 'warn', 'bad', 'bad', 'off']);
});

test('WANs are shown in priority order: enabled by metric, then disabled', async () => {
	const { fmt } = await load();
	assert.deepEqual(fmt.order(reply('failover')), ['wan', 'wanb', 'wanc']);
	const r = reply('failover');
	r.interfaces.wan.metric = 40;            // now the worst enabled one
	r.interfaces.wanc.metric = 1;            // disabled stays last whatever its metric
	assert.deepEqual(fmt.order(r), ['wanb', 'wan', 'wanc']);
});

// --- whole replies -> what the user sees ---

test('balance: the headline names the WANs sharing traffic with their shares, cards their share and weight, rules their WANs', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('balance'));
	assert.equal(m.balance, true);
	assert.deepEqual(m.headline, { tone: 'ok', text: 'Traffic shared by wan (75 %), wanb (25 %).', detail: '' });
	const [wan, wanb, lte] = m.wans;
	assert.deepEqual([wan.name, wan.share, wan.weight, wan.tier, wan.active], ['wan', 75, 3, true, true]);
	assert.deepEqual([wanb.share, wanb.weight], [25, 1]);
	assert.deepEqual([lte.name, lte.share, lte.tier, lte.active], ['lte', 0, false, false]);
	assert.deepEqual(m.rules.map(r => [r.name, r.priority, r.via, r.resort]),
		[['voip', 5010, 'lte', false], ['guest', 5011, 'wan wanb', false], ['backup_only', 5012, 'blackhole', true]]);
	// wanb leaves: wan alone, and the headline says why wanb is out of the tier in use.
	const r = reply('balance');
	Object.assign(r.interfaces.wanb, { active: false, share: 0, status: 'offline', online: 0, offline: 30,
		reason: 'gateway 198.51.100.1 unreachable' });
	Object.assign(r.interfaces.wan, { share: 100 });
	r.active = 'wan';
	const d = fmt.model(r);
	assert.deepEqual(d.headline, { tone: 'warn', text: 'Traffic shared by wan (100 %).',
		detail: 'wanb is offline: gateway 198.51.100.1 unreachable' });
	r.active = '';
	r.interfaces.wan.active = false;
	assert.equal(fmt.model(r).headline.text, 'No WAN is carrying traffic.');
	// A failover reply has no rules and no shares.
	const f = fmt.model(reply('failover'));
	assert.deepEqual([f.balance, f.rules, f.wans[0].share, f.wans[0].weight], [false, [], null, null]);
});


test('all online: wan carries traffic, every target answers', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('all-online'));
	assert.equal(m.ok, true);
	assert.equal(m.headline.tone, 'ok');
	assert.equal(m.headline.text, 'Traffic leaves through wan (eth1).');
	assert.equal(m.uptime, '1 d 2 h');
	const [wan, wanb] = m.wans;
	assert.equal(wan.name, 'wan');
	assert.equal(wan.active, true);
	assert.equal(wanb.active, false);
	assert.equal(wan.label, 'Online');
	assert.equal(wan.since, '23 h 55 min');
	assert.equal(wan.reason, 'recovered');
	assert.equal(wan.answered, '3 of 3 targets answer');
	assert.equal(wan.transitions, '2 changes');
	assert.equal(wanb.transitions, '1 change');
	assert.deepEqual(wan.targets.map(t => [t.ip, t.kind, t.rtt, t.jitter, t.loss, t.last]), [
		['1.1.1.1', 'target', '12.4 ms', '0.6 ms', '0 %', '12.1 ms'],
		['8.8.8.8', 'target', '14.2 ms', '1.1 ms', '0 %', '13.8 ms'],
		['9.9.9.9', 'target', '18.9 ms', '0.9 ms', '6 %', '19.3 ms'],
		['192.0.2.1', 'gateway', '0.4 ms', '0.1 ms', '0 %', '0.4 ms'],
	]);
	assert.equal(m.history[0].text, 'wan: Offline → Online');
	assert.equal(m.history[0].reason, 'recovered');
	assert.equal(m.history[0].tone, 'ok');
});

test('failover: says why, and shows the dead targets plainly', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('failover'));
	assert.equal(m.headline.tone, 'warn');
	assert.equal(m.headline.text, 'Failed over: traffic leaves through wanb (wwan0).');
	assert.equal(m.headline.detail, 'wan is offline: gateway answers, targets unreachable (0/3 answered, need 1)');
	const [wan, wanb, wanc] = m.wans;
	assert.deepEqual([wan.label, wan.tone, wan.active, wan.since], ['Offline', 'bad', false, '1 min 35 s']);
	assert.equal(wan.reason, 'gateway answers, targets unreachable (0/3 answered, need 1)');
	assert.equal(wan.answered, '0 of 3 targets answer');
	const t8 = wan.targets.find(t => t.ip === '8.8.8.8');
	assert.deepEqual([t8.state, t8.tone, t8.rtt, t8.jitter, t8.loss, t8.lossTone, t8.last],
		['no answer', 'bad', '—', '—', '100 %', 'bad', '—']);
	// Its reply still carries an old average: every probe in its window was lost, so no number.
	const t1 = wan.targets.find(t => t.ip === '1.1.1.1');
	assert.equal(reply('failover').interfaces.wan.track_ip[0].latency, 12.6);
	assert.deepEqual([t1.state, t1.rtt, t1.jitter, t1.loss, t1.last], ['no answer', '—', '—', '100 %', '—']);
	// A target that lost most but not all of its window keeps its figures, without a last RTT.
	const t9 = wan.targets.find(t => t.ip === '9.9.9.9');
	assert.deepEqual([t9.rtt, t9.jitter, t9.loss, t9.last], ['19.1 ms', '1.4 ms', '94 %', '—']);
	// Zeros from a daemon that printed them for a dead target read the same.
	const zero = fmt.target({ ip: '192.0.2.9', status: 'down', latency: 0, jitter: 0, packetloss: 100, last_rtt: 0 }, 'target');
	assert.deepEqual([zero.rtt, zero.jitter, zero.last], ['—', '—', '—']);
	const fresh = fmt.target({ ip: '192.0.2.9', status: 'unknown', latency: 0, packetloss: 0 }, 'target');
	assert.deepEqual([fresh.state, fresh.rtt, fresh.loss, fresh.lossTone, fresh.last], ['not probed yet', '—', '—', 'off', '—']);
	const gw = wan.targets.find(t => t.kind === 'gateway');
	assert.deepEqual([gw.ip, gw.state, gw.rtt], ['192.0.2.1', 'answers', '0.5 ms']);
	assert.deepEqual([wanb.label, wanb.active], ['Online', true]);
	assert.deepEqual([wanc.label, wanc.tone, wanc.since, wanc.address, wanc.gateway], ['Disabled', 'off', '', 'none', 'unknown']);
	assert.equal(wanc.targets[0].state, 'not probed yet');
	assert.deepEqual(m.history.map(e => `${e.age} | ${e.text} | ${e.reason}`), [
		'1 min 35 s ago | wan: Online → Offline | gateway answers, targets unreachable (0/3 answered, need 1)',
		'1 h 59 min ago | wan: Offline → Online | recovered',
		'2 h 01 min ago | wan: Online → Offline | link down',
		'2 h 03 min ago | wanb: No link → Online | probes answered',
	]);
	assert.equal(m.history[0].tone, 'bad');
});

test('TCP probes: each target says how it is probed; the gateway is always pinged', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('tcp-probes'));
	const [wan, lte] = m.wans;
	assert.deepEqual(wan.targets.map(t => [t.ip, t.kind, t.method, t.methodLabel]), [
		['1.1.1.1', 'target', 'icmp', 'ICMP'],
		['8.8.8.8', 'target', 'icmp', 'ICMP'],
		['192.0.2.1', 'gateway', 'icmp', 'ICMP'],
	]);
	assert.deepEqual(lte.targets.map(t => [t.ip, t.kind, t.method, t.methodLabel, t.state]), [
		['1.1.1.1', 'target', 'tcp', 'TCP 443', 'answers'],
		['9.9.9.9', 'target', 'tcp', 'TCP 443', 'answers'],
		['198.51.100.1', 'gateway', 'icmp', 'ICMP', 'no answer'],
	]);
	assert.equal(lte.answered, '2 of 2 targets answer');
	// A reply of a daemon before TCP probes names no method.
	assert.deepEqual(fmt.model(reply('all-online')).wans[0].targets.map(t => [t.method, t.methodLabel])[0], [null, '']);
	const problems = (edit) => {
		const r = reply('tcp-probes');
		edit(r.interfaces.lte);
		return checkReply(r).join('\n');
	};
	assert.match(problems(w => { delete w.track_ip[0].port; delete w.track_ip[1].port; }), /port if and only if method tcp/);
	assert.match(problems(w => { w.track_ip[1].port = 80; }), /probed different ways/);
	assert.match(problems(w => { w.track_ip[0].method = 'udp'; }), /method udp/);
	assert.match(problems(w => { w.gateway_probe = { ip: w.gateway_probe.ip, method: 'tcp', port: 443, status: 'down', packetloss: 100 }; }),
		/a gateway is pinged, not tcp/);
});

test('no WAN up: nothing carries traffic, each WAN says why', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('no-wan-up'));
	assert.equal(m.active, '');
	assert.equal(m.headline.tone, 'bad');
	assert.equal(m.headline.text, 'No WAN is carrying traffic.');
	assert.equal(m.headline.detail, 'wan: no link (carrier lost); wanb: connecting (probes answered)');
	const [wan, wanb] = m.wans;
	assert.deepEqual([wan.label, wan.tone, wan.since, wan.gateway, wan.targets.length], ['No link', 'bad', '41 s', 'unknown', 3]);
	assert.deepEqual([wanb.label, wanb.tone, wanb.since], ['Connecting', 'warn', '2 s']);
	assert.ok(m.wans.every(w => !w.active));
	assert.equal(m.history[1].reason, 'gateway 198.51.100.1 unreachable');
});

test('degraded: a disconnecting WAN still carries traffic', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('degraded'));
	const [wan, wanb] = m.wans;
	assert.deepEqual([wan.label, wan.tone, wan.active, wan.since], ['Disconnecting', 'warn', true, '1 h 29 min']);
	assert.equal(m.headline.tone, 'ok');
	assert.deepEqual([wanb.label, wanb.reason, wanb.address], ['No link', 'device missing', 'none']);
	assert.equal(wan.targets[1].last, '17.4 ms');
	assert.equal(wan.targets[0].last, '—');
});

// --- dual stack ---

test('schema: dual-stack keys come together, in order, and only with IPv6 targets', () => {
	const problems = (edit, name = 'dualstack-v6-failover') => {
		const r = reply(name);
		edit(r);
		return checkReply(r).join('\n');
	};
	assert.match(problems(r => { delete r.active6; }), /active6 is there if and only if/);
	assert.match(problems(r => { delete r.interfaces.wan.status6; }), /IPv6 targets without status6/);
	assert.match(problems(r => { r.interfaces.wan.active6 = true; }), /active6 disagrees with reply.active6/);
	assert.match(problems(r => { r.interfaces.wan.online6 = 3; }), /online6\/offline6 vs status6/);
	assert.match(problems(r => { r.interfaces.wan.track_ip[1].ip = 'fe80::99'; }), /link-local target/);
	assert.match(problems(r => { r.interfaces.wan.gateway_probe6.ip = 'fe80::2'; }), /gateway_probe6 ip/);
	assert.match(problems(r => { r.interfaces.wan.address6 = 'fe80::5'; }), /address6 is not a global/);
	assert.match(problems(r => { r.history[0].family = 'inet6'; }), /family inet6/);
	assert.match(problems(r => { delete r.history[0].family; }), /family in some entries only/);
	assert.match(problems(r => { const w = r.interfaces.wan; const { status6 } = w; delete w.status6; w.status6 = status6; }), /keys .* \(want/);
	assert.match(problems(r => { r.interfaces.lte.status6 = 'online'; }, 'dualstack-v6-only'), /status6 without IPv6 targets/);
	assert.match(problems(r => { r.interfaces.he6.reason = 'disabled'; }, 'dualstack-v6-only'), /no IPv4 track_ip/);
	assert.match(problems(r => { r.interfaces.he6.active = true; r.active = 'he6'; r.interfaces.wan.active = false; }, 'dualstack-v6-only'),
		/active while status is disabled/);
});

test('dual stack, all online: one WAN carries both families, one phrase says so', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('dualstack-online'));
	assert.deepEqual([m.active, m.active6], ['wan', 'wan']);
	assert.deepEqual(m.headline, { tone: 'ok', text: 'IPv4 and IPv6 leave through wan (eth1).', detail: '' });
	const [wan, wwan] = m.wans;
	assert.deepEqual([wan.tone, wan.v4.label, wan.v6.label, wan.v4.active, wan.v6.active], ['ok', 'Online', 'Online', true, true]);
	assert.deepEqual([wwan.v4.active, wwan.v6.active], [false, false]);
	assert.deepEqual([wan.v6.since, wan.v6.reason, wan.v6.address, wan.v6.gateway, wan.v6.transitions],
		['11 h 08 min', 'probes answered', '2001:db8:4a1:100::1c2', 'fe80::1', '1 change']);
	assert.equal(wan.v4.answered, '2 of 2 targets answer');
	assert.equal(wan.v6.answered, '2 of 2 targets answer');
	// both families' targets in config order, then the IPv4 and the IPv6 gateway
	assert.deepEqual(wan.targets.map(t => [t.ip, t.family, t.kind]), [
		['1.1.1.1', 'ipv4', 'target'],
		['2606:4700:4700::1111', 'ipv6', 'target'],
		['8.8.8.8', 'ipv4', 'target'],
		['2001:4860:4860::8888', 'ipv6', 'target'],
		['192.0.2.1', 'ipv4', 'gateway'],
		['fe80::1', 'ipv6', 'gateway'],
	]);
	assert.deepEqual(m.history.map(e => e.text), [
		'wan IPv6: No link → Online', 'wan IPv4: No link → Online',
		'wwan IPv6: No link → Online', 'wwan IPv4: No link → Online',
	]);
});

test('dual stack, IPv6 fails on wan only: IPv4 stays, IPv6 moves to wwan', async () => {
	const { fmt } = await load();
	const m = fmt.model(reply('dualstack-v6-failover'));
	assert.deepEqual(m.headline, {
		tone: 'warn',
		text: 'Failed over: IPv4 via wan (eth1), IPv6 via wwan (wwan0).',
		detail: 'wan is offline for IPv6: gateway answers, targets unreachable (0/2 answered, need 1)',
	});
	const [wan, wwan] = m.wans;
	assert.deepEqual([wan.v4.label, wan.v4.tone, wan.v4.active, wan.v4.since], ['Online', 'ok', true, '11 h 08 min']);
	assert.deepEqual([wan.v6.label, wan.v6.tone, wan.v6.active, wan.v6.since], ['Offline', 'bad', false, '48 s']);
	assert.equal(wan.tone, 'warn', 'half working: amber');
	assert.equal(wan.v4.answered, '2 of 2 targets answer');
	assert.equal(wan.v6.answered, '0 of 2 targets answer');
	assert.equal(wan.v6.reason, 'gateway answers, targets unreachable (0/2 answered, need 1)');
	assert.equal(wan.v6.transitions, '2 changes');
	const gw6 = wan.targets.find(t => t.ip === 'fe80::1');
	assert.deepEqual([gw6.kind, gw6.state, gw6.rtt], ['gateway', 'answers', '0.6 ms']);
	const dead = wan.targets.find(t => t.ip === '2001:4860:4860::8888');
	assert.deepEqual([dead.state, dead.rtt, dead.loss, dead.lossTone], ['no answer', '—', '100 %', 'bad']);
	assert.deepEqual([wwan.v4.active, wwan.v6.active, wwan.tone], [false, true, 'ok']);
	assert.equal(m.history[0].text, 'wan IPv6: Online → Offline');
	assert.deepEqual([m.history[0].family, m.history[0].fam, m.history[0].tone], ['ipv6', 'IPv6', 'bad']);
});

test('dual stack, an IPv6-only WAN: preferred for IPv6 only, IPv4 keys say why', async () => {
	const { fmt } = await load();
	const r = reply('dualstack-v6-only');
	const m = fmt.model(r);
	assert.deepEqual(m.wans.map(w => w.name), ['he6', 'wan', 'lte']);
	assert.deepEqual(fmt.candidates(r, ''), ['wan', 'lte']);
	assert.deepEqual(fmt.candidates(r, '6'), ['he6', 'wan']);
	assert.deepEqual(m.headline, { tone: 'ok', text: 'IPv4 via wan (eth1), IPv6 via he6 (6in4-he).', detail: '' });
	const [he6, wan, lte] = m.wans;
	assert.deepEqual([he6.v4.label, he6.v4.tone, he6.v4.reason, he6.v4.since, he6.v4.address],
		['Disabled', 'off', 'no IPv4 track_ip', '', 'none']);
	assert.equal(he6.v4.hint, 'No IPv4 targets: it carries no IPv4 traffic.');
	assert.equal(he6.v4.answered, 'No targets');
	assert.deepEqual([he6.v6.label, he6.v6.active, he6.v6.gateway], ['Online', true, '2001:db8:1f0a:5e::1']);
	assert.equal(he6.tone, 'ok', 'a family without targets does not grey the card');
	assert.deepEqual(he6.targets.map(t => t.kind), ['target', 'target', 'gateway']);
	// an IPv4-only WAN in a dual-stack reply keeps its plain model
	assert.equal(lte.v6, null);
	assert.equal(lte.v4, undefined);
	assert.deepEqual([lte.label, lte.tone, lte.answered], ['Online', 'ok', '2 of 2 targets answer']);
	assert.deepEqual([wan.v4.active, wan.v6.active], [true, false]);
});

test('dual stack headline: a family with no WAN, nothing at all, both moved to the same WAN', async () => {
	const { fmt } = await load();
	let r = reply('dualstack-v6-failover');
	r.active6 = '';
	r.interfaces.wwan.active6 = false;
	r.interfaces.wwan.status6 = 'no_link';
	r.interfaces.wwan.reason6 = 'no IPv6 default route';
	assert.deepEqual(fmt.headline(r), {
		tone: 'warn',
		text: 'IPv4 via wan (eth1), no WAN carries IPv6.',
		detail: 'No WAN carries IPv6: wan: offline (gateway answers, targets unreachable (0/2 answered, need 1)); wwan: no link (no IPv6 default route)',
	});
	r.active = '';
	r.interfaces.wan.active = false;
	r.interfaces.wan.status = 'offline';
	r.interfaces.wan.reason = 'carrier lost';
	r.interfaces.wwan.status = 'connecting';
	const h = fmt.headline(r);
	assert.deepEqual([h.tone, h.text], ['bad', 'No WAN is carrying traffic.']);
	assert.deepEqual(h.detail.split('\n'), [
		'No WAN carries IPv4: wan: offline (carrier lost); wwan: connecting (probes answered)',
		'No WAN carries IPv6: wan: offline (gateway answers, targets unreachable (0/2 answered, need 1)); wwan: no link (no IPv6 default route)',
	]);
	r = reply('dualstack-v6-failover');
	r.active = 'wwan';
	r.interfaces.wan.status = 'offline';
	r.interfaces.wan.reason = 'carrier lost';
	assert.deepEqual(fmt.headline(r), {
		tone: 'warn',
		text: 'Failed over: IPv4 and IPv6 leave through wwan (wwan0).',
		detail: 'wan is offline for IPv4: carrier lost\nwan is offline for IPv6: gateway answers, targets unreachable (0/2 answered, need 1)',
	});
	// only IPv6 WANs enabled: the headline speaks of IPv6 alone
	r = reply('dualstack-v6-only');
	r.interfaces.wan.enabled = false;
	r.interfaces.lte.enabled = false;
	r.active = '';
	assert.deepEqual(fmt.headline(r), { tone: 'ok', text: 'IPv6 leaves through he6 (6in4-he).', detail: '' });
});

test('history family: shown in a dual-stack reply; an IPv4-only reply with it reads as before', async () => {
	const { fmt } = await load();
	const plain = reply('failover');
	const tagged = reply('failover');
	tagged.history.forEach(e => {
		const { age, interface: iface, from, to, reason } = e;
		for (const k of Object.keys(e)) delete e[k];
		Object.assign(e, { age, interface: iface, family: 'ipv4', from, to, reason });
	});
	assert.deepEqual(checkReply(tagged), []);
	assert.deepEqual(fmt.model(tagged), fmt.model(plain));
	assert.equal(fmt.event({ age: 5, interface: 'wan', family: 'ipv6', from: 'online', to: 'offline' }, false).text,
		'wan IPv6: Online → Offline', 'an IPv6 entry always says so');
	assert.equal(fmt.event({ age: 5, interface: 'wan', family: 'ipv4', from: 'online', to: 'offline' }, true).text,
		'wan IPv4: Online → Offline');
});

test('chart samples of a dual-stack WAN average the answers of both families', async () => {
	const { fmt } = await load();
	const r = reply('dualstack-v6-failover');
	assert.equal(fmt.rttSample(r.interfaces.wan).toFixed(2), '13.15');   // the IPv6 targets do not answer
	assert.equal(fmt.rttSample(r.interfaces.wwan).toFixed(2), '45.35');
});

test('daemon not running / no permission / odd reply become plain messages', async () => {
	const { fmt } = await load();
	const e = fmt.errorModel(new Error('RPCError: RPC call to dualwan/status failed with error -32000: Object not found'));
	assert.equal(e.ok, false);
	assert.equal(e.kind, 'not_running');
	assert.equal(e.title, 'The dualwan daemon is not running.');
	assert.equal(e.command, '/etc/init.d/dualwan start');
	assert.match(e.more, /logread -e dualwan/);
	assert.equal(fmt.errorModel(new Error('RPC call to dualwan/status failed with error -32002: Access denied')).kind, 'denied');
	assert.equal(fmt.errorModel(new Error('RPC call to dualwan/status failed with HTTP error 502: Bad Gateway')).kind, 'error');
	// rpc.declare's `expect` turns a non-zero ubus code into {}: not a status.
	assert.equal(fmt.model({}).ok, false);
	assert.equal(fmt.model({}).kind, 'error');
	assert.equal(fmt.model(4).ok, false);
});

// --- the RTT and loss chart ---

/* A reply `secs` seconds after `base`, each answering target's last RTT and loss set by fn(ip). */
function poll(base, secs, fn) {
	const r = JSON.parse(JSON.stringify(base));
	r.uptime = base.uptime + secs;
	for (const w of Object.values(r.interfaces))
		for (const t of w.track_ip) {
			const v = fn ? fn(t.ip, secs) : null;
			if (v != null && t.status === 'up')
				t.last_rtt = v;
		}
	return r;
}

test('RTT and loss samples per poll: mean of the newest answers and of the targets\' loss, gaps where none', async () => {
	const { fmt } = await load();
	const r = reply('failover');
	assert.equal(fmt.rttSample(r.interfaces.wan), null);
	assert.equal(fmt.rttSample(r.interfaces.wanb).toFixed(1), '47.4');
	assert.equal(fmt.lossSample(r.interfaces.wan).toFixed(1), '98.0');        // 100, 100, 94
	assert.equal(fmt.lossSample(r.interfaces.wanb), 1);                      // 0, 3, 0
	assert.equal(fmt.lossSample(r.interfaces.wanc), null);                    // never probed
});

test('chart history: one sample per poll on the daemon\'s clock, the last 5 minutes, restart starts over', async () => {
	const { fmt } = await load();
	const base = reply('failover');
	const h = { samples: [] };
	for (let i = 0; i < 150; i++)
		fmt.addSamples(h, poll(base, 3 * i));
	// 5 minutes of polls every 3 s: 101 samples (both ends), disabled wanc not sampled.
	assert.equal(h.samples.length, 101);
	assert.deepEqual(Object.keys(h.samples[0].wans), ['wan', 'wanb']);
	assert.equal(h.samples[100].t - h.samples[0].t, 300);
	fmt.addSamples(h, poll(base, 3 * 149));           // the same second again replaces it
	assert.equal(h.samples.length, 101);
	fmt.addSamples(h, {});                            // an error reply adds nothing
	assert.equal(h.samples.length, 101);
	fmt.addSamples(h, poll(base, -base.uptime + 5));  // uptime 5: the daemon restarted
	assert.equal(h.samples.length, 1);
	const noUptime = poll(base, 0);
	delete noUptime.uptime;
	assert.equal(fmt.addSamples({ samples: [] }, noUptime, 1000).samples[0].t, 1000);
});

test('chart: a line per WAN with a point per answered poll, round scale, labelled axes', async () => {
	const { fmt } = await load();
	const base = reply('failover');
	const h = { samples: [] };
	// wanb answers 40..60 ms; its answers stop for polls 10-12 (a gap); wan never answers.
	for (let i = 0; i < 20; i++)
		fmt.addSamples(h, poll(base, 3 * i, (ip, secs) => 40 + (secs % 7) * 3), 0);
	for (const s of h.samples.slice(10, 13))
		s.wans.wanb.rtt = null;
	const c = fmt.chart(h, ['wan', 'wanb']);
	assert.equal(c.samples, 20);
	assert.equal(c.rttTop, 100);
	assert.deepEqual(c.rttTicks.map(t => [t.at, t.label]), [[0, '100 ms'], [50, '50 ms'], [100, '0 ms']]);
	assert.deepEqual(c.lossTicks.map(t => t.label), ['100 %', '50 %', '0 %']);
	assert.deepEqual(c.xTicks.map(t => t.label), ['−5 min', '−4 min', '−3 min', '−2 min', '−1 min', 'now']);
	assert.deepEqual([c.xTicks[0].at, c.xTicks[5].at], [0, 100]);
	const [wan, wanb] = c.wans;
	assert.deepEqual([wan.name, wan.colour, wan.rtt.points, wan.rtt.path, wan.rttNow], ['wan', 0, 0, '', '—']);
	assert.equal(wan.loss.points, 20);
	assert.equal(wan.lossNow, '98 %');
	assert.deepEqual([wanb.colour, wanb.rtt.points, (wanb.rtt.path.match(/M/g) || []).length], [1, 17, 2]);
	assert.equal(wanb.rtt.end[0], fmt.CHART_W, 'the newest poll at the right edge');
	// The first poll sits 57 s before the newest: 243 s into the 300 s window.
	assert.match(wanb.rtt.path, /^M810\.0 /);
	// A silence longer than CHART_GAP between polls breaks the line too.
	const g = { samples: [] };
	for (const secs of [0, 3, 6, 30, 33])
		fmt.addSamples(g, poll(base, secs));
	assert.equal((fmt.chart(g, ['wanb']).wans[0].rtt.path.match(/M/g) || []).length, 2);
	assert.equal(fmt.niceTop(0.4), 1);
	assert.equal(fmt.niceTop(120), 200);
	assert.equal(fmt.niceTop(50), 50);
	assert.equal(fmt.chart({ samples: [] }, ['wan']).wans[0].rtt.points, 0);
});

// --- "Test now" (dualwan probe) ---

/* The agreed reply format of `dualwan probe` (/work/coord/probe-format.md), checked by hand. */
function probeProblems(r) {
	const p = [];
	if (typeof r.interface !== 'string') p.push('interface');
	if (!Array.isArray(r.probes)) p.push('probes');
	if (r.error != null && (typeof r.error !== 'string' || r.probes.length)) p.push('error only with no probes');
	for (const x of r.probes || []) {
		const want = ['ip', 'kind', 'method'].concat(x.method === 'tcp' ? ['port'] : [], ['answered'], x.answered ? ['rtt'] : ['error']);
		if (JSON.stringify(Object.keys(x)) !== JSON.stringify(want)) p.push(`${x.ip}: keys ${Object.keys(x)} (want ${want})`);
		if (!['target', 'gateway'].includes(x.kind)) p.push(`${x.ip}: kind ${x.kind}`);
		if (x.kind === 'gateway' && x.method !== 'icmp') p.push(`${x.ip}: the gateway is pinged`);
		if (x.answered && !(typeof x.rtt === 'number' && Math.round(x.rtt * 1000) / 1000 === x.rtt)) p.push(`${x.ip}: rtt, 3 decimals`);
	}
	return p;
}

const PROBE_REPLIES = fs.readdirSync(path.join(__dirname, 'replies/probe')).filter(f => f.endsWith('.json'));

test('probe replies follow the agreed format and match their status reply\'s targets', () => {
	assert.equal(PROBE_REPLIES.length, 4);
	for (const f of PROBE_REPLIES) {
		const r = JSON.parse(fs.readFileSync(path.join(__dirname, 'replies/probe', f), 'utf8'));
		assert.deepEqual(probeProblems(r), [], f);
		const [status, wan] = [f.slice(0, f.lastIndexOf('-')), f.slice(f.lastIndexOf('-') + 1, -5)];
		const w = reply(status).interfaces[wan];
		assert.equal(r.interface, wan, f);
		if (r.error)
			assert.equal(r.error, w.reason, `${f}: the reason, as status shows it`);
		else
			assert.deepEqual(r.probes.map(x => x.ip), w.track_ip.map(t => t.ip).concat([w.gateway_probe.ip]), f);
	}
	assert.deepEqual(probeProblems({ interface: 'wan', probes: [{ ip: '192.0.2.1', kind: 'gateway', method: 'icmp', answered: true }] }),
		['192.0.2.1: keys ip,kind,method,answered (want ip,kind,method,answered,rtt)', '192.0.2.1: rtt, 3 decimals']);
});

test('probe: each answer with its RTT or error; a WAN that cannot be probed, and failed calls, say why', async () => {
	const { fmt } = await load();
	const probe = f => JSON.parse(fs.readFileSync(path.join(__dirname, 'replies/probe', f + '.json'), 'utf8'));
	const lte = fmt.probe(probe('tcp-probes-lte'), null);
	assert.deepEqual([lte.ok, lte.summary, lte.tone], [true, '2 of 3 answered', 'warn']);
	assert.deepEqual(lte.rows.map(r => [r.ip, r.how, r.answered, r.text, r.tone]), [
		['1.1.1.1', 'TCP 443', true, '47.1 ms', 'ok'],
		['9.9.9.9', 'TCP 443', true, '52.9 ms', 'ok'],
		['198.51.100.1', 'gateway', false, 'timeout', 'bad'],
	]);
	assert.deepEqual([fmt.probe(probe('tcp-probes-wan'), null).tone, fmt.probe(probe('tcp-probes-wan'), null).rows[0].how], ['ok', '']);
	assert.deepEqual(fmt.probe(probe('failover-wan'), null).rows.map(r => r.text), ['timeout', 'timeout', '19.4 ms', '0.5 ms']);
	assert.deepEqual(fmt.probe(probe('degraded-wanb'), null), { ok: false, error: 'cannot probe it now: device missing', rows: [] });
	const err = m => fmt.probe(null, new Error(m)).error;
	assert.equal(err('RPC call to dualwan/probe failed with ubus code 4: Resource not found'),
		'the daemon does not know this interface (reload it after a configuration change)');
	assert.equal(err('RPC call to dualwan/probe failed with ubus code 3: Method not found'), 'this dualwan has no probe method: update the daemon');
	assert.equal(err('RPCError: RPC call to dualwan/probe failed with error -32000: Object not found'), 'the dualwan daemon is not running');
	assert.match(err('RPC call to dualwan/probe failed with error -32002: Access denied'), /ACL luci-app-dualwan/);
	assert.equal(fmt.probe({}, null).error, 'unexpected reply from the daemon');
});

// --- configuration rules (dualwan check) ---

test('config: numbers and seconds use the daemon\'s ranges (from schema.json)', async () => {
	const { val } = await load();
	const ok = (r) => r === true;
	const wan = (o, v) => val.check('interface', o, v), glob = (o, v) => val.check('globals', o, v);
	assert.ok(ok(wan('metric', '')) && ok(wan('metric', '0')) && ok(wan('metric', '65535')));
	assert.match(wan('metric', '65536'), /above 65535/);
	assert.match(wan('metric', '-1'), /whole number/);
	assert.match(wan('metric', '1.5'), /whole number/);
	assert.ok(ok(wan('interval', '0.1')) && ok(wan('interval', '60')) && ok(wan('interval', '0.125')) && ok(wan('interval', '10')));
	assert.match(wan('interval', '0.05'), /below 0.1/);
	assert.match(wan('interval', '60.001'), /above 60/);
	assert.match(wan('interval', '0.1234'), /up to 3 decimals/);
	assert.match(wan('interval', '1.'), /seconds/);
	assert.match(wan('interval', '.5'), /seconds/);
	assert.match(wan('interval', '1e2'), /seconds/);
	assert.ok(ok(wan('timeout', '30')));
	assert.match(wan('timeout', '30.5'), /above 30/);
	assert.ok(ok(wan('recovery_wait', '0')) && ok(wan('recovery_wait', '3600')));
	assert.match(wan('recovery_wait', '3601'), /above 3600/);
	for (const rounds of ['down', 'up']) {
		assert.ok(ok(wan(rounds, '1')) && ok(wan(rounds, '100')));
		assert.match(wan(rounds, '0'), /below 1/);
		assert.match(wan(rounds, '101'), /above 100/);
	}
	assert.equal(val.parseSeconds('0.3'), 300);
	assert.equal(val.parseSeconds('1.05'), 1050);
	assert.ok(ok(glob('rule_priority', '5000')));
	assert.match(glob('rule_priority', '32666'), /above 32665/);
	assert.match(glob('rule_priority', '0'), /below 1/);
	assert.ok(ok(glob('table_base', '100')) && ok(glob('table_base', '256')) && ok(glob('table_base', '236')));
	assert.match(glob('table_base', '237'), /overlap/);
	assert.match(glob('table_base', '250'), /overlap/);
	// Words and booleans: the daemon's.
	assert.ok(ok(glob('log_level', 'notice')) && ok(wan('flush_conntrack', 'on_switch')) && ok(wan('check_gateway', 'off')));
	assert.equal(glob('last_resort', 'blackhole'), "'blackhole' is not one of: main, unreachable");
	// An alias is a word (mwan3's ping is icmp); the message lists the words.
	assert.ok(ok(wan('track_method', 'tcp')) && ok(wan('track_method', 'ping')) && ok(wan('track_method', '')));
	assert.equal(wan('track_method', 'nping-tcp'), "'nping-tcp' is not one of: icmp, tcp");
	assert.equal(wan('track_method', 'hasOwnProperty'), "'hasOwnProperty' is not one of: icmp, tcp");
	assert.ok(ok(wan('track_port', '1')) && ok(wan('track_port', '65535')));
	assert.match(wan('track_port', '0'), /below 1/);
	assert.match(wan('check_gateway', '2'), /boolean/);
});

test('config: the checks follow whatever schema they are given, not ranges of their own', async () => {
	const { val } = await load();
	const narrow = appSchema();
	const wan = narrow.sections.interface.options;
	wan.metric.max = 99;
	wan.interval.min = 1;
	wan.interval.decimals = 1;
	wan.track_ip.max = 2;
	wan.network.max = 4;
	wan.flush_conntrack.words = ['none'];
	wan.metric['default'] = '7';
	narrow.sections.globals.options.table_base.reserved = [300, 310];
	narrow.sections.interface.name.max = 5;
	narrow.bool['true'] = ['1'];
	val.setSchema(narrow);
	try {
		assert.match(val.check('interface', 'metric', '100'), /above 99/);
		assert.match(val.check('interface', 'interval', '0.5'), /below 1/);
		assert.match(val.check('interface', 'interval', '1.25'), /up to 1 decimals/);
		assert.equal(val.target('9.9.9.9', ['1.1.1.1', '8.8.8.8']), "'9.9.9.9' is one more than the 2 targets allowed");
		assert.match(val.network('wwan0'), /is not a netifd interface name/);
		assert.match(val.check('interface', 'flush_conntrack', 'on_down'), /not one of: none/);
		assert.equal(val.defaultOf('interface', 'metric'), '7');
		assert.equal(val.check('globals', 'table_base', '250'), true);
		assert.match(val.check('globals', 'table_base', '290'), /overlap/);
		assert.match(val.sectionName('wan_12'), /At most 5/);
		assert.equal(val.enabled('yes'), false);
		assert.equal(val.nextMetric(['95']), 99);
	} finally {
		val.setSchema(appSchema());
	}
	assert.equal(val.check('interface', 'metric', '100'), true);
});

test('config: addresses, targets and reliability', async () => {
	const { val } = await load();
	const gateway = v => val.check('interface', 'gateway', v);
	assert.equal(gateway('auto'), true);
	assert.equal(gateway(''), true);
	assert.equal(gateway('192.0.2.1'), true);
	assert.equal(gateway('gw.example'), "'gw.example' is neither 'auto' nor an IPv4 address");
	assert.match(gateway('224.0.0.1'), /unicast/);
	assert.match(gateway('127.0.0.1'), /unicast/);
	assert.match(gateway('192.0.2.01'), /IPv4/);           // no leading zeros, as Rust parses
	assert.match(gateway('fe80::1'), /neither 'auto' nor an IPv4 address/);
	assert.equal(val.target('1.1.1.1', []), true);
	assert.equal(val.target('dns.google', []), "'dns.google' is not an IP address (host names are not resolved: use an address)");
	assert.equal(val.target('1.1.1', []), "'1.1.1' is not an IPv4 or IPv6 address");
	assert.equal(val.target('1.1.1.1', ['1.1.1.1']), "'1.1.1.1' is listed twice");
	assert.match(val.target('0.0.0.0', []), /unicast/);
	assert.match(val.target('255.255.255.255', []), /unicast/);
	const eight = ['1.1.1.1', '1.0.0.1', '8.8.8.8', '8.8.4.4', '9.9.9.9', '149.112.112.112', '208.67.222.222', '208.67.220.220'];
	assert.equal(val.targets(eight), true);
	assert.equal(val.target('4.2.2.1', eight), "'4.2.2.1' is one more than the 8 targets allowed");
	assert.match(val.targets([]), /At least one/);
	assert.match(val.targets(['1.1.1.1', 'x.y']), /'x\.y' is not an IP address .*host names/);
	assert.equal(val.reliability('3', 3), true);
	assert.match(val.reliability('4', 3), /More than the 3 targets/);
	assert.match(val.reliability('0', 3), /below 1/);
	assert.match(val.reliability('9', 0), /above 8/);
});

test('config: IPv6 literals parse as Rust\'s Ipv6Addr does', async () => {
	const { val } = await load();
	const hex = g => g && g.map(n => n.toString(16)).join(':');
	const good = {
		'::': '0:0:0:0:0:0:0:0',
		'::1': '0:0:0:0:0:0:0:1',
		'2001:db8::1': '2001:db8:0:0:0:0:0:1',
		'2001:DB8:0:0:0:0:0:1': '2001:db8:0:0:0:0:0:1',
		'2606:4700:4700::1111': '2606:4700:4700:0:0:0:0:1111',
		'fe80::1': 'fe80:0:0:0:0:0:0:1',
		'1:2:3:4:5:6:7::': '1:2:3:4:5:6:7:0',
		'::2:3:4:5:6:7:8': '0:2:3:4:5:6:7:8',
		'0001:0db8::0': '1:db8:0:0:0:0:0:0',
		'::ffff:192.0.2.1': '0:0:0:0:0:ffff:c000:201',
		'64:ff9b::198.51.100.7': '64:ff9b:0:0:0:0:c633:6407',
		'1:2:3:4:5:6:1.2.3.4': '1:2:3:4:5:6:102:304',
	};
	for (const [text, groups] of Object.entries(good))
		assert.equal(hex(val.parseIPv6(text)), groups, text);
	const bad = ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', ':1::2',
		'1::2:', '12345::', 'g::1', 'fe80::1%eth0', '[::1]', '1.2.3.4::', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4',
		'::192.0.2.01', '2001:db8::1/64', ' ::1', '1.2.3.4'];
	for (const text of bad)
		assert.equal(val.parseIPv6(text), null, JSON.stringify(text));
});

test('config: IPv6 targets and gateway6, with the daemon\'s messages', async () => {
	const { val } = await load();
	assert.equal(val.target('2606:4700:4700::1111', []), true);
	assert.equal(val.target('2620:fe::fe', ['1.1.1.1', '2606:4700:4700::1111']), true);
	assert.equal(val.target('fe80::1', []), "'fe80::1' is a link-local address, not an Internet host");
	assert.equal(val.target('FEBF::1', []), "'FEBF::1' is a link-local address, not an Internet host");
	assert.equal(val.target('fec0::1', []), true, 'fe80::/10 only');
	assert.equal(val.target('2001:db8::zz', []), "'2001:db8::zz' is not an IPv6 address");
	assert.equal(val.target('fe80::1%eth0', []), "'fe80::1%eth0' is not an IPv6 address");
	assert.equal(val.target('1.1.1.1:53', []), "'1.1.1.1:53' is not an IPv6 address");
	assert.equal(val.target('cafe', []), "'cafe' is not an IP address (host names are not resolved: use an address)");
	assert.equal(val.target('1.2.3.4.5', []), "'1.2.3.4.5' is not an IPv4 or IPv6 address");
	for (const v of ['::', '::1', 'ff02::1', 'ff0e::101'])
		assert.equal(val.target(v, []), `'${v}' is not a unicast address`, v);
	// the same address written another way is still listed twice
	assert.equal(val.target('2606:4700:4700:0::1111', ['2606:4700:4700::1111']), "'2606:4700:4700:0::1111' is listed twice");
	assert.equal(val.target('2001:DB8::1', ['2001:db8::1']), "'2001:DB8::1' is listed twice");
	// eight targets of both families together
	const mixed = ['1.1.1.1', '8.8.8.8', '9.9.9.9', '208.67.222.222',
		'2606:4700:4700::1111', '2001:4860:4860::8888', '2620:fe::fe', '2620:119:35::35'];
	assert.equal(val.targets(mixed), true);
	assert.equal(val.target('2606:4700:4700::1001', mixed), "'2606:4700:4700::1001' is one more than the 8 targets allowed");
	assert.equal(val.targets(mixed.concat(['1.0.0.1'])), "'1.0.0.1' is one more than the 8 targets allowed");
	assert.equal(val.targets(['1.1.1.1', 'fe80::1']), "'fe80::1' is a link-local address, not an Internet host");
	assert.deepEqual(val.families(mixed), { ipv4: 4, ipv6: 4 });
	assert.deepEqual(val.families(['2620:fe::fe', '', 'junk']), { ipv4: 0, ipv6: 1 });
	// reliability counts the targets of both families (each family is capped at its own)
	assert.equal(val.reliability('3', 4), true);
	assert.match(val.reliability('5', 4), /More than the 4 targets/);

	const gateway6 = v => val.check('interface', 'gateway6', v);
	assert.equal(val.defaultOf('interface', 'gateway6'), 'auto');
	for (const v of ['', 'auto', 'fe80::1', 'FE80::2C0:FFFF:FE00:1', '2001:db8:1f0a:5e::1'])
		assert.equal(gateway6(v), true, v);
	assert.equal(gateway6('192.0.2.1'), "'192.0.2.1' is neither 'auto' nor an IPv6 address");
	assert.equal(gateway6('router'), "'router' is neither 'auto' nor an IPv6 address");
	assert.equal(gateway6('fe80::1%br-lan'), "'fe80::1%br-lan' is neither 'auto' nor an IPv6 address");
	for (const v of ['::', '::1', 'ff02::2'])
		assert.equal(gateway6(v), `'${v}' is not a unicast address`, v);
});

test('config: devices, section names, unique metric and device among enabled WANs', async () => {
	const { val } = await load();
	assert.equal(val.device('pppoe-wan'), true);
	assert.match(val.device(''), /device is needed/);
	assert.match(val.device('averyveryverylongname'), /1-15/);
	assert.match(val.device('eth0:1'), /no/);
	assert.equal(val.network('wwan_4'), true);
	assert.equal(val.network('wan-b'), "'wan-b' is not a netifd interface name (1-15 characters of A-Z, a-z, 0-9, _)");
	assert.match(val.network('a_very_long_name'), /is not a netifd interface name/);
	assert.equal(val.network(''), true);
	assert.equal(val.source('eth1', ''), true);
	assert.equal(val.source('', 'wan'), true);
	assert.match(val.source('', ''), /device or a network interface is needed/);
	assert.match(val.source('eth1', 'wan'), /not both/);
	assert.equal(val.sectionName('wan_2'), true);
	assert.match(val.sectionName('wan-2'), /letters, digits and _/);
	assert.match(val.sectionName('a'.repeat(33)), /At most 32/);
	const wans = [
		{ name: 'wan', enabled: '1', metric: '10', device: 'eth1' },
		{ name: 'wanb', enabled: '', metric: '20', device: 'wwan0' },
		{ name: 'wanc', enabled: '0', metric: '30', device: 'eth2' },
	];
	assert.equal(val.distinct({ name: 'wan', enabled: '1', metric: '10', device: 'eth1' }, wans), true);
	assert.match(val.distinct({ name: 'wan', enabled: '1', metric: '20', device: 'eth1' }, wans), /Metric 20 is already used by wanb/);
	assert.equal(val.distinct({ name: 'wan', enabled: '1', metric: '30', device: 'eth1' }, wans), true, 'wanc is disabled');
	assert.equal(val.distinct({ name: 'wan', enabled: '0', metric: '20', device: 'eth1' }, wans), true, 'a disabled WAN may share');
	assert.match(val.distinct({ name: 'new', enabled: '1', metric: '', device: 'eth9' }, wans.concat([{ name: 'z', enabled: '1', metric: '0', device: 'x' }])), /Metric 0 .* z/);
	assert.match(val.distinct({ name: 'new', enabled: '1', metric: '5', device: 'wwan0' }, wans), /Device wwan0 is already used by wanb/);
	assert.match(val.distinct({ name: 'wan', enabled: '1', metric: '20', device: 'wwan0' }, wans, 'device'), /Device wwan0/);
	assert.match(val.distinct({ name: 'wan', enabled: '1', metric: '20', device: 'wwan0' }, wans, 'metric'), /Metric 20/);
	assert.equal(val.nextMetric([]), 10);
	assert.equal(val.nextMetric(['10', '', '25']), 35);
	assert.equal(val.nextMetric(['65530']), 65535);
	assert.equal(val.enabled('yes'), true);
	assert.equal(val.enabled('off'), false);
});

test('config page defaults are the daemon\'s (dualwan check prints every default)', async () => {
	const bin = path.join(__dirname, '../../target/debug/dualwan');
	if (!fs.existsSync(bin)) {
		console.log('     skipped: no target/debug/dualwan (cargo build; make test builds it first)');
		return;
	}
	const { val } = await load();
	// The schema the page loads is this daemon's (tests/config_check.rs pins the same).
	const schema = require('child_process').execFileSync(bin, ['check', '--schema'], { encoding: 'utf8' });
	assert.equal(schema, fs.readFileSync(path.join(htdocs, 'dualwan/schema.json'), 'utf8'), 'schema.json is stale: make schema');
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dualwan-defaults-'));
	const conf = path.join(tmp, 'dualwan');
	fs.writeFileSync(conf, "config interface 'wan'\n\toption device 'eth1'\n\tlist track_ip '1.1.1.1'\n");
	const out = require('child_process').execFileSync(bin, ['check', '-c', conf], { encoding: 'utf8' });
	fs.rmSync(tmp, { recursive: true });
	const printed = name => (new RegExp(`option ${name} '([^']*)'`).exec(out.split("config interface")[1]) || [])[1];
	for (const k of ['gateway', 'gateway6', 'metric', 'check_gateway', 'track_method', 'track_port', 'reliability', 'interval', 'timeout', 'down', 'up', 'recovery_wait', 'flush_conntrack',
		'check_quality', 'failure_latency', 'recovery_latency', 'failure_loss', 'recovery_loss'])
		assert.equal(val.defaultOf('interface', k), printed(k), `default of ${k}`);
});

test('config page: each field takes its default, words, range and check from schema.json', async () => {
	const { val } = await load();
	const schema = appSchema();
	const src = fs.readFileSync(path.join(htdocs, 'view/dualwan/config.js'), 'utf8');
	// Stand-ins for LuCI's form, uci and request that record what the page declares.
	const sections = {}, fields = {};
	class Field {
		constructor(sec, name, descr) { Object.assign(this, { sec, option: name, descr, words: [], deps: [] }); }
		value(word) { this.words.push(word); }
		depends(option, value) { this.deps.push([option, value]); }
	}
	class Section {
		constructor(type, descr) { Object.assign(this, { type, descr }); sections[type] = this; }
		tab() {}
		taboption(tab, cls, name, title, descr) { return this.option(cls, name, title, descr); }
		option(cls, name, title, descr) { return (fields[`${this.type}.${name}`] = new Field(this.type, name, descr)); }
	}
	const form = {
		Map: class { section(cls, type, title, descr) { return new Section(type, descr); } render() { return 'page'; } },
		TypedSection: {}, GridSection: {}, Flag: {}, ListValue: {}, Value: {}, DynamicList: {},
	};
	const uci = { load: () => Promise.resolve(), sections: () => [], add: () => {}, get: () => null };
	const fetched = [];
	const request = { get: url => { fetched.push(url); return Promise.resolve({ ok: true, status: 200, json: () => appSchema() }); } };
	const page = new Function('view', 'form', 'uci', 'ui', 'dom', 'request', 'widgets', 'dwv', 'L', 'E', '_', src)(
		{ extend: p => p }, form, uci, {}, {}, request, { DeviceSelect: {}, NetworkSelect: {} }, val,
		{ resource: p => '/luci-static/resources/' + p }, () => null, s => s);
	val.setSchema(null);
	await page.load();
	assert.deepEqual(fetched, ['/luci-static/resources/dualwan/schema.json']);
	assert.equal(page.render(), 'page');

	for (const [key, f] of Object.entries(fields)) {
		const o = schema.sections[f.sec].options[f.option];
		assert.ok(o, `${key} is not in the schema`);
		if (o.type == 'enum') {
			// '' is "unset" where an option has no default (a rule's family: from its addresses).
			assert.deepEqual(f.words.filter(w => w !== '').sort(), [...o.words].sort(), `${key}: the schema's words`);
			assert.equal(f.default, o.default == null ? '' : o.default, `${key}: default`);
		} else if (o.type == 'bool') {
			assert.equal(f.default, o.default, `${key}: default`);
		} else if (o['default'] != null) {
			assert.equal(f.placeholder, o['default'], `${key}: its default as placeholder`);
		}
		// reliability's range is the list's length: its help and check say so.
		if (['uint', 'seconds'].includes(o.type) && !o.span && key != 'interface.reliability')
			assert.ok(f.descr.includes(`${o.min} to ${o.max}`), `${key}: its range in the help: ${f.descr}`);
		if (['uint', 'seconds'].includes(o.type) && key != 'interface.reliability')
			assert.match(String(f.validate('wan', String(o.max + 1))), /above/, `${key}: checked against its maximum`);
	}
	assert.match(fields['globals.rule_priority'].descr, /\+ 99 \(1 to 32665\)/);
	assert.match(fields['globals.table_base'].descr, /\+ 16; .* 253-255/);
	assert.match(fields['interface.interval'].descr, /up to 3 decimals/);
	assert.match(fields['interface.track_ip'].descr, /^1 to 8 addresses/);
	assert.match(sections.interface.descr, /\(1 to 8\)/);
	assert.match(fields['interface.gateway'].validate('wan', 'fe80::1'), /neither 'auto' nor an IPv4 address/);
	// The quality thresholds show with check_quality only, and recovery must be stricter.
	for (const k of ['failure_loss', 'recovery_loss', 'failure_latency', 'recovery_latency'])
		assert.deepEqual(fields[`interface.${k}`].deps, [['check_quality', '1']], k);
	assert.equal(fields['interface.gateway6'].validate('wan', 'fe80::1'), true);
	assert.deepEqual(fields['globals.balance_idle'].deps, [['mode', 'balance']], 'shown in balance mode only');
	assert.deepEqual(fields['interface.track_port'].deps, [['track_method', 'tcp']], 'shown with TCP probes only');
	// mwan3's `ping` shows as the word it stands for.
	const method = fields['interface.track_method'];
	uci.get = (config, sid, option) => (option == 'track_method' ? 'ping' : null);
	assert.equal(method.cfgvalue.call(method, 'wan'), 'icmp');
	uci.get = () => 'tcp';
	assert.equal(method.cfgvalue.call(method, 'wan'), 'tcp');
	assert.match(sections.rule.descr, /Up to 16 rules/);
	assert.match(fields['rule.dest_port'].descr, /at most 16 entries/);
});

test('config: rules: prefixes, ports against proto, one family, use names interfaces', async () => {
	const { val } = await load();
	const prefix = v => val.check('rule', 'src_ip', v);
	for (const v of ['192.0.2.130', '192.0.2.128/25', '0.0.0.0/0', '2001:db8::/32', '2001:db8::1', '2001:db8:0:0:1::/80'])
		assert.equal(prefix(v), true, v);
	assert.equal(prefix('192.0.2.130/24'), "'192.0.2.130/24' has host bits set");
	assert.equal(prefix('2001:db8::1/64'), "'2001:db8::1/64' has host bits set");
	assert.equal(prefix('192.0.2.0/33'), "'192.0.2.0/33' has prefix length '33': IPv4 takes 0 to 32");
	assert.match(prefix('lan'), /is not an IPv4 or IPv6 address or prefix/);
	assert.deepEqual(val.parsePorts('1000-2000'), [1000, 2000]);
	assert.equal(val.parsePorts('2000-1000'), null);
	assert.equal(val.parsePorts('0'), null);
	assert.equal(val.rulePorts('5060', 'udp'), true);
	assert.equal(val.rulePorts('80,443,8000-8099', 'tcp'), true);
	assert.equal(val.rulePorts('80', ''), "Ports need proto tcp or udp (proto is 'all')");
	assert.equal(val.rulePorts('80', 'icmp'), "Ports need proto tcp or udp (proto is 'icmp')");
	assert.equal(val.rulePorts('80,80', 'tcp'), "'80' is listed twice");
	assert.match(val.rulePorts('65536', 'tcp'), /is not a port/);
	assert.match(val.rulePorts(Array.from({ length: 17 }, (_, i) => String(i + 1)).join(','), 'tcp'), /More than the 16/);
	assert.equal(val.ruleFamily('192.0.2.1', '198.51.100.0/24', '', 'dest_ip'), true);
	assert.equal(val.ruleFamily('192.0.2.1', '2001:db8::/32', '', 'dest_ip'), 'An IPv4 and an IPv6 address: a rule is of one family');
	assert.equal(val.ruleFamily('192.0.2.1', '', 'ipv6', 'family'), 'The addresses are IPv4');
	assert.equal(val.ruleFamily('', '', 'ipv6', 'family'), true);
	const wans = ['wan', 'lte'];
	assert.equal(val.ruleUse('lte', wans, []), true);
	assert.equal(val.ruleUse('balance', wans, ['wan']), true);
	assert.equal(val.ruleUse('wan', wans, ['wan']), "'wan' is listed twice");
	assert.equal(val.ruleUse('dsl', wans, []), "'dsl' is not an interface section");
	assert.equal(val.ruleUse('wan-b', wans, []), "'wan-b' is not an interface name or 'balance'");
});

test('config: in balance mode equal metrics are allowed', async () => {
	const { val } = await load();
	const wans = [{ name: 'wanb', enabled: '1', metric: '10', device: 'wwan0' }];
	const wan = { name: 'wan', enabled: '1', metric: '10', device: 'eth1' };
	assert.match(val.distinct(wan, wans, 'metric', ''), /Metric 10 is already used by wanb/, 'failover is the default');
	assert.match(val.distinct(wan, wans, 'metric', 'failover'), /Metric 10/);
	assert.equal(val.distinct(wan, wans, 'metric', 'balance'), true);
	assert.match(val.distinct(Object.assign({}, wan, { device: 'wwan0' }), wans, 'device', 'balance'), /Device wwan0/);
});

test('quality: loss and latency over the last probes, toned by the thresholds when on', async () => {
	const { fmt } = await load();
	assert.equal(fmt.quality(undefined), null, 'a daemon without check_quality');
	const off = fmt.quality({ check: false, latency: 13.6, packetloss: 0, probes: 16 });
	assert.deepEqual([off.text, off.tone, off.check], ['0 % lost, 13.6 ms', 'ok', false]);
	assert.equal(fmt.quality({ check: false, packetloss: 100, probes: 16 }).text, '100 % lost');
	const limits = { failure_latency: 1000, recovery_latency: 500, failure_loss: 20, recovery_loss: 5 };
	const on = q => fmt.quality(Object.assign({ check: true, probes: 16 }, limits, q));
	assert.equal(on({ latency: 12.0, packetloss: 0 }).tone, 'ok');
	assert.equal(on({ latency: 12.0, packetloss: 12 }).tone, 'warn', 'between recovery and failure');
	assert.equal(on({ latency: 12.0, packetloss: 25 }).tone, 'bad');
	assert.equal(on({ latency: 1240.0, packetloss: 0 }).tone, 'bad');
	assert.match(on({ latency: 12.0, packetloss: 0 }).hint, /offline at 20 % lost or 1,000 ms; back at 5 % and 500 ms or less/);
	assert.equal(fmt.thousands(1240), '1,240');
	assert.equal(fmt.thousands(999), '999');
	// Each family's model carries it.
	const m = fmt.wan('wan', reply('dualstack-v6-failover').interfaces.wan);
	assert.equal(m.v4.quality.text, '0 % lost, 13.6 ms');
	assert.equal(m.v6.quality.text, '100 % lost');
	assert.equal(m.v6.quality.tone, 'bad');
});

test('config: recovery thresholds must be stricter than the failure ones', async () => {
	const { val } = await load();
	assert.equal(val.stricter('loss', '10', '40'), true);
	assert.equal(val.stricter('loss', '', ''), true, 'the defaults are');
	assert.match(val.stricter('loss', '40', '40'), /Recovery loss 40 is not below failure loss 40/);
	assert.match(val.stricter('loss', '', '5'), /Recovery loss 10 is not below failure loss 5/);
	assert.match(val.stricter('latency', '1500', ''), /Recovery latency 1500 is not below failure latency 1000/);
	assert.equal(val.stricter('latency', 'x', '5'), true, 'a bad value is its own field\'s error');
});
