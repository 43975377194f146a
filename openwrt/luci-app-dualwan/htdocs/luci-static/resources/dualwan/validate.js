'use strict';
'require baseclass';

/*
 * The rules of `dualwan check` (src/config.rs), for the configuration page.
 *
 * Each check takes the text of a form field and returns true or an error message,
 * as LuCI's `validate` hooks expect. An empty field means "the default" for
 * every option that has one. Pure functions: tests/luci/ runs them under Node.
 */

const MAX_TARGETS = 8;
const NAME_MAX = 32;
const IFNAME_MAX = 15;
const RULE_SPAN = 100;
const TABLE_SPAN = 17;

/* Defaults, as `dualwan check` prints them. */
const DEFAULTS = {
	enabled: '1',
	log_level: 'info',
	last_resort: 'main',
	rule_priority: '5000',
	table_base: '100',
	iface_enabled: '1',
	gateway: 'auto',
	metric: '0',
	check_gateway: '1',
	reliability: '1',
	interval: '0.2',
	timeout: '0.5',
	down: '4',
	up: '3',
	recovery_wait: '10',
	flush_conntrack: 'on_down'
};

/* A dotted quad as Rust's Ipv4Addr parses it: four decimal octets, no leading zeros. */
function parseIPv4(s) {
	let m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);

	if (!m)
		return null;

	let o = m.slice(1).map(function(p) {
		return (p.length > 1 && p[0] == '0') ? NaN : +p;
	});

	return o.every(function(n) { return n >= 0 && n <= 255; }) ? o : null;
}

/* Not 0.0.0.0, 255.255.255.255, multicast or loopback (`usable_unicast`). */
function unicast(o) {
	return !(o.every(function(n) { return n == 0; }) ||
		o.every(function(n) { return n == 255; }) ||
		(o[0] >= 224 && o[0] <= 239) || o[0] == 127);
}

/* A u32 as Rust parses it (an optional '+', then digits). */
function parseWhole(s) {
	if (!/^\+?\d+$/.test(s))
		return null;
	let n = parseInt(s.replace(/^\+/, ''), 10);
	return n <= 4294967295 ? n : null;
}

/* Seconds with up to three decimals, in milliseconds (`parse_seconds`). */
function parseSeconds(s) {
	let m = /^(\d{1,6})(?:\.(\d{1,3}))?$/.exec(s);

	if (!m)
		return null;

	return (+m[1]) * 1000 + (m[2] ? +((m[2] + '00').substr(0, 3)) : 0);
}

function empty(v) {
	return v == null || v === '';
}

