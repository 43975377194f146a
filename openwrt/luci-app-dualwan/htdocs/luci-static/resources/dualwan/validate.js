'use strict';
'require baseclass';

/*
 * The rules of `dualwan check`, for the configuration page.
 *
 * Every option's type, range, words and default come from schema.json, which is
 * `dualwan check --schema` (the daemon's option table, src/options.rs) as the package
 * ships it; the page hands it over once with setSchema() before any check. What stays
 * here is what a table cannot say: how an address parses and which addresses are
 * unicast, and the rules between options (device or network, reliability against the
 * targets, a rule's ports against its protocol and its addresses against its family)
 * and between sections (distinct metrics and devices in failover mode, a rule's `use`
 * naming interfaces).
 *
 * Each check takes the text of a form field and returns true or an error message,
 * as LuCI's `validate` hooks expect. An empty field means "the default" for
 * every option that has one. Pure functions: tests/luci/ runs them under Node.
 */

let schema = null;

function section(name) {
	if (!schema)
		throw new Error('dualwan: validate.js has no schema yet (setSchema)');
	if (!schema.sections[name])
		throw new Error('dualwan: the schema has no section ' + name);
	return schema.sections[name];
}

function option(sec, name) {
	let o = section(sec).options[name];
	if (!o)
		throw new Error('dualwan: the schema has no option ' + sec + '.' + name);
	return o;
}

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
 * An IPv6 address as Rust's Ipv6Addr parses it -> its eight groups of two octets, or null:
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

/* Seconds with up to three decimals (milliseconds), in milliseconds (`parse_seconds`). */
function parseSeconds(s) {
	let m = /^(\d{1,6})(?:\.(\d{1,3}))?$/.exec(s);

	if (!m)
		return null;

	return (+m[1]) * 1000 + (m[2] ? +((m[2] + '00').substr(0, 3)) : 0);
}

/* Character `c` in a schema character set ("A-Za-z0-9_": ranges and single characters). */
function inSet(set, c) {
	for (let i = 0; i < set.length; ) {
		if (i + 2 < set.length && set[i + 1] == '-') {
			if (c >= set[i] && c <= set[i + 2])
				return true;
			i += 3;
		}
		else {
			if (c == set[i])
				return true;
			i++;
		}
	}

	return false;
}

/* Bytes of `s` in UTF-8, as the daemon counts a name's length. */
function byteLength(s) {
	return new TextEncoder().encode(s).length;
}

function empty(v) {
	return v == null || v === '';
}

