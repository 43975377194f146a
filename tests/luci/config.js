// The config page in headless Chromium, rendered by the real LuCI client runtime
// (luci.js, ui.js, form.js, uci.js, rpc.js and the bootstrap theme, from LUCI_SRC: see
// lib/luci-runtime.js) as a router serves it: the page LuCI's templates make, and rpcd's
// answers from fixtures (lib/luci-server.js; `uci get dualwan` reads uci/three-wans.config).
// At 1280 and 375 px: the page is no wider than the window, every Edit and Delete button
// is inside it, the tables show an empty option's default from schema.json, greyed, and
// the edit dialog fits too. Screenshots: out/config-{1280,375}{,-edit}.png.
'use strict';
const assert = require('assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { test } = require('./lib/harness');
const { start } = require('./lib/server');
const { out, htdocs, repo } = require('./lib/paths');
const uciFile = require('./lib/uci-file');
const { locate } = require('./lib/luci-runtime');
const { luciRoutes } = require('./lib/luci-server');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WIDTHS = [1280, 375];
const schema = JSON.parse(fs.readFileSync(path.join(htdocs, 'dualwan/schema.json'), 'utf8'));
const runtime = locate();

let env = null;

async function setup() {
	if (env)
		return env;
	const { chromium } = require('playwright-core');
	const routes = luciRoutes(runtime, path.join(__dirname, 'uci'));
	const { server, base } = await start(routes.handle);
	const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
	fs.mkdirSync(out, { recursive: true });
	env = { routes, server, base, browser, outside: [] };
	return env;
}

/* The config page on fixture `config`, in a window `width` px wide (a phone's screen as wide). */
async function open(width, config) {
	const { routes, base, browser, outside } = await setup();
	routes.state.config = config;
	routes.state.calls.length = 0;
	const context = await browser.newContext({ viewport: { width, height: 900 }, screen: { width, height: 900 }, deviceScaleFactor: 1 });
	await context.route('**/*', route => {
		if (route.request().url().startsWith(base + '/'))
			return route.continue();
		outside.push(route.request().url());
		return route.abort();
	});
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', e => errors.push(String(e)));
	page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
	await page.goto(base + routes.PAGE);
	await page.waitForFunction(() => document.querySelector('#view .cbi-map') && !document.querySelector('#view .spinning') &&
		Array.from(document.styleSheets).some(s => s.href && s.href.endsWith('/dualwan/dualwan.css')), null, { timeout: 20000 });
	return { page, errors, context };
}

/* How wide the page is, and where each Edit and Delete button of the tables sits. */
function layout(page) {
	return page.evaluate(() => ({
		scrollWidth: document.documentElement.scrollWidth,
		innerWidth: window.innerWidth,
		buttons: Array.from(document.querySelectorAll('.cbi-section-table-row .cbi-button-edit, .cbi-section-table-row .cbi-button-remove'))
			.map(b => { const r = b.getBoundingClientRect(); return { row: b.closest('.cbi-section-table-row').getAttribute('data-sid'), text: b.textContent.trim(), left: r.left, right: r.right, width: r.width }; }),
	}));
}

/* The table cells as the user reads them: section -> row -> option -> { text, greyed }. */
function cells(page) {
	return page.evaluate(() => {
		const got = {};
		for (const row of document.querySelectorAll('.cbi-section-table-row[data-sid]')) {
			const sec = row.closest('.cbi-section').id.replace(/^cbi-dualwan-/, '');
			const r = (got[sec] = got[sec] || {})[row.getAttribute('data-sid')] = {};
			for (const td of row.querySelectorAll('.td[data-name]')) {
				const input = td.querySelector('input');
				if (input) {
					r[td.getAttribute('data-name')] = { checked: input.checked };
					continue;
				}
				const grey = td.querySelector('.dw-default');
				r[td.getAttribute('data-name')] = {
					text: td.textContent.trim(),
					greyed: !!grey && grey.textContent.trim() === td.textContent.trim() && Number(getComputedStyle(grey).opacity) < 1,
				};
			}
		}
		return got;
	});
}

/* Prints a skip as tests/run.sh counts it (like tests/common/skip.rs). */
function skip(name, reason) {
	console.log(`${name}: skipped: ${reason}`);
	if (process.env.DUALWAN_SKIP_LOG)
		fs.appendFileSync(process.env.DUALWAN_SKIP_LOG, `luci\t${name}\t${reason}\n`);
}

const UCI = path.join(repo, '../shared/owrt/uci');
for (const name of fs.readdirSync(path.join(__dirname, 'uci')).filter(f => f.endsWith('.config')).map(f => f.slice(0, -7)))
	if (!fs.existsSync(UCI))
		skip(`config fixture ${name}`, `no ${UCI} (the real uci reads the fixture)`);
	else
		test(`config fixture: uci/${name}.config reads as the real uci reads it`, () => {
			const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dualwan-uci-'));
			try {
				for (const d of ['c', 'e', 's'])
					fs.mkdirSync(path.join(tmp, d));
				fs.copyFileSync(path.join(__dirname, 'uci', name + '.config'), path.join(tmp, 'c/dualwan'));
				const shown = execFileSync(UCI, ['-c', path.join(tmp, 'c'), '-C', path.join(tmp, 'e'), '-t', path.join(tmp, 's'), 'show', 'dualwan']).toString();
				// `show` prints a section as dualwan.NAME=TYPE, an option or a list as dualwan.NAME.OPTION='v' ['v'...].
				const want = {};
				for (const line of shown.trim().split('\n')) {
					const [, sid, opt, rest] = line.match(/^dualwan\.(\w+)(?:\.(\w+))?=(.*)$/);
					if (!opt)
						want[sid] = { '.type': rest };
					else
						want[sid][opt] = uciFile.words(rest, line);
				}
				const got = {};
				for (const [sid, sec] of Object.entries(uciFile.parse(fs.readFileSync(path.join(tmp, 'c/dualwan'), 'utf8'), name)))
					got[sid] = Object.fromEntries(Object.entries(sec).filter(([k]) => !['.anonymous', '.name', '.index'].includes(k))
						.map(([k, v]) => [k, k === '.type' ? v : [].concat(v)]));
				assert.deepEqual(got, want);
			} finally {
				fs.rmSync(tmp, { recursive: true, force: true });
			}
		});

if (runtime.missing) {
	skip('config browser', runtime.missing);
} else {
	for (const width of WIDTHS)
		test(`config browser: at ${width} px no wider than the window, Edit and Delete inside it; screenshot`, async () => {
			const { page, errors, context } = await open(width, 'three-wans');
			const l = await layout(page);
			assert.ok(l.scrollWidth <= l.innerWidth, `page ${l.scrollWidth} px wide in a ${l.innerWidth} px window`);
			// Three WANs and two rules, each with Edit and Delete.
			assert.equal(l.buttons.length, 10, JSON.stringify(l.buttons));
			for (const b of l.buttons)
				assert.ok(b.left >= 0 && b.right <= l.innerWidth && b.width > 0, `${b.row}: ${b.text} at ${b.left}..${b.right}`);
			assert.deepEqual(l.buttons.filter(b => b.row === 'wan').map(b => b.text), ['Edit', 'Delete']);
			await page.screenshot({ path: path.join(out, `config-${width}.png`), fullPage: true });
			assert.deepEqual(errors, []);
			await context.close();
		});

	test('config browser: empty options show the daemon\'s default from schema.json, greyed, never "none"', async () => {
		const { page, context } = await open(1280, 'three-wans');
		const c = await cells(page);
		const dflt = (sec, o) => schema.sections[sec].options[o].default;
		// The WAN table: a few columns, the rest in the edit dialog.
		assert.deepEqual(Object.keys(c.interface), ['wan', 'wwan', 'lte_backup']);
		assert.deepEqual(Object.keys(c.interface.wan), ['enabled', 'device', 'gateway', 'metric', 'track_ip']);
		assert.deepEqual(c.interface.wan.gateway, { text: dflt('interface', 'gateway'), greyed: true });
		assert.deepEqual(c.interface.wwan.gateway, { text: '192.0.2.1', greyed: false });
		assert.deepEqual([c.interface.wan.enabled, c.interface.lte_backup.enabled], [{ checked: true }, { checked: false }]);
		assert.deepEqual(c.interface.wan.metric, { text: '10', greyed: false });
		assert.deepEqual(c.interface.lte_backup.metric, { text: dflt('interface', 'metric'), greyed: true });
		assert.deepEqual(c.interface.wwan.device, { text: 'network wwan', greyed: false }, 'a WAN following a network says so');
		assert.equal(c.interface.wan.track_ip.text, '198.51.100.1, 203.0.113.8, 203.0.113.9');
		// The rules: no default but a meaning ("any"), or the default's label.
		assert.deepEqual(Object.keys(c.rule), ['voip', 'guest']);
		assert.deepEqual(Object.keys(c.rule.guest), ['src_ip', 'dest_ip', 'proto', 'dest_port', 'use']);
		assert.equal(dflt('rule', 'proto'), 'all');
		assert.deepEqual(c.rule.guest.proto, { text: 'Any', greyed: true });
		assert.deepEqual(c.rule.voip.proto, { text: 'UDP', greyed: false });
		for (const o of ['src_ip', 'dest_ip', 'dest_port'])
			assert.deepEqual(c.rule.guest[o], { text: 'any', greyed: true }, o);
		assert.deepEqual(c.rule.voip.dest_ip, { text: 'any', greyed: true });
		for (const [sec, rows] of Object.entries(c))
			for (const [sid, row] of Object.entries(rows))
				for (const [o, v] of Object.entries(row))
					assert.ok('checked' in v || !/^(none|unspecified|)$/.test(v.text), `${sec}.${sid}.${o} reads "${v.text}"`);
		await context.close();
	});

	test('config browser: in balance mode the WAN table has a weight column, its default greyed', async () => {
		for (const width of WIDTHS) {
			const { page, errors, context } = await open(width, 'balance');
			const c = await cells(page);
			assert.deepEqual(Object.keys(c.interface.fibre), ['enabled', 'device', 'gateway', 'metric', 'weight', 'track_ip']);
			assert.deepEqual(c.interface.fibre.weight, { text: '3', greyed: false });
			assert.deepEqual(c.interface.cable.weight, { text: schema.sections.interface.options.weight.default, greyed: true });
			const l = await layout(page);
			assert.ok(l.scrollWidth <= l.innerWidth, `${width}: page ${l.scrollWidth} px wide`);
			assert.ok(l.buttons.length === 4 && l.buttons.every(b => b.left >= 0 && b.right <= l.innerWidth), JSON.stringify(l.buttons));
			assert.deepEqual(errors, []);
			await context.close();
		}
	});

	test('config browser: values that look like HTML show as text', async () => {
		const { page, errors, context } = await open(1280, 'markup');
		const c = await cells(page);
		assert.deepEqual([c.interface.wan.device.text, c.interface.wan.gateway.text, c.interface.wan.track_ip.text],
			['<b>eth1</b>', '<img src=x>', '<i>198.51.100.1</i>']);
		assert.deepEqual([c.rule.odd.src_ip.text, c.rule.odd.use.text], ['<u>192.0.2.1</u>', '<s>wan</s>']);
		assert.equal(await page.$$eval('.cbi-section-table-row :is(b, img, i, u, s)', els => els.length), 0);
		assert.deepEqual(errors, []);
		await context.close();
	});

	for (const width of WIDTHS)
		test(`config browser: at ${width} px the edit dialog fits and its fields show the defaults as placeholders; screenshot`, async () => {
			const { page, errors, context } = await open(width, 'three-wans');
			await page.click('.cbi-section-table-row[data-sid="lte_backup"] .cbi-button-edit');
			await page.waitForSelector('.modal .cbi-map', { timeout: 10000 });
			// A text field's placeholder, or a combobox's (gateway: auto or an address) while nothing is chosen.
			const fields = () => page.$$eval('.modal .cbi-value[data-name]', els => els.map(e => {
				const empty = e.querySelector('.cbi-dropdown li[placeholder][selected]');
				if (empty)
					return [e.getAttribute('data-name'), empty.textContent, ''];
				const input = e.querySelector('input[type="text"]:not(.create-item-input)');
				return [e.getAttribute('data-name'), input ? input.placeholder : null, input ? input.value : null];
			}).filter(f => f[1] !== null));
			// The dialog opens on its General tab; the Probing tab holds the rest.
			let seen = await fields();
			await page.click('.modal .cbi-tabmenu li[data-tab="probing"] a');
			seen = seen.concat(await fields());
			const shown = Object.fromEntries(seen.map(([name, placeholder, value]) => [name, { placeholder, value }]));
			for (const o of ['gateway', 'gateway6', 'metric', 'weight', 'interval', 'timeout', 'down', 'up', 'recovery_wait', 'reliability'])
				assert.deepEqual(shown[o], { placeholder: schema.sections.interface.options[o].default, value: '' }, o);
			const l = await page.evaluate(() => {
				const r = document.querySelector('.modal').getBoundingClientRect();
				return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, left: r.left, right: r.right };
			});
			assert.ok(l.scrollWidth <= l.innerWidth, `page ${l.scrollWidth} px wide in a ${l.innerWidth} px window`);
			assert.ok(l.left >= 0 && l.right <= l.innerWidth, `dialog at ${l.left}..${l.right} in ${l.innerWidth} px`);
			await page.click('.modal .cbi-tabmenu li[data-tab="general"] a');
			// The tab fades in: shoot once it has.
			await page.evaluate(() => Promise.all(document.getAnimations().map(a => a.finished)));
			await page.screenshot({ path: path.join(out, `config-${width}-edit.png`) });
			assert.deepEqual(errors, []);
			await context.close();
		});

	test('config browser: an option typed in the dialog is saved with uci set; the greyed defaults are not', async () => {
		const { page, errors, context } = await open(1280, 'three-wans');
		await page.click('.cbi-section-table-row[data-sid="lte_backup"] .cbi-button-edit');
		await page.waitForSelector('.modal .cbi-map');
		await page.click('.modal .cbi-tabmenu li[data-tab="probing"] a');
		await page.fill('.modal .cbi-value[data-name="interval"] input', '2');
		await page.click('.modal .cbi-button-positive');
		await page.waitForSelector('.modal .cbi-map', { state: 'hidden' });
		await page.click('.cbi-page-actions .cbi-button-save');
		await page.waitForFunction(() => !document.querySelector('.spinning'), null, { timeout: 10000 });
		const writes = env.routes.state.calls.filter(c => c.object === 'uci' && ['set', 'add', 'delete'].includes(c.method));
		assert.ok(writes.length >= 1, 'something was written');
		// LuCI rewrites a flag as it stands (lte_backup is disabled in the fixture); all else unset stays unset.
		const values = Object.assign({}, ...writes.filter(c => c.method === 'set' && c.args.section === 'lte_backup').map(c => c.args.values));
		assert.deepEqual(values, { enabled: '0', interval: '2' }, JSON.stringify(writes));
		assert.deepEqual(writes.filter(c => c.method !== 'set' || c.args.section !== 'lte_backup'), [], 'only the edited WAN');
		assert.deepEqual(errors, []);
		await context.close();
	});

	test('config browser: rpcd was asked for the dualwan config; nothing outside the test server', async () => {
		const { page, context, errors } = await open(1280, 'three-wans');
		const { calls } = env.routes.state;
		assert.ok(calls.some(c => c.object === 'uci' && c.method === 'get' && c.args.config === 'dualwan'), 'uci get dualwan');
		assert.ok(await page.$('.cbi-section-table-row[data-sid="voip"]'), 'the fixture\'s rule is shown');
		assert.deepEqual(errors, []);
		await context.close();
		assert.deepEqual(env.outside, []);
		await env.browser.close();
		env.server.close();
		env = null;
	});
}