return baseclass.extend({
	DEFAULTS: DEFAULTS,
	MAX_TARGETS: MAX_TARGETS,

	parseIPv4: parseIPv4,
	parseSeconds: parseSeconds,

	/** A UCI section name for an interface: [A-Za-z0-9_], 1 to 32 characters. */
	sectionName: function(v) {
		if (empty(v))
			return _('A name is needed, e.g. wan');
		if (!/^[A-Za-z0-9_]+$/.test(v))
			return _('Only letters, digits and _ are allowed');
		if (v.length > NAME_MAX)
			return _('At most %d characters').format(NAME_MAX);
		return true;
	},

	/** A whole number in [min, max]; empty is the default. */
	whole: function(v, min, max) {
		if (empty(v))
			return true;

		let n = parseWhole(v);

		if (n == null)
			return _('Expecting a whole number');
		if (n < min)
			return _('%s is below %d').format(v, min);
		if (n > max)
			return _('%s is above %d').format(v, max);
		return true;
	},

	/** Seconds (up to 3 decimals) in [min, max] seconds; empty is the default. */
	seconds: function(v, min, max) {
		if (empty(v))
			return true;

		let ms = parseSeconds(v);

		if (ms == null)
			return _('Expecting seconds, e.g. 0.5 (up to 3 decimals)');
		if (ms < min * 1000)
			return _('%s is below %s').format(v, String(min));
		if (ms > max * 1000)
			return _('%s is above %s').format(v, String(max));
		return true;
	},

	/** globals.rule_priority: 1 .. 32665, so that our 100 priorities stay below main's. */
	rulePriority: function(v) {
		return this.whole(v, 1, 32765 - RULE_SPAN);
	},

	/** globals.table_base: 1 .. 2^32-18, and tables base..base+16 clear of 253-255. */
	tableBase: function(v) {
		let r = this.whole(v, 1, 4294967295 - TABLE_SPAN);

		if (r !== true || empty(v))
			return r;

		let n = parseWhole(v);

		if (n <= 255 && n + TABLE_SPAN - 1 >= 253)
			return _('Tables %d-%d would overlap the kernel\'s tables 253-255').format(n, n + TABLE_SPAN - 1);

		return true;
	},

	/** interface.device: a kernel device name. */
	device: function(v) {
		if (empty(v))
			return _('A device is needed, e.g. eth1, wwan0 or pppoe-wan');
		if (v.length > IFNAME_MAX || /[\/\s:]/.test(v))
			return _('Not a valid device name (1-15 characters, no "/", ":" or spaces)');
		return true;
	},

	/** interface.network: a netifd interface name ([A-Za-z0-9_], 1-15 characters). */
	network: function(v) {
		if (empty(v))
			return true;
		if (!/^[A-Za-z0-9_]{1,15}$/.test(v))
			return _('Not a valid interface name (1-15 letters, digits or "_")');
		return true;
	},

	/** interface.device / interface.network: exactly one of the two is set. */
	source: function(device, network) {
		if (empty(device) && empty(network))
			return _('A device or a network interface is needed, e.g. eth1 or wan');
		if (!empty(device) && !empty(network))
			return _('Set either a device or a network interface, not both');
		return true;
	},

	/** interface.gateway: "auto" or a unicast IPv4 address. */
	gateway: function(v) {
		if (empty(v) || v == 'auto')
			return true;

		let o = parseIPv4(v);

		if (!o)
			return _('Either "auto" or an IPv4 address');
		if (!unicast(o))
			return _('Not a unicast address');
		return true;
	},

	/** One track_ip entry, given the entries already in the list. */
	target: function(v, others) {
		others = others || [];

		if (empty(v))
			return true;

		let o = parseIPv4(v);

		if (!o)
			return /[A-Za-z]/.test(v)
				? _('An IPv4 address: host names are not resolved')
				: _('Not an IPv4 address');
		if (!unicast(o))
			return _('Not a unicast address');
		if (others.indexOf(v) >= 0)
			return _('Listed twice');
		if (others.length >= MAX_TARGETS)
			return _('At most %d targets').format(MAX_TARGETS);
		return true;
	},

	/** The whole track_ip list: 1 to 8 distinct valid addresses. */
	targets: function(list) {
		list = (list || []).filter(function(v) { return !empty(v); });

		if (!list.length)
			return _('At least one target address is needed');

		for (let i = 0; i < list.length; i++) {
			let r = this.target(list[i], list.slice(0, i));
			if (r !== true)
				return '%s: %s'.format(list[i], r);
		}

		return true;
	},

	/** interface.reliability: 1 .. 8 and not more than the number of targets. */
	reliability: function(v, ntargets) {
		let r = this.whole(v, 1, MAX_TARGETS);

		if (r !== true || empty(v) || !ntargets)
			return r;

		if (parseWhole(v) > ntargets)
			return _('More than the %d targets').format(ntargets);

		return true;
	},

	metric: function(v) { return this.whole(v, 0, 65535); },
	interval: function(v) { return this.seconds(v, 0.1, 60); },
	timeout: function(v) { return this.seconds(v, 0.1, 30); },
	rounds: function(v) { return this.whole(v, 1, 100); },
	recoveryWait: function(v) { return this.seconds(v, 0, 3600); },

	/**
	 * Metric and device must differ between enabled interfaces. `self` and each of
	 * `others` are { name, enabled, metric, device } with UCI text values (empty
	 * metric is 0). `which` ('metric' or 'device') limits the check to one of them.
	 * Returns true or the message for `self`.
	 */
	distinct: function(self, others, which) {
		if (!this.enabled(self.enabled))
			return true;

		let metric = parseWhole(empty(self.metric) ? DEFAULTS.metric : self.metric);

		for (let i = 0; i < others.length; i++) {
			let o = others[i];

			if (o.name == self.name || !this.enabled(o.enabled))
				continue;

			if (which != 'device' && metric != null &&
			    parseWhole(empty(o.metric) ? DEFAULTS.metric : o.metric) === metric)
				return _('Metric %d is already used by %s (enabled interfaces need different metrics)')
					.format(metric, o.name);

			if (which != 'metric' && !empty(self.device) && o.device == self.device)
				return _('Device %s is already used by %s').format(self.device, o.name);
		}

		return true;
	},

	/** A metric for a new WAN: 10 above the highest in use (10 for the first), at most 65535. */
	nextMetric: function(metrics) {
		let top = -1;

		(metrics || []).forEach(function(m) {
			let n = parseWhole(empty(m) ? DEFAULTS.metric : String(m));
			if (n != null && n > top)
				top = n;
		});

		return top < 0 ? 10 : Math.min(65535, top + 10);
	},

	/** The targets a new WAN starts with (as in the default /etc/config/dualwan). */
	DEFAULT_TARGETS: [ '1.1.1.1', '8.8.8.8', '9.9.9.9' ],

	/** A UCI boolean, with the daemon's words; empty is the default (enabled). */
	enabled: function(v) {
		if (empty(v))
			return true;
		return [ '1', 'yes', 'on', 'true', 'enabled' ].indexOf(String(v)) >= 0;
	}
});