/* The checks of each schema type: (option, non-empty text) -> true or a message. */
const TYPES = {
	bool: function(o, v) {
		if (schema.bool['true'].indexOf(v) < 0 && schema.bool['false'].indexOf(v) < 0)
			return _('Expecting a boolean (1/0, yes/no, on/off, true/false)');
		return true;
	},

	uint: function(o, v) {
		let n = parseWhole(v);

		if (n == null)
			return _('Expecting a whole number');
		if (n < o.min)
			return _('%s is below %d').format(v, o.min);
		if (n > o.max)
			return _('%s is above %d').format(v, o.max);
		if (o.reserved && n <= o.reserved[1] && n + o.span - 1 >= o.reserved[0])
			return _('%d-%d would overlap %d-%d, which are reserved').format(n, n + o.span - 1, o.reserved[0], o.reserved[1]);
		return true;
	},

	seconds: function(o, v) {
		let ms = parseSeconds(v);
		let places = (v.split('.')[1] || '').length;

		if (ms == null || places > o.decimals)
			return _('Expecting seconds, e.g. 0.5 (up to %d decimals)').format(o.decimals);
		if (ms < Math.round(o.min * 1000))
			return _('%s is below %s').format(v, String(o.min));
		if (ms > Math.round(o.max * 1000))
			return _('%s is above %s').format(v, String(o.max));
		return true;
	},

	/* A word, or an alias of one (mwan3's `ping` for `icmp`), as the daemon reads it. */
	'enum': function(o, v) {
		if (o.words.indexOf(v) < 0 && !(o.aliases && Object.prototype.hasOwnProperty.call(o.aliases, v)))
			return _('\'%s\' is not one of: %s').format(v, o.words.join(', '));
		return true;
	},

	/* The daemon's own words, so that the page and the log say the same thing. */
	gateway: function(o, v) {
		if (o.words.indexOf(v) >= 0)
			return true;

		let v6 = o.family == 'ipv6';
		let a = v6 ? parseIPv6(v) : parseIPv4(v);

		if (!a)
			return _('\'%s\' is neither \'%s\' nor an %s address').format(v, o.words[0], v6 ? 'IPv6' : 'IPv4');
		if (!(v6 ? unicast6(a) : unicast(a)))
			return _('\'%s\' is not a unicast address').format(v);
		return true;
	},

	name: function(o, v) {
		let n = byteLength(v);
		let ok = n >= o.min && n <= o.max && v.split('').every(function(c) {
			return o.chars != null ? inSet(o.chars, c) : !inSet(o.forbid, c);
		});

		return ok ? true : '\'%s\' %s'.format(v, o.invalid);
	},

	text: function(o, v) {
		return true;
	},

	/* An address or prefix of either family, host bits zero (`parse_prefix`). */
	prefix: function(o, v) {
		let p = parsePrefix(v);
		return p.error ? '\'%s\' %s'.format(v, p.error) : true;
	},

	/* Ports and ranges, comma separated (`Reader::ports`). */
	ports: function(o, v) {
		let seen = [], items = v.split(',');

		for (let i = 0; i < items.length; i++) {
			let r = parsePorts(items[i]);
			if (!r)
				return _('\'%s\' is not a port (1-%d) or a range a-b').format(items[i], PORT_MAX);
			if (seen.indexOf(r.join('-')) >= 0)
				return _('\'%s\' is listed twice').format(items[i]);
			seen.push(r.join('-'));
		}

		if (seen.length > o.max)
			return _('More than the %d ports or ranges allowed').format(o.max);
		return true;
	},

	/* One entry of a rule's `use`: an interface section name or one of the words. */
	wans: function(o, v) {
		if (o.words.indexOf(v) >= 0)
			return true;
		let rule = section('interface').name;
		if (!v.split('').every(function(c) { return inSet(rule.chars, c); }) || v.length > rule.max)
			return _('\'%s\' is not an interface name or \'%s\'').format(v, o.words[0]);
		return true;
	}
};

/* The highest TCP/UDP port. */
const PORT_MAX = 0xffff;

/* `80` or `1000-2000` -> [first, last], or null (`parse_port_range`). */
function parsePorts(v) {
	let m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);

	if (!m)
		return null;

	let a = +m[1], b = m[2] != null ? +m[2] : a;
	return (a >= 1 && b <= PORT_MAX && a <= b) ? [ a, b ] : null;
}

/* `ADDRESS` or `ADDRESS/LEN` -> { family, len } or { error } (`parse_prefix`). */
function parsePrefix(v) {
	let at = v.indexOf('/');
	let addr = at < 0 ? v : v.substr(0, at), len = at < 0 ? null : v.substr(at + 1);
	let ip = parseIP(addr);

	if (!ip)
		return { error: _('is not an IPv4 or IPv6 address or prefix (e.g. 192.0.2.0/24)') };

	/* Parts of one octet (IPv4) or two (IPv6). */
	let size = ip.family == 4 ? 8 : 2 * 8, bits = ip.parts.length * size;
	let n = len == null ? bits : (/^\d+$/.test(len) ? +len : -1);

	if (n < 0 || n > bits)
		return { error: _('has prefix length \'%s\': IPv%d takes 0 to %d').format(len, ip.family, bits) };

	/* Host bits: every bit past n of the address, part by part. */
	for (let i = 0; i < ip.parts.length; i++) {
		let keep = Math.max(0, Math.min(size, n - i * size));
		let mask = keep == 0 ? 0 : ((1 << size) - 1) ^ ((1 << (size - keep)) - 1);
		if ((ip.parts[i] & ~mask) != 0)
			return { error: _('has host bits set') };
	}

	return { family: ip.family, len: n };
}

