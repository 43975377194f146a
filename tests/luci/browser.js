// The status page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core, which downloads no browser). LuCI's runtime is not available here:
// the page test loads the app's real view through shim/luci-lite.js, which provides the
// few calls the view uses (rpc.declare, poll.add, view.extend, dom.content, E, _), and
// the rpc transport answers with a recorded reply from replies/.
'use strict';
const assert = require('assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { test } = require('./lib/harness');
const { start } = require('./lib/server');
const { out, replies } = require('./lib/paths');
const golden = path.join(__dirname, 'golden');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--disable-default-apps', '--disable-extensions'];

let env = null;

async function setup() {
	if (env)
		return env;
	const { chromium } = require('playwright-core');
	const { server, base } = await start();
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dualwan-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: FLAGS,
		viewport: { width: 1280, height: 900 },
		deviceScaleFactor: 1,
		offline: false,
	});
	const outside = [];
	// Only the local test server is reachable; anything else is refused and recorded.
	await context.route('**/*', route => {
		const url = route.request().url();
		if (url.startsWith(base + '/'))
			return route.continue();
		outside.push(url);
		return route.abort();
	});
	fs.mkdirSync(out, { recursive: true });
	env = { server, base, context, profile, outside };
	return env;
}

async function teardown() {
	if (!env)
		return;
	await env.context.close();
	env.server.close();
	fs.rmSync(env.profile, { recursive: true, force: true });
	env = null;
}

/* Opens the status page on a recorded reply; returns the page and its console errors. */
async function open(reply) {
	const { context, base } = await setup();
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', e => errors.push(String(e)));
	page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
	await page.goto(`${base}/?reply=${reply}`);
	await page.waitForFunction(() => window.__viewReady || window.__viewError, null, { timeout: 15000 });
	const viewError = await page.evaluate(() => window.__viewError || null);
	assert.equal(viewError, null, 'the view failed to load');
	// Children LuCI's dom.append cannot take (a nested array, null) end up as text.
	const junk = await page.evaluate(() => (document.getElementById('view').textContent.match(/\[object \w+\]|\bnull\b|\bundefined\b/) || [null])[0]);
	assert.equal(junk, null, 'the page shows a stringified child');
	// The view adds its stylesheet itself; colours are only right once it has loaded.
	await page.waitForFunction(() => Array.from(document.styleSheets)
		.some(s => s.href && s.href.endsWith('/dualwan/dualwan.css') && s.cssRules.length > 0), null, { timeout: 15000 });
	return { page, errors };
}

/* What a user sees of each WAN card, read from the DOM. */
function cards(page) {
	return page.$$eval('.dw-card', els => els.map(c => ({
		name: c.querySelector('.dw-name').textContent,
		device: c.querySelector('.dw-device').textContent,
		state: c.querySelector('.dw-state').textContent,
		stateColour: getComputedStyle(c.querySelector('.dw-state')).backgroundColor,
		carrying: c.querySelector('.dw-carrying') ? c.querySelector('.dw-carrying').textContent : null,
		since: c.querySelector('.dw-since .dw-fact-value').textContent,
		reason: c.querySelector('.dw-reason .dw-fact-value').textContent,
		address: c.querySelector('.dw-address .dw-fact-value').textContent,
		gateway: c.querySelector('.dw-gateway .dw-fact-value').textContent,
		targets: Array.from(c.querySelectorAll('tr.dw-target')).map(r => [
			r.getAttribute('data-ip'),
			r.querySelector('.dw-rtt').textContent,
			r.querySelector('.dw-jitter').textContent,
			r.querySelector('.dw-loss').textContent,
		]),
		visible: c.getBoundingClientRect().width > 0,
	})));
}

const RED = 'rgb(198, 40, 40)', GREEN = 'rgb(46, 125, 50)', AMBER = 'rgb(199, 119, 0)', GREY = 'rgb(120, 130, 140)';

/* A variation of a reply for successive polls: RTTs move a little, as on a real line. */
function wobble(reply, i) {
	const r = JSON.parse(JSON.stringify(reply));
	for (const w of Object.values(r.interfaces))
		for (const t of w.track_ip)
			if (typeof t.last_rtt === 'number')
				t.last_rtt = Math.round(t.last_rtt * (1 + 0.25 * Math.sin(i * 0.7 + t.last_rtt)) * 10) / 10;
	r.uptime += 3 * i;
	return r;
}

