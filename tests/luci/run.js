// Runs every luci-app-dualwan test: static checks, page logic, and the headless
// Chromium page tests (skipped only with DUALWAN_SKIP_BROWSER=1; the config page's
// also without the real LuCI runtime, LUCI_SRC). Prints one line per
// test and closes with "N passed, N failed".
'use strict';
const { run } = require('./lib/harness');

require('./static');
require('./unit');
if (process.env.DUALWAN_SKIP_BROWSER !== '1') {
	require('./browser');
	require('./config');
} else {
	// Counted by tests/run.sh like a skipped Rust test (tests/common/skip.rs).
	const reason = 'the headless Chromium page tests (DUALWAN_SKIP_BROWSER=1)';
	console.log(`browser: skipped: ${reason}`);
	if (process.env.DUALWAN_SKIP_LOG)
		require('fs').appendFileSync(process.env.DUALWAN_SKIP_LOG, `luci\tbrowser\t${reason}\n`);
}

run(process.argv[2]).then(({ passed, failed }) => {
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}, e => {
	console.log(String(e && e.stack || e));
	console.log('0 passed, 1 failed');
	process.exit(1);
});
