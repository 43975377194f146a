// A minimal test harness: named async tests, one line per result, and a closing
// "N passed, N failed" line that CI reads.
'use strict';

const tests = [];

function test(name, fn) {
	tests.push({ name, fn });
}

async function run(filter) {
	let passed = 0, failed = 0;
	for (const t of tests) {
		if (filter && !t.name.includes(filter))
			continue;
		const start = Date.now();
		try {
			await t.fn();
			passed++;
			console.log(`ok   ${t.name} (${Date.now() - start} ms)`);
		} catch (e) {
			failed++;
			console.log(`FAIL ${t.name}`);
			console.log(String(e && e.stack || e).split('\n').map(l => '     ' + l).join('\n'));
		}
	}
	return { passed, failed };
}

module.exports = { test, run };