return baseclass.extend({
	parseIPv4: parseIPv4,
	parseIPv6: parseIPv6,
	parseIP: parseIP,
	parseSeconds: parseSeconds,
	parsePrefix: parsePrefix,
	parsePorts: parsePorts,

	/** Takes schema.json (as `dualwan check --schema` prints it) for every later check. */
	setSchema: function(s) {
		schema = s;
	},

	/** The schema's entry of an option: { type, ..., list, default, help }. */
	option: function(sec, name) {
		return option(sec, name);
	},

	/** The schema's entry of a section type: { name, max, one_of, options }. */
	section: function(sec) {
		return section(sec);
	},

	/** An option's default as UCI text ('' when it has none), for placeholders. */
	defaultOf: function(sec, name) {
		let d = option(sec, name)['default'];
		return d == null ? '' : d;
	},

	/** One value of an option, by the type and range the schema gives it; empty is the default. */
	check: function(sec, name, v) {
		if (empty(v))
			return true;

		let o = option(sec, name);

		if (!TYPES[o.type])
			throw new Error('dualwan: the schema type ' + o.type + ' is unknown to validate.js');

		return TYPES[o.type](o, String(v));
	},

	/** A UCI section name for an interface: the schema's characters and length. */
	sectionName: function(v) {
		let rule = section('interface').name;

		if (empty(v))
			return _('A name is needed, e.g. wan');
		if (!v.split('').every(function(c) { return inSet(rule.chars, c); }))
			return _('Only letters, digits and _ are allowed');
		if (v.length > rule.max)
			return _('At most %d characters').format(rule.max);
		return true;
	},

	/** interface.device: a kernel device name. */
	device: function(v) {
		if (empty(v))
			return _('A device is needed, e.g. eth1, wwan0 or pppoe-wan');
		return this.check('interface', 'device', v);
	},

	/** interface.network: a netifd interface name; empty is "none". */
	network: function(v) {
		return this.check('interface', 'network', v);
	},

	/** interface.device / interface.network: exactly one of the two is set (the schema's one_of). */
	source: function(device, network) {
		if (empty(device) && empty(network))
			return _('A device or a network interface is needed, e.g. eth1 or wan');
		if (!empty(device) && !empty(network))
			return _('Set either a device or a network interface, not both');
		return true;
	},

	/**
	 * One track_ip entry (IPv4 or IPv6), given the entries before it in the list: the
	 * two families together count against the schema's maximum. The daemon's words.
	 */
	target: function(v, others) {
		let max = option('interface', 'track_ip').max;

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
		if (others.length >= max)
			return _('\'%s\' is one more than the %d targets allowed').format(v, max);
		return true;
	},

	/** The whole track_ip list: min to max distinct valid addresses of either family. */
	targets: function(list) {
		list = (list || []).filter(function(v) { return !empty(v); });

		if (list.length < option('interface', 'track_ip').min)
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
	 * interface.reliability: its range, and not more than the number of targets (both
	 * families together). Each family then needs min(reliability, its own targets).
	 */
	reliability: function(v, ntargets) {
		let r = this.check('interface', 'reliability', v);

		if (r !== true || empty(v) || !ntargets)
			return r;

		if (parseWhole(v) > ntargets)
			return _('More than the %d targets').format(ntargets);

		return true;
	},

	/**
	 * interface.recovery_* against failure_* (`which`: 'loss' or 'latency'): recovery
	 * must be stricter, below failure, as `dualwan check` requires. The values are UCI
	 * texts (empty: the default); a field with a bad value of its own is not judged here.
	 * Returns true or the message.
	 */
	stricter: function(which, recovery, failure) {
		let r = parseWhole(empty(recovery) ? this.defaultOf('interface', 'recovery_' + which) : String(recovery));
		let f = parseWhole(empty(failure) ? this.defaultOf('interface', 'failure_' + which) : String(failure));

		if (r == null || f == null || r < f)
			return true;

		return _('Recovery %s %d is not below failure %s %d: recovery must be stricter than failure')
			.format(which, r, which, f);
	},

	/**
	 * Metric and device must differ between enabled interfaces (metrics only in
	 * failover mode: in balance mode equal metrics share traffic). `self` and each of
	 * `others` are { name, enabled, metric, device } with UCI text values (an empty
	 * metric is the default). `which` ('metric' or 'device') limits the check to one of
	 * them; `mode` is the globals' mode (empty: its default). Returns true or the message
	 * for `self`.
	 */
	distinct: function(self, others, which, mode) {
		if (which == 'metric' && (empty(mode) ? this.defaultOf('globals', 'mode') : mode) == 'balance')
			return true;

		if (!this.enabled(self.enabled))
			return true;

		let dflt = this.defaultOf('interface', 'metric');
		let metric = parseWhole(empty(self.metric) ? dflt : self.metric);

		for (let i = 0; i < others.length; i++) {
			let o = others[i];

			if (o.name == self.name || !this.enabled(o.enabled))
				continue;

			if (which != 'device' && metric != null &&
			    parseWhole(empty(o.metric) ? dflt : o.metric) === metric)
				return _('Metric %d is already used by %s (enabled interfaces need different metrics)')
					.format(metric, o.name);

			if (which != 'metric' && !empty(self.device) && o.device == self.device)
				return _('Device %s is already used by %s').format(self.device, o.name);
		}

		return true;
	},

	/**
	 * A rule's addresses and family (each UCI text, empty for unset): one family. Returns
	 * true or the message for the field `which` ('src_ip', 'dest_ip' or 'family').
	 */
	ruleFamily: function(src, dst, family, which) {
		let fam = function(v) { let p = empty(v) ? null : parsePrefix(v); return (p && !p.error) ? p.family : null; };
		let a = fam(src), b = fam(dst);

		if (which != 'family' && a != null && b != null && a != b)
			return _('An IPv%d and an IPv%d address: a rule is of one family').format(a, b);
		if (which == 'family' && !empty(family) && (a || b) && family != 'ipv' + (a || b))
			return _('The addresses are IPv%d').format(a || b);
		return true;
	},

	/** A rule's src_port / dest_port against its proto (empty: the default). */
	rulePorts: function(v, proto) {
		let r = this.check('rule', 'dest_port', v);

		if (r !== true || empty(v))
			return r;
		if (empty(proto))
			proto = this.defaultOf('rule', 'proto');
		if (proto != 'tcp' && proto != 'udp')
			return _('Ports need proto tcp or udp (proto is \'%s\')').format(proto);
		return true;
	},

	/** One entry of a rule's `use`, given the interface section names and the entries before it. */
	ruleUse: function(v, wans, before) {
		if (empty(v))
			return true;

		let r = this.check('rule', 'use', v);

		if (r !== true)
			return r;
		if ((before || []).indexOf(v) >= 0)
			return _('\'%s\' is listed twice').format(v);
		if (option('rule', 'use').words.indexOf(v) < 0 && (wans || []).indexOf(v) < 0)
			return _('\'%s\' is not an interface section').format(v);
		return true;
	},

	/** A metric for a new WAN: 10 above the highest in use (10 for the first), within the range. */
	nextMetric: function(metrics) {
		let dflt = this.defaultOf('interface', 'metric');
		let top = -1;

		(metrics || []).forEach(function(m) {
			let n = parseWhole(empty(m) ? dflt : String(m));
			if (n != null && n > top)
				top = n;
		});

		return top < 0 ? 10 : Math.min(option('interface', 'metric').max, top + 10);
	},

	/** The targets a new WAN starts with (as in the default /etc/config/dualwan). */
	DEFAULT_TARGETS: [ '1.1.1.1', '8.8.8.8', '9.9.9.9' ],

	/** An interface's `enabled`, read as the daemon reads it; empty is its default. */
	enabled: function(v) {
		if (empty(v))
			v = this.defaultOf('interface', 'enabled');
		return schema.bool['true'].indexOf(String(v)) >= 0;
	}
});
