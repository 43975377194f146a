// Loads the app's LuCI modules under Node through the stand-in runtime (shim/luci-lite.js):
// LuCI itself is not available here.
'use strict';
const fs = require('fs');
const path = require('path');
const { htdocs, replies } = require('./paths');
const { createRuntime } = require('../shim/luci-lite.js');

function runtime() {
	return createRuntime({
		load: p => fs.readFileSync(path.join(htdocs, p), 'utf8'),
		transport: () => Promise.reject(new Error('no RPC under Node')),
	});
}

function reply(name) {
	return JSON.parse(fs.readFileSync(path.join(replies, name + '.json'), 'utf8'));
}

function replyNames() {
	return fs.readdirSync(replies).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort();
}

module.exports = { runtime, reply, replyNames };
