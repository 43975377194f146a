// A static file server on 127.0.0.1 for the page test: the app's htdocs under
// /luci-static/resources/, the stand-in runtime under /shim/, recorded replies under
// /replies/. Nothing else is served and nothing leaves this machine.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const { htdocs, shim, replies } = require('./paths');

const ROOTS = [
	['/luci-static/resources/', htdocs],
	['/shim/', shim],
	['/replies/', replies],
];
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.html': 'text/html' };

/* `routes`, when given, answers a request first (returns true when it did): the LuCI
 * page of the config page test (luci-server.js). */
function start(routes) {
	const server = http.createServer((req, res) => {
		const url = new URL(req.url, 'http://127.0.0.1');
		if (routes && routes(req, res, url))
			return;
		let file = null;
		if (url.pathname === '/')
			file = path.join(shim, 'page.html');
		for (const [prefix, dir] of ROOTS)
			if (url.pathname.startsWith(prefix)) {
				const f = path.resolve(dir, '.' + decodeURIComponent(url.pathname.slice(prefix.length - 1)));
				if (f.startsWith(dir + path.sep))
					file = f;
			}
		if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
			res.writeHead(404, { 'Content-Type': 'text/plain' });
			return res.end('not found: ' + url.pathname);
		}
		res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
		fs.createReadStream(file).pipe(res);
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` }));
	});
}

module.exports = { start };
