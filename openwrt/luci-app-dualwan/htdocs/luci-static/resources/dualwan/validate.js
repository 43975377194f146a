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
	gateway6: 'auto',
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

/*
 * An IPv6 address as Rust's Ipv6Addr parses it -> its eight 16-bit groups, or null:
 * groups of 1-4 hex digits, at most one "::" standing for at least one zero group, and
 * an optional dotted quad in place of the last two groups. No zone ("%eth0"), no brackets.
 */
function parseIPv6(s) {
	let halves = String(s).split('::');

	if (halves.length > 2)
		return null;

	let pieces = halves.map(function(h, i) {
		if (h === '')
			return [];

		let out = [], parts = h.split(':');

		for (let j = 0; j < parts.length; j++) {
			let last = (i == halves.length - 1) && (j == parts.length - 1);
			let v4 = last ? parseIPv4(parts[j]) : null;

			if (v4)
				out.push(v4[0] * 256 + v4[1], v4[2] * 256 + v4[3]);
			else if (/^[0-9A-Fa-f]{1,4}$/.test(parts[j]))
				out.push(parseInt(parts[j], 16));
			else
				return null;
		}

		return out;
	});

	if (pieces.indexOf(null) >= 0)
		return null;

	if (halves.length == 1)
		return pieces[0].length == 8 ? pieces[0] : null;

	let zeros = 8 - pieces[0].length - pieces[1].length;

	if (zeros < 1)
		return null;

	return pieces[0].concat(new Array(zeros).fill(0), pieces[1]);
}

/* Not ::, ::1 or multicast ff00::/8 (`usable_unicast` for IPv6). */
function unicast6(g) {
	let zero = g.slice(0, 7).every(function(n) { return n == 0; });
	return !((zero && g[7] <= 1) || (g[0] & 0xff00) == 0xff00);
}

/* fe80::/10, the link's own addresses: no use as an Internet target. */
function linkLocal6(g) {
	return (g[0] & 0xffc0) == 0xfe80;
}

/*
 * A track_ip entry -> { family: 4 or 6, key } where equal keys are the same address
 * (2001:db8::1 and 2001:DB8:0::1 are), or null if it is neither family.
 */
function parseIP(s) {
	let o = parseIPv4(s);

	if (o)
		return { family: 4, key: o.join('.'), parts: o };

	let g = parseIPv6(s);

	if (g)
		return { family: 6, key: g.map(function(n) { return n.toString(16); }).join(':'), parts: g };

	return null;
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
	parseIPv6: parseIPv6,
	parseIP: parseIP,
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

	/*
	 * Address checks answer with the daemon's own words (`dualwan check` prints
	 * "option 'track_ip' in interface 'wan': '<value>' <why>"), so that the page and
	 * the log say the same thing.
	 */

	/** interface.gateway: "auto" or a unicast IPv4 address. */
	gateway: function(v) {
		if (empty(v) || v == 'auto')
			return true;

		let o = parseIPv4(v);

		if (!o)
			return _('\'%s\' is neither \'auto\' nor an IPv4 address').format(v);
		if (!unicast(o))
			return _('\'%s\' is not a unicast address').format(v);
		return true;
	},

	/** interface.gateway6: "auto" or a unicast IPv6 address; link-local (fe80::1) is the usual one. */
	gateway6: function(v) {
		if (empty(v) || v == 'auto')
			return true;

		let g = parseIPv6(v);

		if (!g)
			return _('\'%s\' is neither \'auto\' nor an IPv6 address').format(v);
		if (!unicast6(g))
			return _('\'%s\' is not a unicast address').format(v);
		return true;
	},

	/**
	 * One track_ip entry (IPv4 or IPv6), given the entries before it in the list: the
	 * two families together count against the 8 targets.
	 */
	target: function(v, others) {
		others = (others || []).filter(function(x) { return !empty(x); });

		if (empty(v))
			return true;

		let ip = parseIP(v);

		if (!ip) {
			if (v.indexOf(':') >= 0)
				return _('\'%s\' is not an IPv6 address').format(v);
			if (/[A-Za-z]/.test(v))
				return _('\'%s\' is not an IP address (host names are not resolved: use an address)').format(v);
			return _('\'%s\' is not an IPv4 or IPv6 address').format(v);
		}

		if (ip.family == 4 ? !unicast(ip.parts) : !unicast6(ip.parts))
			return _('\'%s\' is not a unicast address').format(v);
		if (ip.family == 6 && linkLocal6(ip.parts))
			return _('\'%s\' is a link-local address, not an Internet host').format(v);

		let seen = others.map(function(x) { let p = parseIP(x); return p ? p.key : x; });

		if (seen.indexOf(ip.key) >= 0)
			return _('\'%s\' is listed twice').format(v);
		if (others.length >= MAX_TARGETS)
			return _('\'%s\' is one more than the %d targets allowed').format(v, MAX_TARGETS);
		return true;
	},

	/** The whole track_ip list: 1 to 8 distinct valid addresses of either family. */
	targets: function(list) {
		list = (list || []).filter(function(v) { return !empty(v); });

		if (!list.length)
			return _('At least one target address is needed');

		for (let i = 0; i < list.length; i++) {
			let r = this.target(list[i], list.slice(0, i));
			if (r !== true)
				return r;
		}

		return true;
	},

	/** How many targets of each family a track_ip list holds -> { ipv4, ipv6 }. */
	families: function(list) {
		let n = { ipv4: 0, ipv6: 0 };

		(list || []).forEach(function(v) {
			let ip = empty(v) ? null : parseIP(v);
			if (ip)
				n[ip.family == 4 ? 'ipv4' : 'ipv6']++;
		});

		return n;
	},

	/**
	 * interface.reliability: 1 .. 8 and not more than the number of targets (both
	 * families together). Each family then needs min(reliability, its own targets).
	 */
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
