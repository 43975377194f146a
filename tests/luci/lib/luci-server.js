// What the router's web server answers to a LuCI page, for the config page test:
// - GET /cgi-bin/luci/admin/network/dualwan: the page LuCI's templates (header, view,
//   footer of the bootstrap theme) make, with the `L` environment they set up;
// - GET /luci-static/resources/*: the app's files, else the real LuCI runtime's;
//   GET /luci-static/bootstrap/*: the real bootstrap theme;
// - POST /ubus/*: rpcd's JSON-RPC, answered from fixtures the test chooses: `uci get`
//   returns the fixture config (uci/NAME.config, read as rpcd returns it), `session
//   access` grants, `uci set` and friends are recorded; any other object is "not found",
//   as rpcd says of an object nobody registered.
'use strict';
const fs = require('fs');
const path = require('path');
const { htdocs, pkg } = require('./paths');
const { RESOURCES, THEME } = require('./luci-runtime');
const uciFile = require('./uci-file');

const PAGE = '/cgi-bin/luci/admin/network/dualwan';
const SESSION = '0123456789abcdef0123456789abcdef';
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

/* The page, as header.ut + view.ut + footer.ut of LuCI with the bootstrap theme render it. */
function page(view) {
	const menu = JSON.parse(fs.readFileSync(path.join(pkg, 'root/usr/share/luci/menu.d/luci-app-dualwan.json'), 'utf8'));
	const env = {
		media: '/luci-static/bootstrap',
		resource: '/luci-static/resources',
		scriptname: '/cgi-bin/luci',
		pathinfo: '/admin/network/dualwan',
		documentroot: '/www',
		requestpath: ['admin', 'network', 'dualwan'],
		dispatchpath: ['admin', 'network', 'dualwan'],
		pollinterval: 5,
		ubuspath: '/ubus/',
		sessionid: SESSION,
		token: 'fedcba9876543210fedcba9876543210',
		nodespec: menu['admin/network/dualwan'],
		apply_rollback: 90,
		apply_holdoff: 4,
		apply_timeout: 5,
		apply_display: 1.5,
		rollback_token: null,
	};
	return `<!DOCTYPE html>
<html lang="en" data-darkmode="false">
<head>
<meta charset="utf-8">
<title>OpenWrt - Dual WAN - LuCI</title>
<meta name="viewport" content="initial-scale=1.0">
<link rel="stylesheet" href="/luci-static/bootstrap/cascade.css">
<link rel="stylesheet" media="only screen and (max-device-width: 854px)" href="/luci-static/bootstrap/mobile.css" type="text/css" />
<link rel="icon" href="/luci-static/bootstrap/logo_48.png" sizes="48x48">
<link rel="icon" href="/luci-static/bootstrap/logo.svg" sizes="any">
<script src="/luci-static/resources/cbi.js"></script>
</head>
<body class="lang_en Dual WAN" data-page="admin-network-dualwan">
<header>
<a class="brand" href="/">OpenWrt</a>
<ul class="nav" id="topmenu" style="display:none"></ul>
<div id="indicators" class="pull-right"></div>
</header>
<div id="maincontent" class="container">
<div id="tabmenu" style="display:none"></div>
<script src="/luci-static/resources/promis.min.js"></script>
<script src="/luci-static/resources/luci.js"></script>
<script>
L = new LuCI(${JSON.stringify(env)});
</script>
<div id="view">
<div class="spinning">Loading view…</div>
<script>
L.require('ui').then(function(ui) { ui.instantiateView(${JSON.stringify(view)}); });
</script>
</div>
</div>
<footer><span>Powered by LuCI (test runtime)</span></footer>
</body>
</html>
`;
}

/* rpcd over JSON-RPC: one call's reply, as [status, data] (ubus) or a JSON-RPC error. */
function answer(state, call) {
	if (call.method === 'list')
		return { result: {} };
	const [sid, object, method, args] = call.params || [];
	state.calls.push({ object, method, args });
	if (sid !== SESSION)
		return { error: { code: -32002, message: 'Access denied' } };
	if (object === 'session' && method === 'access')
		return { result: [0, { access: true }] };
	if (object === 'uci' && method === 'get')
		return args.config === 'dualwan' ? { result: [0, { values: state.values() }] } : { result: [4] };
	if (object === 'uci' && ['set', 'add', 'delete', 'order', 'rename'].includes(method))
		return { result: [0] };
	if (object === 'uci' && method === 'changes')
		return { result: [0, { changes: {} }] };
	if (object === 'uci' && ['apply', 'confirm', 'rollback'].includes(method))
		return { result: [0] };
	if (object === 'luci' && method === 'getFeatures')
		return { result: [0, {}] };
	return { error: { code: -32000, message: 'Object not found' } };
}

/* The route handler for server.start(), reading the runtime's files through `runtime`. */
function luciRoutes(runtime, uciDir) {
	const state = {
		config: null,
		calls: [],
		values: () => uciFile.parse(fs.readFileSync(path.join(uciDir, state.config + '.config'), 'utf8'), state.config + '.config'),
	};
	const send = (res, status, type, body) => {
		res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
		res.end(body);
	};
	const handle = (req, res, url) => {
		const p = decodeURIComponent(url.pathname);
		if (p === PAGE) {
			send(res, 200, 'text/html', page('dualwan/config'));
			return true;
		}
		if (p.startsWith('/ubus/') && req.method === 'POST') {
			let body = '';
			req.on('data', d => { body += d; });
			req.on('end', () => {
				const msg = JSON.parse(body);
				const one = m => Object.assign({ jsonrpc: '2.0', id: m.id }, answer(state, m));
				send(res, 200, 'application/json', JSON.stringify(Array.isArray(msg) ? msg.map(one) : one(msg)));
			});
			return true;
		}
		let data = null;
		if (p.includes('..'))
			data = null;
		else if (p.startsWith('/luci-static/resources/')) {
			const own = path.join(htdocs, p.slice('/luci-static/resources/'.length));
			data = fs.existsSync(own) && fs.statSync(own).isFile() ? fs.readFileSync(own)
				: runtime.read(RESOURCES + p.slice('/luci-static/resources/'.length));
		} else if (p.startsWith('/luci-static/bootstrap/'))
			data = runtime.read(THEME + p.slice('/luci-static/bootstrap/'.length));
		else
			return false;
		if (data == null)
			send(res, 404, 'text/plain', 'not found: ' + p);
		else
			send(res, 200, TYPES[path.extname(p)] || 'application/octet-stream', data);
		return true;
	};
	return { handle, state, PAGE };
}

module.exports = { luciRoutes };
