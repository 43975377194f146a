// Static checks of luci-app-dualwan: every JS file parses, menu and ACL are valid JSON
// and agree with the views, with each other and with the daemon's real ubus methods and
// config options (schema.json, which tests/config_check.rs keeps equal to `dualwan check
// --schema`), and stage.sh lays out exactly ipk-files.txt.
'use strict';
const assert = require('assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const vm = require('vm');
const { execFileSync } = require('child_process');
const { test } = require('./lib/harness');
const { repo, pkg, htdocs } = require('./lib/paths');

function walk(dir) {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e =>
		e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}

const rel = f => path.relative(repo, f);
const appJs = walk(htdocs).filter(f => f.endsWith('.js'));
const testJs = walk(path.join(repo, 'tests/luci')).filter(f => f.endsWith('.js') && !f.includes('node_modules'));
const menu = path.join(pkg, 'root/usr/share/luci/menu.d/luci-app-dualwan.json');
const acl = path.join(pkg, 'root/usr/share/rpcd/acl.d/luci-app-dualwan.json');

/* LuCI modules the app may require that come with luci-base. */
const LUCI_BASE = ['baseclass', 'dom', 'form', 'fs', 'network', 'poll', 'request', 'rpc', 'uci', 'ui',
	'validation', 'view', 'tools.widgets'];

/* The directives at the top of a LuCI module: [{ name, alias }]. */
function requires(src) {
	const out = [];
	const re = /^\s*'require\s+([\w.\-]+)(?:\s+as\s+(\w+))?'\s*;/gm;
	let m;
	while ((m = re.exec(src)))
		out.push({ name: m[1], alias: m[2] || null });
	return out;
}

/* The ubus methods the daemon registers (src/sys/ubus.rs): { object: [methods] }. */
function daemonUbus() {
	// Where the object is declared: src/ubus/server.rs since the session moved into the core.
	const src = fs.readFileSync(path.join(repo, 'src/ubus/server.rs'), 'utf8');
	const out = {};
	const re = /Object\s*\{\s*path:\s*"([^"]+)",\s*methods:\s*&\[(.*?)\]\s*\}\s*;/gs;
	let m;
	while ((m = re.exec(src)))
		out[m[1]] = [...m[2].matchAll(/Method\s*\{\s*name:\s*"([^"]+)"/g)].map(x => x[1]);
	return out;
}

const schemaFile = path.join(htdocs, 'dualwan/schema.json');

/* The options `dualwan check` knows, by section type (the app's schema.json). */
function daemonOptions(sectionType) {
	return Object.keys(JSON.parse(fs.readFileSync(schemaFile, 'utf8')).sections[sectionType].options);
}

for (const f of appJs)
	test(`parses as a LuCI module: ${rel(f)}`, () => {
		// LuCI compiles a module's text as a function body (it ends in `return ...`), so
		// `node --check` does not apply; compiling it the same way is the equivalent.
		const src = fs.readFileSync(f, 'utf8');
		vm.compileFunction(src, [], { filename: f });
		assert.match(src, /^'use strict';\n/, 'starts with use strict');
		for (const r of requires(src)) {
			const local = path.join(htdocs, r.name.replace(/\./g, '/') + '.js');
			assert.ok(LUCI_BASE.includes(r.name) || fs.existsSync(local), `'require ${r.name}' resolves to nothing`);
			if (r.name.includes('.'))
				assert.ok(r.alias, `'require ${r.name}' needs an 'as' name`);
		}
	});

test('every test-tooling JS file passes node --check', () => {
	for (const f of testJs)
		execFileSync(process.execPath, ['--check', f], { stdio: 'pipe' });
});

test('menu.d: valid JSON, Status and Network entries, views exist, ACL exists', () => {
	const m = JSON.parse(fs.readFileSync(menu, 'utf8'));
	const a = JSON.parse(fs.readFileSync(acl, 'utf8'));
	assert.deepEqual(Object.keys(m).sort(), ['admin/network/dualwan', 'admin/status/dualwan']);
	for (const [node, e] of Object.entries(m)) {
		assert.equal(e.title, 'Dual WAN', node);
		assert.equal(e.action.type, 'view', node);
		const view = path.join(htdocs, 'view', e.action.path + '.js');
		assert.ok(fs.existsSync(view), `${node}: no view ${rel(view)}`);
		for (const name of e.depends.acl)
			assert.ok(name in a, `${node}: ACL ${name} is not defined`);
	}
	assert.equal(m['admin/status/dualwan'].action.path, 'dualwan/status');
	assert.equal(m['admin/network/dualwan'].action.path, 'dualwan/config');
});

test('acl.d: valid JSON, names only the daemon\'s real ubus methods and the dualwan config', () => {
	const a = JSON.parse(fs.readFileSync(acl, 'utf8'));
	const ubus = daemonUbus();
	assert.ok((ubus.dualwan || []).includes('status'), 'src/ubus/server.rs registers dualwan.status');
	const g = a['luci-app-dualwan'];
	assert.deepEqual(Object.keys(g).sort(), ['description', 'read', 'write']);
	assert.deepEqual(g.read.ubus, { dualwan: ['status', 'probe'] }, 'status for the page, probe for its "Test now"');
	for (const [obj, methods] of Object.entries(g.read.ubus)) {
		assert.ok(obj in ubus, `ubus object ${obj} does not exist`);
		for (const meth of methods) {
			assert.ok(ubus[obj].includes(meth), `ubus method ${obj}.${meth} does not exist`);
		}
	}
	assert.deepEqual(g.read.uci, ['dualwan']);
	assert.deepEqual(g.write, { uci: ['dualwan'] }, 'write: the dualwan config only');
	assert.ok(fs.existsSync(path.join(repo, 'openwrt/files/dualwan.config')), 'the config the ACL names ships');
});

test('every rpc.declare in the views is granted by the ACL', () => {
	const g = JSON.parse(fs.readFileSync(acl, 'utf8'))['luci-app-dualwan'];
	let n = 0;
	for (const f of appJs) {
		const src = fs.readFileSync(f, 'utf8');
		for (const m of src.matchAll(/rpc\.declare\(\{([^}]*)\}/gs)) {
			const obj = /object:\s*'([^']+)'/.exec(m[1])[1], meth = /method:\s*'([^']+)'/.exec(m[1])[1];
			assert.ok((g.read.ubus[obj] || []).includes(meth), `${rel(f)}: ${obj}.${meth} is not in the ACL`);
			n++;
		}
	}
	assert.equal(n, 2, 'the status call and the probe call');
});

test('config.js edits only options dualwan check knows, each with help text', () => {
	const src = fs.readFileSync(path.join(htdocs, 'view/dualwan/config.js'), 'utf8');
	const globals = daemonOptions('globals'), wan = daemonOptions('interface'), rule = daemonOptions('rule');
	const sections = src.split(/m\.section\(/).slice(1);
	assert.equal(sections.length, 3);
	const opts = s => [...s.matchAll(/s\.(?:tab)?option\((?:'\w+',\s*)?[\w.]+,\s*'(\w+)',\s*_\('[^']*'\),\s*\n?\s*_\(/g)].map(x => x[1]);
	const g = opts(sections[0]), w = opts(sections[1]), r = opts(sections[2]);
	assert.deepEqual(g, ['enabled', 'mode', 'log_level', 'last_resort', 'rule_priority', 'table_base', 'balance_idle']);
	assert.deepEqual(w, ['enabled', 'device', 'network', 'gateway', 'gateway6', 'metric', 'weight', 'track_ip', 'track_method', 'track_port',
		'reliability',
		'check_gateway', 'interval', 'timeout', 'down', 'up', 'recovery_wait', 'check_quality', 'failure_loss',
		'recovery_loss', 'failure_latency', 'recovery_latency', 'flush_conntrack']);
	assert.deepEqual(r, ['src_ip', 'dest_ip', 'proto', 'src_port', 'dest_port', 'src_iface', 'family', 'use', 'last_resort']);
	for (const o of g) assert.ok(globals.includes(o), `globals: ${o}`);
	for (const o of w)
		assert.ok(wan.includes(o), `interface: ${o}`);
	assert.deepEqual(wan.filter(o => !w.includes(o)), [], 'every interface option is editable');
	assert.deepEqual(rule.filter(o => !r.includes(o)), [], 'every rule option is editable');
});

test('the page loads schema.json, and no range of it is written into the app\'s code', () => {
	const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
	const config = fs.readFileSync(path.join(htdocs, 'view/dualwan/config.js'), 'utf8');
	const validate = fs.readFileSync(path.join(htdocs, 'dualwan/validate.js'), 'utf8');
	assert.match(config, /request\.get\(L\.resource\('dualwan\/schema\.json'\)\)/);
	assert.match(config, /dwv\.setSchema\(/);
	// Numbers of ten and more that bound an option (255 is an IPv4 octet's own bound).
	const numbers = new Set();
	for (const sec of Object.values(schema.sections)) {
		numbers.add(sec.max);
		if (sec.name)
			numbers.add(sec.name.max);
		for (const o of Object.values(sec.options))
			for (const k of ['min', 'max', 'span'])
				if (typeof o[k] == 'number')
					numbers.add(o[k]);
		for (const o of Object.values(sec.options))
			(o.reserved || []).forEach(n => numbers.add(n));
	}
	const bounds = [...numbers].filter(n => n >= 10 && n != 255);
	assert.ok(bounds.includes(65535) && bounds.includes(3600), bounds.join(' '));
	// Hexadecimal radixes are no bounds: `parseInt(x, 16)`, `toString(16)`.
	const radixFree = src => src.replace(/parseInt\([^()]*,\s*16\)|toString\(16\)/g, '');
	for (const [file, src] of [['config.js', config], ['validate.js', validate]])
		for (const n of bounds)
			assert.doesNotMatch(radixFree(src), new RegExp(`(?<![\\w.])${n}(?![\\w.])`), `${file} writes ${n} itself`);
});

test('stage.sh lays out exactly ipk-files.txt, with control and postinst', () => {
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dualwan-stage-'));
	try {
		execFileSync('sh', [path.join(pkg, 'stage.sh'), path.join(tmp, 'data'), path.join(tmp, 'ctrl')], { stdio: 'pipe' });
		const got = walk(path.join(tmp, 'data')).map(f => '/' + path.relative(path.join(tmp, 'data'), f)).sort();
		const want = fs.readFileSync(path.join(pkg, 'ipk-files.txt'), 'utf8').split('\n')
			.filter(l => l && !l.startsWith('#')).sort();
		assert.deepEqual(got, want);
		for (const f of got)
			assert.equal(fs.statSync(path.join(tmp, 'data', f)).mode & 0o777, 0o644, f);
		const control = fs.readFileSync(path.join(tmp, 'ctrl/control'), 'utf8');
		const version = /^version\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8'))[1];
		assert.match(control, /^Package: luci-app-dualwan$/m);
		assert.match(control, new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
		assert.match(control, /^Depends: luci-base, dualwan$/m);
		assert.match(control, /^Architecture: all$/m);
		assert.equal(fs.statSync(path.join(tmp, 'ctrl/postinst')).mode & 0o777, 0o755);
		execFileSync('sh', ['-n', path.join(tmp, 'ctrl/postinst')]);
	} finally {
		fs.rmSync(tmp, { recursive: true, force: true });
	}
});

test('Makefile follows luci.mk conventions', () => {
	const mk = fs.readFileSync(path.join(pkg, 'Makefile'), 'utf8');
	assert.match(mk, /^include \$\(TOPDIR\)\/feeds\/luci\/luci\.mk$/m);
	assert.match(mk, /^LUCI_DEPENDS:=\+luci-base \+dualwan$/m);
	assert.match(mk, /^LUCI_PKGARCH:=all$/m);
});