test('browser: failover page shows states, marker, reason, targets and history', async () => {
	const { page, errors } = await open('failover');
	const c = await cards(page);
	assert.deepEqual(c.map(x => x.name), ['wan', 'wanb', 'wanc'], 'cards in priority order');
	assert.ok(c.every(x => x.visible));
	const [wan, wanb, wanc] = c;
	assert.deepEqual([wan.state, wan.stateColour, wan.carrying], ['Offline', RED, null]);
	assert.equal(wan.reason, 'gateway answers, targets unreachable (0/3 answered, need 1)');
	assert.equal(wan.since, '1 min 35 s');
	assert.deepEqual(wan.targets, [
		['1.1.1.1', '—', '—', '100 %'],
		['8.8.8.8', '—', '—', '100 %'],
		['9.9.9.9', '19.1 ms', '1.4 ms', '94 %'],
		['192.0.2.1', '0.5 ms', '0.1 ms', '0 %'],
	]);
	assert.deepEqual([wanb.state, wanb.stateColour, wanb.carrying], ['Online', GREEN, '⇄ Carrying traffic']);
	assert.deepEqual(wanb.targets[0], ['1.1.1.1', '43.2 ms', '6.1 ms', '0 %']);
	assert.deepEqual([wanc.state, wanc.stateColour, wanc.carrying, wanc.address], ['Disabled', GREY, null, 'none']);
	const headline = await page.textContent('.dw-headline');
	assert.match(headline, /Failed over: traffic leaves through wanb \(wwan0\)\./);
	assert.match(headline, /wan is offline: gateway answers, targets unreachable/);
	const history = await page.$$eval('.dw-event', els => els.map(e => e.textContent));
	assert.equal(history.length, 4);
	assert.match(history[0], /1 min 35 s ago.*wan: Online → Offline.*gateway answers, targets unreachable/);
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: a WAN probing with TCP says so beside each target; its gateway is pinged', async () => {
	const { page, errors } = await open('tcp-probes');
	const rows = await page.$$eval('tr.dw-target', els => els.map(r => [
		r.closest('.dw-card').querySelector('.dw-name').textContent,
		r.getAttribute('data-ip'),
		r.getAttribute('data-method'),
		r.querySelector('.dw-ip').textContent.trim(),
	]));
	assert.deepEqual(rows, [
		['wan', '1.1.1.1', 'icmp', '1.1.1.1'],
		['wan', '8.8.8.8', 'icmp', '8.8.8.8'],
		['wan', '192.0.2.1', 'icmp', '192.0.2.1 (gateway)'],
		['lte', '1.1.1.1', 'tcp', '1.1.1.1 (TCP 443)'],
		['lte', '9.9.9.9', 'tcp', '9.9.9.9 (TCP 443)'],
		['lte', '198.51.100.1', 'icmp', '198.51.100.1 (gateway)'],
	]);
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: balance page shows each WAN\'s share and weight, and the rules with their WANs', async () => {
	const { page, errors } = await open('balance');
	const c = await cards(page);
	assert.deepEqual(c.map(x => [x.name, x.carrying]), [
		['wan', '⇄ 75 % of new connections'], ['wanb', '⇄ 25 % of new connections'], ['lte', null]]);
	const weights = await page.$$eval('.dw-weight .dw-fact-value', els => els.map(e => e.textContent));
	assert.deepEqual(weights, ['3', '1', '1']);
	assert.match(await page.textContent('.dw-headline'), /Traffic shared by wan \(75 %\), wanb \(25 %\)\./);
	const rules = await page.$$eval('tr.dw-rule', els => els.map(r => Array.from(r.querySelectorAll('td')).map(td => td.textContent)));
	assert.deepEqual(rules, [['voip', '5010', 'lte'], ['guest', '5011', 'wan wanb'], ['backup_only', '5012', 'blackhole']]);
	assert.deepEqual(errors, []);
	await page.close();
});

/* The chart as drawn: per plot, each line's WAN and point count; the axis labels; the legend. */
function chart(page) {
	return page.$eval('.dw-chart', c => {
		const lines = sel => Array.from(c.querySelectorAll(sel + ' path.dw-chart-line')).map(p =>
			[p.getAttribute('data-wan'), (p.getAttribute('d').match(/[ML]/g) || []).length, getComputedStyle(p).stroke]);
		const labels = sel => Array.from(c.querySelectorAll(sel)).map(e => e.textContent);
		return {
			titles: labels('.dw-chart-title'),
			rtt: lines('.dw-chart-rtt'),
			loss: lines('.dw-chart-loss'),
			rttAxis: labels('.dw-chart-rtt .dw-chart-ylabel'),
			lossAxis: labels('.dw-chart-loss .dw-chart-ylabel'),
			timeAxis: labels('.dw-chart-xlabel'),
			legend: labels('.dw-chart-key'),
			plotHeight: c.querySelector('.dw-chart-rtt svg').getBoundingClientRect().height,
		};
	});
}

/* Polls the page `n` times with wobbled copies of `base`, 3 s of daemon uptime apart. */
async function pollMany(page, base, n) {
	for (let i = 1; i <= n; i++)
		await page.evaluate(r => { window.dualwanTest.setReply(r); return window.dualwanTest.runtime.poll.tick(); }, wobble(base, i));
}

test('browser: successive polls draw the RTT and loss chart: a line per WAN, labelled axes, a legend', async () => {
	const { page, errors } = await open('failover');
	const base = JSON.parse(fs.readFileSync(path.join(replies, 'failover.json'), 'utf8'));
	const polls = await page.evaluate(() => ({
		n: window.dualwanTest.runtime.poll.count(),
		every: window.dualwanTest.runtime.poll.intervals(),
	}));
	assert.deepEqual(polls, { n: 1, every: [3] }, 'one poll function, every 3 s');
	let c = await chart(page);
	assert.deepEqual([c.rtt, c.loss.map(l => l.slice(0, 2))], [[['wanb', 1, 'rgb(230, 81, 0)']], [['wan', 1], ['wanb', 1]]], 'the first poll: a point each');
	await pollMany(page, base, 30);
	const calls = await page.evaluate(() => window.dualwanTest.runtime.rpc.calls.map(c => `${c.object}.${c.method}`));
	assert.equal(calls.length, 31);
	assert.ok(calls.every(c => c === 'dualwan.status'));
	c = await chart(page);
	assert.deepEqual(c.titles, ['Round-trip time (ms)', 'Loss (%)']);
	// wan never answers: no RTT line, but its loss is drawn; wanb a point per poll; disabled wanc not at all.
	assert.deepEqual(c.rtt, [['wanb', 31, 'rgb(230, 81, 0)']]);
	assert.deepEqual(c.loss, [['wan', 31, 'rgb(21, 101, 192)'], ['wanb', 31, 'rgb(230, 81, 0)']]);
	assert.deepEqual(c.rttAxis, ['100 ms', '50 ms', '0 ms']);
	assert.deepEqual(c.lossAxis, ['100 %', '50 %', '0 %']);
	assert.deepEqual(c.timeAxis, ['−5 min', '−4 min', '−3 min', '−2 min', '−1 min', 'now']);
	assert.equal(c.legend.length, 2);
	assert.match(c.legend[0], /^wan now —, 98 % lost$/);
	assert.match(c.legend[1], /^wanb now \d+\.\d ms, 1 % lost$/);
	assert.ok(c.plotHeight > 100, 'a readable plot, not a thumbnail');
	const svgNs = await page.$eval('.dw-chart-svg', e => e.namespaceURI);
	assert.equal(svgNs, 'http://www.w3.org/2000/svg');
	// The line's points span the time they were polled: 90 s of the 300 s window, ending at the right.
	const span = await page.$eval('.dw-chart-rtt path.dw-chart-line', p => {
		const xs = p.getAttribute('d').match(/[ML][\d.]+/g).map(x => +x.slice(1));
		return [xs[0], xs[xs.length - 1]];
	});
	assert.deepEqual(span, [700, 1000]);
	assert.deepEqual(errors, []);
	await page.close();
});

/* The "Test now" of a WAN card as a user sees it. */
function probeBox(page, wan) {
	return page.$eval(`.dw-card[data-wan="${wan}"] .dw-probe`, b => ({
		disabled: b.querySelector('button').disabled,
		button: b.querySelector('button').textContent,
		state: (b.querySelector('.dw-probe-state') || { textContent: null }).textContent,
		rows: Array.from(b.querySelectorAll('.dw-probe-row')).map(r => [
			r.getAttribute('data-ip'), r.querySelector('.dw-ip').textContent.trim(), r.querySelector('.dw-probe-answer').textContent.trim()]),
	}));
}

test('browser: "Test now" calls dualwan probe, is disabled while it runs, then shows each answer and RTT', async () => {
	const { page, errors } = await open('tcp-probes');
	assert.deepEqual(await page.$$eval('.dw-probe-button', els => els.map(b => [b.closest('.dw-card').getAttribute('data-wan'), b.textContent, b.disabled])),
		[['wan', 'Test now', false], ['lte', 'Test now', false]]);
	const lte = JSON.parse(fs.readFileSync(path.join(replies, 'probe/tcp-probes-lte.json'), 'utf8'));
	// The daemon answers only when the test lets it: the round takes up to `timeout`.
	await page.evaluate(() => window.dualwanTest.setReplyFor('probe', params =>
		new Promise(done => { window.__answerProbe = r => done(r); window.__probeParams = params; })));
	await page.click('.dw-card[data-wan="lte"] .dw-probe-button');
	await page.waitForFunction(() => window.__answerProbe);
	assert.deepEqual(await page.evaluate(() => window.__probeParams), { interface: 'lte' });
	let box = await probeBox(page, 'lte');
	assert.deepEqual([box.disabled, box.state], [true, 'Probing every target and the gateway…']);
	// A status poll while the probe runs redraws the card: still disabled, still probing.
	await page.evaluate(() => window.dualwanTest.runtime.poll.tick());
	box = await probeBox(page, 'lte');
	assert.deepEqual([box.disabled, box.state], [true, 'Probing every target and the gateway…']);
	assert.equal((await probeBox(page, 'wan')).disabled, false, 'only the WAN being probed waits');
	await page.evaluate(r => window.__answerProbe(r), lte);
	await page.waitForFunction(() => !document.querySelector('.dw-card[data-wan="lte"] .dw-probe-button').disabled);
	box = await probeBox(page, 'lte');
	assert.equal(box.state, 'Test now: 2 of 3 answered');
	assert.deepEqual(box.rows, [
		['1.1.1.1', '1.1.1.1 (TCP 443)', '47.1 ms'],
		['9.9.9.9', '9.9.9.9 (TCP 443)', '52.9 ms'],
		['198.51.100.1', '198.51.100.1 (gateway)', 'timeout'],
	]);
	// The result stays through the next polls, until the next test.
	await page.evaluate(() => window.dualwanTest.runtime.poll.tick());
	assert.equal((await probeBox(page, 'lte')).rows.length, 3);
	const calls = await page.evaluate(() => window.dualwanTest.runtime.rpc.calls.map(c => `${c.object}.${c.method} ${JSON.stringify(c.params)}`));
	assert.deepEqual(calls.filter(c => c.includes('probe')), ['dualwan.probe {"interface":"lte"}']);
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: "Test now" on a WAN that cannot be probed, and on a daemon without the method, says why', async () => {
	const { page, errors } = await open('degraded');
	const wanb = JSON.parse(fs.readFileSync(path.join(replies, 'probe/degraded-wanb.json'), 'utf8'));
	await page.evaluate(r => window.dualwanTest.setReplyFor('probe', r), wanb);
	await page.click('.dw-card[data-wan="wanb"] .dw-probe-button');
	await page.waitForSelector('.dw-card[data-wan="wanb"] .dw-probe-error');
	let box = await probeBox(page, 'wanb');
	assert.deepEqual([box.disabled, box.state, box.rows], [false, 'cannot probe it now: device missing', []]);
	// No probe method: rpcd relays ubus status 3.
	await page.evaluate(() => window.dualwanTest.setReplyFor('probe', 3));
	await page.click('.dw-card[data-wan="wan"] .dw-probe-button');
	await page.waitForSelector('.dw-card[data-wan="wan"] .dw-probe-error');
	box = await probeBox(page, 'wan');
	assert.deepEqual([box.disabled, box.state], [false, 'this dualwan has no probe method: update the daemon']);
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: the page links to LuCI\'s system log and names the logread command', async () => {
	const { page, errors } = await open('all-online');
	const log = await page.$eval('.dw-log', p => ({ text: p.textContent, href: p.querySelector('a').getAttribute('href'), link: p.querySelector('a').textContent }));
	assert.deepEqual([log.href, log.link], ['/cgi-bin/luci/admin/status/logs', 'System log']);
	assert.match(log.text, /filter it for "dualwan"/);
	assert.equal(await page.textContent('.dw-log-command'), 'logread -e dualwan');
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: all online and no WAN up read differently at a glance', async () => {
	let { page, errors } = await open('all-online');
	let c = await cards(page);
	assert.deepEqual(c.map(x => [x.name, x.state, x.carrying]), [['wan', 'Online', '⇄ Carrying traffic'], ['wanb', 'Online', null]]);
	assert.match(await page.textContent('.dw-headline'), /Traffic leaves through wan \(eth1\)\./);
	assert.deepEqual(errors, []);
	await page.close();

	({ page, errors } = await open('no-wan-up'));
	c = await cards(page);
	assert.deepEqual(c.map(x => [x.name, x.state, x.stateColour, x.carrying, x.reason]), [
		['wan', 'No link', RED, null, 'carrier lost'],
		['wanb', 'Connecting', AMBER, null, 'probes answered'],
	]);
	assert.equal(c[0].gateway, 'unknown');
	assert.match(await page.textContent('.dw-headline'), /No WAN is carrying traffic\./);
	await page.screenshot({ path: path.join(out, 'no-wan-up.png'), fullPage: true });
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: daemon not running says so, with the command; recovers when it answers', async () => {
	const { page, errors } = await open('not-running');
	assert.equal(await page.$$eval('.dw-card', els => els.length), 0);
	const banner = await page.textContent('.dw-down-banner');
	assert.match(banner, /The dualwan daemon is not running\./);
	assert.equal(await page.textContent('.dw-command'), '/etc/init.d/dualwan start');
	await page.screenshot({ path: path.join(out, 'not-running.png'), fullPage: true });
	const reply = JSON.parse(fs.readFileSync(path.join(replies, 'all-online.json'), 'utf8'));
	await page.evaluate(r => { window.dualwanTest.setReply(r); return window.dualwanTest.runtime.poll.tick(); }, reply);
	assert.equal(await page.$$eval('.dw-down-banner', els => els.length), 0);
	assert.deepEqual(await page.$$eval('.dw-card', els => els.map(e => e.getAttribute('data-status'))), ['online', 'online']);
	assert.deepEqual(errors, []);
	await page.close();
});

/* What a user sees of each dual-stack WAN card: both families' badges, facts and markers. */
function cards6(page) {
	return page.$$eval('.dw-card', els => els.map(c => {
		const text = sel => { const e = c.querySelector(sel); return e ? e.textContent : null; };
		const colour = sel => { const e = c.querySelector(sel); return e ? getComputedStyle(e).backgroundColor : null; };
		return {
			name: text('.dw-name'),
			state: text('.dw-state'), stateColour: colour('.dw-state'),
			state6: text('.dw-state6'), state6Colour: colour('.dw-state6'),
			carrying: text('.dw-carrying'), carrying6: text('.dw-carrying6'),
			border: getComputedStyle(c).borderTopColor,
			facts: Array.from(c.querySelectorAll('.dw-fact')).map(f =>
				Array.from(f.children).map(x => x.textContent)),
			families: Array.from(c.querySelectorAll('tr.dw-target')).map(r => r.getAttribute('data-family')),
		};
	}));
}

/* Cards whose content is wider than the card (a long IPv6 address pushing the layout). */
function overflowing(page) {
	return page.$$eval('.dw-card', els => els.filter(c => {
		const box = c.getBoundingClientRect();
		return Array.from(c.querySelectorAll('*')).some(e => {
			const r = e.getBoundingClientRect();
			return r.width > 0 && (r.right > box.right + 0.5 || r.left < box.left - 0.5);
		});
	}).map(c => c.getAttribute('data-wan')));
}

test('browser: dual stack, IPv6 failed over: headline, both badges, markers, facts, targets, timeline', async () => {
	const { page, errors } = await open('dualstack-v6-failover');
	const headline = await page.textContent('.dw-headline-text');
	assert.equal(headline, 'Failed over: IPv4 via wan (eth1), IPv6 via wwan (wwan0).');
	assert.equal(await page.textContent('.dw-headline-detail'),
		'wan is offline for IPv6: gateway answers, targets unreachable (0/2 answered, need 1)');
	assert.equal(await page.$eval('.dw-headline', e => getComputedStyle(e).borderLeftColor), AMBER);
	const [wan, wwan] = await cards6(page);
	assert.deepEqual([wan.name, wan.state, wan.stateColour, wan.state6, wan.state6Colour],
		['wan', 'IPv4 Online', GREEN, 'IPv6 Offline', RED]);
	assert.deepEqual([wan.carrying, wan.carrying6, wan.border], ['⇄ Carrying IPv4', null, AMBER]);
	assert.deepEqual(wan.facts, [
		['', 'IPv4', 'IPv6'],
		['In state for', '11 h 08 min', '48 s'],
		['Last reason', 'probes answered', 'gateway answers, targets unreachable (0/2 answered, need 1)'],
		['Address', '192.0.2.2', '2001:db8:4a1:100::1c2'],
		['Gateway', '192.0.2.1', 'fe80::1'],
		['Probes', '2 of 2 targets answer', '0 of 2 targets answer'],
		['Quality', '0 % lost, 13.6 ms', '100 % lost'],
		['Metric', '10'],
	]);
	assert.deepEqual(wan.families, ['ipv4', 'ipv6', 'ipv4', 'ipv6', 'ipv4', 'ipv6']);
	assert.deepEqual([wwan.state, wwan.state6, wwan.carrying, wwan.carrying6, wwan.border],
		['IPv4 Online', 'IPv6 Online', null, '⇄ Carrying IPv6', GREEN]);
	const rows = await page.$$eval('.dw-card[data-wan="wan"] tr.dw-target', els => els.map(r =>
		[r.getAttribute('data-ip'), r.querySelector('.dw-ip').textContent.trim(), r.querySelector('.dw-loss').textContent]));
	assert.deepEqual(rows[3], ['2001:4860:4860::8888', '2001:4860:4860::8888', '100 %']);
	assert.deepEqual(rows[5], ['fe80::1', 'fe80::1 (gateway)', '0 %']);
	assert.equal(await page.getAttribute('.dw-card[data-wan="wan"]', 'data-status6'), 'offline');
	const history = await page.$$eval('.dw-event', els => els.map(e => [e.getAttribute('data-family'),
		e.querySelector('.dw-event-family').textContent, e.querySelector('.dw-event-text').textContent]));
	assert.deepEqual(history[0], ['ipv6', 'IPv6', 'wan IPv6: Online → Offline']);
	assert.deepEqual(history[2], ['ipv4', 'IPv4', 'wan IPv4: No link → Online']);
	assert.deepEqual(await overflowing(page), []);
	await page.screenshot({ path: path.join(out, 'dualstack.png'), fullPage: true });
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: dual stack, all online: one phrase, one marker for both families', async () => {
	const { page, errors } = await open('dualstack-online');
	assert.equal(await page.textContent('.dw-headline-text'), 'IPv4 and IPv6 leave through wan (eth1).');
	assert.equal(await page.$$eval('.dw-headline-detail', els => els.length), 0);
	const [wan, wwan] = await cards6(page);
	assert.deepEqual([wan.carrying, wan.carrying6, wan.state, wan.state6, wan.border],
		['⇄ Carrying IPv4 and IPv6', '⇄ Carrying IPv4 and IPv6', 'IPv4 Online', 'IPv6 Online', GREEN]);
	assert.deepEqual([wwan.carrying, wwan.carrying6], [null, null]);
	assert.equal(await page.$$eval('.dw-card[data-wan="wan"] .dw-badges .dw-badge', els => els.length), 3);
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: dual stack, an IPv6-only WAN beside an IPv4-only one', async () => {
	const { page, errors } = await open('dualstack-v6-only');
	assert.equal(await page.textContent('.dw-headline-text'), 'IPv4 via wan (eth1), IPv6 via he6 (6in4-he).');
	const [he6, wan, lte] = await cards6(page);
	assert.deepEqual([he6.name, he6.state, he6.stateColour, he6.state6, he6.state6Colour, he6.carrying, he6.carrying6, he6.border],
		['he6', 'IPv4 Disabled', GREY, 'IPv6 Online', GREEN, null, '⇄ Carrying IPv6', GREEN]);
	assert.deepEqual(he6.facts[2], ['Last reason', 'no IPv4 track_ip', 'probes answered']);
	assert.deepEqual(he6.facts[1], ['In state for', 'Disabled', '2 h 23 min']);
	assert.deepEqual([wan.carrying, wan.carrying6], ['⇄ Carrying IPv4', null]);
	// the IPv4-only WAN keeps the card it always had
	assert.deepEqual([lte.name, lte.state, lte.state6, lte.carrying, lte.carrying6], ['lte', 'Online', null, null, null]);
	assert.deepEqual(lte.families, [null, null, null]);
	assert.deepEqual(lte.facts.map(f => f[0]), ['Online for', 'Last reason', 'Address', 'Gateway', 'Metric', 'Probes']);
	assert.equal(await page.$$eval('.dw-card[data-wan="lte"] .dw-facts6', els => els.length), 0);
	assert.equal(await page.getAttribute('.dw-card[data-wan="lte"]', 'data-status6'), null);
	assert.deepEqual(errors, []);
	await page.close();
});

// Down to a phone: a narrow card shows each target in two lines; IPv6 addresses break after a colon.
test('browser: long IPv6 addresses stay inside the dual-stack cards, 1280 to 375 px wide', async () => {
	const { page, errors } = await open('dualstack-online');
	for (const width of [1280, 1000, 900, 600, 375]) {
		await page.setViewportSize({ width, height: 900 });
		assert.deepEqual(await overflowing(page), [], `at ${width} px`);
		const scroll = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
		assert.ok(scroll <= 0, `page scrolls sideways by ${scroll} px at ${width} px`);
	}
	await page.screenshot({ path: path.join(out, 'dualstack-narrow.png'), fullPage: true });
	assert.deepEqual(errors, []);
	await page.close();
});

/* Elements of the page (#view) reaching past the window's sides: [tag.class, left, right]. */
function outsideWindow(page) {
	return page.$$eval('#view *', els => els.filter(e => {
		const r = e.getBoundingClientRect();
		return r.width > 0 && (r.right > innerWidth + 0.5 || r.left < -0.5);
	}).map(e => [e.tagName.toLowerCase() + '.' + String(e.getAttribute('class') || ''), Math.round(e.getBoundingClientRect().left), Math.round(e.getBoundingClientRect().right)]));
}

/* The page's width against the window's, with every element inside its card and the window. */
async function fits(page, what) {
	const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
	assert.ok(scroll <= inner, `${what}: the page is ${scroll} px wide in a ${inner} px window`);
	assert.deepEqual(await overflowing(page), [], `${what}: cards with content past their border`);
	assert.deepEqual(await outsideWindow(page), [], `${what}: elements past the window`);
	// A target's state ("● no answer") stays on one line.
	const wrapped = await page.$$eval('.dw-tstate', els => els.filter(td => {
		const range = document.createRange();
		range.selectNodeContents(td);
		const rects = Array.from(range.getClientRects());
		const height = Math.max(...rects.map(r => r.bottom)) - Math.min(...rects.map(r => r.top));
		return height > 1.5 * parseFloat(getComputedStyle(td).lineHeight);
	}).map(td => td.textContent.trim()));
	assert.deepEqual(wrapped, [], `${what}: target states on two lines`);
}

const WIDTHS = [1280, 375];

test('browser: every recorded reply fits a 1280 px window and a 375 px phone, with the chart and a probe result', async () => {
	for (const name of require('./lib/load').replyNames()) {
		const { page, errors } = await open(name);
		const base = JSON.parse(fs.readFileSync(path.join(replies, name + '.json'), 'utf8'));
		if (base.interfaces)
			await pollMany(page, base, 5);
		const probes = fs.readdirSync(path.join(replies, 'probe')).filter(f => f.startsWith(name + '-'));
		for (const f of probes) {
			const r = JSON.parse(fs.readFileSync(path.join(replies, 'probe', f), 'utf8'));
			await page.evaluate(x => window.dualwanTest.setReplyFor('probe', x), r);
			await page.click(`.dw-card[data-wan="${r.interface}"] .dw-probe-button`);
			await page.waitForSelector(`.dw-card[data-wan="${r.interface}"] .dw-probe-state:not(.dw-muted)`);
		}
		// Both widths the issue names, and the ones between where cards change columns.
		for (const width of [1280, 1100, 1000, 900, 800, 700, 600, 500, 420, 375]) {
			await page.setViewportSize({ width, height: 900 });
			await fits(page, `${name} at ${width} px`);
		}
		assert.deepEqual(errors, []);
		await page.close();
	}
});

// Regenerate with: bash tests/luci/run.sh screenshots
test('browser: screenshots of the status page at 1280 and 375 px (tests/luci/out/status-WIDTH.png)', async () => {
	const { page, errors } = await open('tcp-probes');
	await pollMany(page, JSON.parse(fs.readFileSync(path.join(replies, 'tcp-probes.json'), 'utf8')), 60);
	const lte = JSON.parse(fs.readFileSync(path.join(replies, 'probe/tcp-probes-lte.json'), 'utf8'));
	await page.evaluate(x => window.dualwanTest.setReplyFor('probe', x), lte);
	await page.click('.dw-card[data-wan="lte"] .dw-probe-button');
	await page.waitForSelector('.dw-card[data-wan="lte"] .dw-probe-row');
	const shown = () => page.$$eval('.dw-chart-xlabel', els => els.filter(e => e.getBoundingClientRect().width > 0).map(e => e.textContent));
	for (const width of WIDTHS) {
		await page.setViewportSize({ width, height: 900 });
		await fits(page, `screenshot at ${width} px`);
		assert.deepEqual(await shown(), width > 600 ? ['−5 min', '−4 min', '−3 min', '−2 min', '−1 min', 'now'] : ['−5 min', '−3 min', '−1 min', 'now'],
			`time labels at ${width} px`);
		const overlaps = await page.$$eval('.dw-chart-xlabel, .dw-chart-ylabel', els => {
			const boxes = els.map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
			return boxes.filter((a, i) => boxes.some((b, j) => j > i &&
				a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)).length;
		});
		assert.equal(overlaps, 0, `axis labels overlap at ${width} px`);
		await page.screenshot({ path: path.join(out, `status-${width}.png`), fullPage: true });
	}
	assert.deepEqual(errors, []);
	await page.close();
});

test('browser: an IPv4-only reply whose history names the family renders as without it', async () => {
	const plain = JSON.parse(fs.readFileSync(path.join(replies, 'failover.json'), 'utf8'));
	const tagged = JSON.parse(JSON.stringify(plain));
	tagged.history = tagged.history.map(e => ({ age: e.age, interface: e.interface, family: 'ipv4', from: e.from, to: e.to, reason: e.reason }));
	const markup = [];
	for (const r of [plain, tagged]) {
		const { page, errors } = await open('failover');
		await page.evaluate(x => { window.dualwanTest.setReply(x); return window.dualwanTest.runtime.poll.tick(); }, r);
		markup.push(await page.$eval('#dualwan-status', e => e.innerHTML));
		assert.deepEqual(errors, []);
		await page.close();
	}
	assert.equal(markup[1], markup[0]);
});

/*
 * The status markup of the replies recorded before dual-stack support, as the app drew
 * it then (golden/*.html). A reply without IPv6 keys must render exactly the same;
 * DUALWAN_UPDATE_GOLDEN=1 rewrites the files after a deliberate change of the page.
 */
const OLD_REPLIES = ['all-online', 'degraded', 'failover', 'no-wan-up', 'not-running'];


for (const name of OLD_REPLIES)
	test(`browser: ${name}.json renders exactly as golden/${name}.html`, async () => {
		const { page, errors } = await open(name);
		const html = await page.$eval('#view', v => v.innerHTML.replace(/></g, '>\n<')) + '\n';
		const file = path.join(golden, name + '.html');
		if (process.env.DUALWAN_UPDATE_GOLDEN === '1')
			fs.writeFileSync(file, html);
		assert.equal(html, fs.readFileSync(file, 'utf8'));
		assert.deepEqual(errors, []);
		await page.close();
	});

test('browser: the page asked for nothing outside the local test server', async () => {
	const e = await setup();
	assert.deepEqual(e.outside, []);
	await teardown();
});
