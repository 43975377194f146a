// The real LuCI client runtime (luci.js, ui.js, form.js, rpc.js, uci.js, ...) and the
// bootstrap theme's CSS, for the config page test. They are not part of this repository:
// LUCI_SRC names a LuCI source tree or a git directory of one (bare, or a checkout's
// .git), and the test server reads the files from there as they are. Without it the
// config page tests are skipped with this module's reason.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { repo } = require('./paths');

const RESOURCES = 'modules/luci-base/htdocs/luci-static/resources/';
const THEME = 'themes/luci-theme-bootstrap/htdocs/luci-static/bootstrap/';

/* Where to look: LUCI_SRC, else a copy beside the project's other outside material. */
function candidates() {
	return process.env.LUCI_SRC ? [process.env.LUCI_SRC] : [path.join(repo, '../shared/luci')];
}

function gitDir(dir) {
	for (const d of [path.join(dir, '.git'), dir])
		if (fs.existsSync(path.join(d, 'HEAD')) && fs.existsSync(path.join(d, 'objects')))
			return d;
	return null;
}

/* A reader of the runtime's files: { read(rel) -> Buffer|null, describe } or { missing }. */
function locate() {
	for (const dir of candidates()) {
		if (!fs.existsSync(dir))
			continue;
		if (fs.existsSync(path.join(dir, RESOURCES, 'luci.js')))
			return { describe: dir, read: rel => readFile(path.join(dir, rel)) };
		const git = gitDir(dir);
		if (!git)
			continue;
		const git_ = args => execFileSync('git', ['--git-dir', git].concat(args), { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 << 20 });
		let commit;
		try {
			commit = git_(['rev-parse', 'HEAD']).toString().trim();
			git_(['cat-file', '-e', `${commit}:${RESOURCES}luci.js`]);
		} catch (e) {
			continue;
		}
		const cache = new Map();
		return {
			describe: `${git} at ${commit}`,
			read: rel => {
				if (!cache.has(rel)) {
					let data = null;
					try { data = git_(['show', `${commit}:${rel}`]); } catch (e) { data = null; }
					cache.set(rel, data);
				}
				return cache.get(rel);
			},
		};
	}
	return { missing: `the real LuCI runtime (set LUCI_SRC to a LuCI source tree or git directory; looked in ${candidates().join(', ')})` };
}

function readFile(f) {
	try { return fs.statSync(f).isFile() ? fs.readFileSync(f) : null; } catch (e) { return null; }
}

module.exports = { locate, RESOURCES, THEME };
