'use strict';
const path = require('path');

const repo = path.resolve(__dirname, '../../..');
const pkg = path.join(repo, 'openwrt/luci-app-dualwan');
const htdocs = path.join(pkg, 'htdocs/luci-static/resources');

module.exports = {
	repo,
	pkg,
	htdocs,
	replies: path.join(repo, 'tests/luci/replies'),
	out: path.join(repo, 'tests/luci/out'),
	shim: path.join(repo, 'tests/luci/shim'),
};
