'use strict';
'require baseclass';

/*
 * What the status page shows, computed from a `ubus call dualwan status` reply.
 *
 * Everything here is plain data in, plain data out (no DOM, no RPC), so that the
 * tests in tests/luci/ can run it on recorded replies under Node. The view
 * (view/dualwan/status.js) only turns these models into elements.
 *
 * Dual stack: a WAN with IPv6 targets has a second set of keys for IPv6 (status6,
 * reason6, active6, ...; the same names with a "6"), and the reply an `active6`. A WAN
 * without them is modelled, and drawn, exactly as before IPv6 support.
 *
 * Balance mode (`mode` "balance"): `active` names every WAN sharing the traffic,
 * separated by spaces, and each WAN has `weight`, `share` (percent of new connections)
 * and `tier`. A reply with `config rule` sections has `rules`: per rule its `priority`
 * and who carries it (`via`, `via6`).
 */

/* WAN states as the daemon names them; `tone` picks the colour class `dw-tone-<tone>`. */
const STATES = {
	online: {
		label: _('Online'), tone: 'ok',
		hint: _('Its targets answer: usable for traffic.')
	},
	disconnecting: {
		label: _('Disconnecting'), tone: 'warn',
		hint: _('Probes are failing; it goes offline if they keep failing.')
	},
	connecting: {
		label: _('Connecting'), tone: 'warn',
		hint: _('Probes answer again; it comes back once they keep answering.')
	},
	offline: {
		label: _('Offline'), tone: 'bad',
		hint: _('Its targets do not answer: not used for traffic.')
	},
	no_link: {
		label: _('No link'), tone: 'bad',
		hint: _('No carrier, device, address or default route.')
	},
	disabled: {
		label: _('Disabled'), tone: 'off',
		hint: _('Disabled in the configuration.')
	}
};

/* What a number cell shows when there is no number to show (no answer, no sample). */
const NONE = '—';

/* A target's own state. */
const TARGET_STATES = {
	up: { label: _('answers'), tone: 'ok' },
	down: { label: _('no answer'), tone: 'bad' },
	unknown: { label: _('not probed yet'), tone: 'off' }
};

function isNum(v) {
	return typeof(v) == 'number' && isFinite(v);
}

function plural(n, one, many) {
	return (n == 1 ? one : many).format(n);
}

/* Probe targets are literals: an IPv6 one has a colon, an IPv4 one never does. */
function isIPv6(ip) {
	return String(ip).indexOf(':') >= 0;
}

/* The families of a dual-stack reply: the suffix of their keys, and their name. */
const FAMILIES = [
	{ sfx: '', key: 'ipv4', name: 'IPv4' },
	{ sfx: '6', key: 'ipv6', name: 'IPv6' }
];

/* The tone of a card with two families: one colour if they agree, amber if one works. */
function mixTones(tones) {
	let on = tones.filter(function(t) { return t != 'off'; });

	if (!on.length)
		return 'off';
	if (on.every(function(t) { return t == on[0]; }))
		return on[0];
	return on.indexOf('ok') >= 0 || on.indexOf('bad') < 0 ? 'warn' : 'bad';
}

return baseclass.extend({
	STATES: STATES,

	NONE: NONE,

	/* How far back the RTT and loss chart looks, in seconds of the daemon's uptime. */
	CHART_SECONDS: 300,

	/* A longer silence between two polls (a sleeping tab, a lost call) breaks the lines. */
	CHART_GAP: 10,

	/** State of a WAN -> { label, tone, hint }; unknown words are shown as they are. */
	wanState: function(status) {
		return STATES[status] || { label: String(status || _('Unknown')), tone: 'off', hint: '' };
	},

	/** State of a probe target -> { label, tone }. */
	targetState: function(status) {
		return TARGET_STATES[status] || TARGET_STATES.unknown;
	},

	/**
	 * Seconds as a person reads them, two units at most:
	 * 0 s, 42 s, 5 min 12 s, 2 h 05 min, 3 d 4 h.
	 */
	duration: function(secs) {
		if (!isNum(secs) || secs < 0)
			return '–';

		let s = Math.floor(secs);

		if (s < 60)
			return '%d s'.format(s);

		if (s < 3600)
			return (s % 60) ? '%d min %d s'.format(Math.floor(s / 60), s % 60)
			                : '%d min'.format(s / 60);

		if (s < 86400) {
			let h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
			return m ? '%d h %s min'.format(h, (m < 10 ? '0' : '') + m) : '%d h'.format(h);
		}

		let d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
		return h ? '%d d %d h'.format(d, h) : '%d d'.format(d);
	},

	/** An age in seconds -> "just now" / "5 min 12 s ago". */
	ago: function(secs) {
		if (!isNum(secs))
			return '–';
		if (secs < 2)
			return _('just now');
		return _('%s ago').format(this.duration(secs));
	},

	/** Milliseconds (absent while a target has no answered probe) -> "12.4 ms" / "—". */
	ms: function(v) {
		if (!isNum(v))
			return NONE;
		if (v >= 100)
			return '%d ms'.format(Math.round(v));
		return '%s ms'.format(v.toFixed(1));
	},

	/** Packet loss percent -> "0 %". */
	loss: function(p) {
		return isNum(p) ? '%d %%'.format(p) : NONE;
	},

	/** A whole number with thousands separators, as the daemon's reasons write them: 1,240. */
	thousands: function(n) {
		return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
	},

	/**
	 * One family's `quality` (its last 16 probes to its targets, as check_quality judges
	 * them) -> { text, tone, hint }, or null for a reply without it. With check_quality
	 * on, the tone says where the thresholds put it and the hint names them.
	 */
	quality: function(q) {
		if (q == null || typeof(q) != 'object')
			return null;

		let text = isNum(q.latency) ? _('%s lost, %s').format(this.loss(q.packetloss), this.ms(q.latency))
		                            : _('%s lost').format(this.loss(q.packetloss));
		let hint = _('Over the last %d probes to its targets.').format(q.probes || 0);
		let tone = this.lossTone(q.packetloss);

		if (q.check) {
			let lat = isNum(q.latency) ? q.latency : 0;
			let failing = q.packetloss >= q.failure_loss || lat >= q.failure_latency;
			let recovered = q.packetloss <= q.recovery_loss && lat <= q.recovery_latency;

			tone = failing ? 'bad' : (recovered ? 'ok' : 'warn');
			hint = _('check_quality: offline at %d %% lost or %s ms; back at %d %% and %s ms or less.')
				.format(q.failure_loss, this.thousands(q.failure_latency), q.recovery_loss,
					this.thousands(q.recovery_latency)) + ' ' + hint;
		}

		return { text: text, tone: tone, hint: hint, check: !!q.check };
	},

	/** Loss as a tone: none is fine, some is a warning, most is bad. */
	lossTone: function(p) {
		if (!isNum(p))
			return 'off';
		return p == 0 ? 'ok' : (p < 50 ? 'warn' : 'bad');
	},

	/**
	 * WAN names in priority order: enabled ones by metric (lower first), then the
	 * disabled ones; ties by name.
	 */
	order: function(reply) {
		let ifaces = (reply && reply.interfaces) || {};

		return Object.keys(ifaces).sort(function(a, b) {
			let x = ifaces[a], y = ifaces[b];
			let xe = x.enabled !== false, ye = y.enabled !== false;

			if (xe != ye)
				return xe ? -1 : 1;
			if ((x.metric || 0) != (y.metric || 0))
				return (x.metric || 0) - (y.metric || 0);
			return a < b ? -1 : (a > b ? 1 : 0);
		});
	},

	/**
	 * One probe target (track_ip entry or gateway_probe) -> a table row. A target with
	 * no answer in its window (all lost, or not probed yet) has no RTT or jitter to
	 * show, whatever numbers the reply carries; `last` is the newest probe's, so only
	 * a target that answers has one.
	 */
	target: function(t, kind) {
		let st = this.targetState(t.status);
		let silent = t.status != 'up' && (t.status != 'down' || !(t.packetloss < 100));

		return {
			ip: t.ip,
			family: isIPv6(t.ip) ? 'ipv6' : 'ipv4',
			kind: kind,
			kindLabel: kind == 'gateway' ? _('gateway') : _('target'),
			/* How it is probed: 'icmp' or 'tcp' (null from a daemon without TCP probes). */
			method: t.method || null,
			methodLabel: t.method == 'tcp' ? _('TCP %d').format(t.port) : (t.method == 'icmp' ? _('ICMP') : ''),
			state: st.label,
			tone: st.tone,
			rtt: silent ? NONE : this.ms(t.latency),
			jitter: silent ? NONE : this.ms(t.jitter),
			last: t.status == 'up' ? this.ms(t.last_rtt) : NONE,
			/* Not probed yet: no loss either (the daemon says 0 of 0 lost). */
			loss: t.status == 'unknown' ? NONE : this.loss(t.packetloss),
			lossTone: t.status == 'unknown' ? 'off' : this.lossTone(t.packetloss)
		};
	},

	/** Whether a WAN (a reply's interfaces entry) has IPv6 targets, hence IPv6 keys. */
	isDual: function(w) {
		return w != null && w.status6 != null;
	},

	/**
	 * One family's state of a WAN (sfx '' for IPv4, '6' for IPv6) and the targets of
	 * that family -> what the card shows of it.
	 */
	side: function(w, sfx) {
		let status = w['status' + sfx];
		let st = this.wanState(status);
		let secs = (status == 'online' || status == 'disconnecting') ? w['online' + sfx] : w['offline' + sfx];
		let mine = (w.track_ip || []).filter(function(t) { return isIPv6(t.ip) == (sfx == '6'); });
		let answered = mine.filter(function(t) { return t.status == 'up'; }).length;
		let hint = st.hint;

		/* An enabled WAN is "disabled" for a family it has no targets of. */
		if (status == 'disabled' && w.enabled !== false)
			hint = sfx ? _('No IPv6 targets: it carries no IPv6 traffic.')
			           : _('No IPv4 targets: it carries no IPv4 traffic.');

		return {
			status: status,
			label: st.label,
			tone: st.tone,
			hint: hint,
			since: (status == 'disabled' || !isNum(secs)) ? '' : this.duration(secs),
			reason: w['reason' + sfx] || '',
			address: w['address' + sfx] || _('none'),
			gateway: w['gateway' + sfx] || _('unknown'),
			active: !!w['active' + sfx],
			transitions: plural(w['transitions' + sfx] || 0, _('%d change'), _('%d changes')),
			answered: mine.length ? _('%d of %d targets answer').format(answered, mine.length) : _('No targets'),
			quality: this.quality(w['quality' + sfx])
		};
	},

	/**
	 * One WAN -> everything its card shows. The top-level fields are IPv4's (all there
	 * is without IPv6 targets); a dual-stack WAN adds `v6` and a `tone` for both.
	 */
	wan: function(name, w) {
		let v4 = this.side(w, '');
		let targets = (w.track_ip || []).map(function(t) { return this.target(t, 'target'); }, this);

		if (w.gateway_probe)
			targets.push(this.target(w.gateway_probe, 'gateway'));
		if (w.gateway_probe6)
			targets.push(this.target(w.gateway_probe6, 'gateway'));

		let m = {
			name: name,
			device: w.device || '',
			enabled: w.enabled !== false,
			weight: isNum(w.weight) ? w.weight : null,
			share: isNum(w.share) ? w.share : null,
			share6: isNum(w.share6) ? w.share6 : null,
			tier: w.tier === true,
			active: v4.active,
			status: v4.status,
			label: v4.label,
			tone: v4.tone,
			hint: v4.hint,
			since: v4.since,
			reason: v4.reason,
			address: v4.address,
			gateway: v4.gateway,
			metric: w.metric,
			transitions: v4.transitions,
			answered: v4.answered,
			quality: v4.quality,
			targets: targets,
			v6: null
		};

		if (this.isDual(w)) {
			m.v4 = v4;
			m.v6 = this.side(w, '6');
			m.tone = mixTones([ v4.tone, m.v6.tone ]);
		}

		return m;
	},

	/**
	 * One history entry -> a timeline line. `showFamily` (a dual-stack reply, or an
	 * IPv6 entry) names the family the transition was of.
	 */
	event: function(e, showFamily) {
		let from = this.wanState(e.from), to = this.wanState(e.to);
		let fam = (e.family == 'ipv6') ? 'IPv6' : (e.family == 'ipv4' ? 'IPv4' : '');

		if (!showFamily && e.family != 'ipv6')
			fam = '';

		return {
			age: this.ago(e.age),
			iface: e.interface,
			family: fam ? e.family : '',
			fam: fam,
			from: from.label,
			to: to.label,
			tone: to.tone,
			reason: e.reason || '',
			text: (fam ? '%s %s: %s → %s'.format(e.interface, fam, from.label, to.label)
			           : '%s: %s → %s'.format(e.interface, from.label, to.label))
		};
	},

	/**
	 * The WANs that may carry a family (sfx '' or '6'), in priority order: enabled
	 * ones probing it (a WAN without targets of a family is "disabled" for it).
	 */
	candidates: function(reply, sfx) {
		let ifaces = reply.interfaces || {};

		return this.order(reply).filter(function(n) {
			let st = ifaces[n]['status' + sfx];
			return ifaces[n].enabled !== false && st != null && st != 'disabled';
		});
	},

	/**
	 * The line at the top: which WAN carries traffic, and why when it is not the
	 * preferred one. With `active6` in the reply, it says so for IPv4 and IPv6.
	 */
	headline: function(reply) {
		let ifaces = reply.interfaces || {};
		let names = this.order(reply).filter(function(n) { return ifaces[n].enabled !== false; });
		let active = reply.active;

		if (!names.length)
			return { tone: 'bad', text: _('No WAN is enabled.'), detail: '' };

		if (reply.mode == 'balance')
			return this.balanceHeadline(reply);

		if (reply.active6 != null)
			return this.dualHeadline(reply);

		if (!active || !ifaces[active]) {
			let why = names.map(function(n) {
				return '%s: %s (%s)'.format(n, this.wanState(ifaces[n].status).label.toLowerCase(),
					ifaces[n].reason || '–');
			}, this).join('; ');

			return {
				tone: 'bad',
				text: _('No WAN is carrying traffic.'),
				detail: why
			};
		}

		let preferred = names[0];
		let dev = ifaces[active].device;

		if (preferred == active)
			return {
				tone: 'ok',
				text: _('Traffic leaves through %s (%s).').format(active, dev),
				detail: ''
			};

		return {
			tone: 'warn',
			text: _('Failed over: traffic leaves through %s (%s).').format(active, dev),
			detail: _('%s is %s: %s').format(preferred,
				this.wanState(ifaces[preferred].status).label.toLowerCase(),
				ifaces[preferred].reason || '–')
		};
	},

	/**
	 * The headline of a dual-stack reply: per family, the WAN carrying it and the one
	 * that should; one phrase when a single WAN carries both. `detail` has a line
	 * (separated by "\n") per family that failed over or has no WAN.
	 */
	dualHeadline: function(reply) {
		let ifaces = reply.interfaces;
		let fams = FAMILIES.map(function(f) {
			let names = this.candidates(reply, f.sfx);
			let active = reply['active' + f.sfx];

			return {
				sfx: f.sfx,
				name: f.name,
				names: names,
				preferred: names[0],
				active: (active && ifaces[active]) ? active : null
			};
		}, this).filter(function(f) { return f.names.length; });

		let via = function(n) { return '%s (%s)'.format(n, ifaces[n].device); };
		let carried = fams.filter(function(f) { return f.active; });
		let moved = carried.filter(function(f) { return f.active != f.preferred; });
		let details = [];

		fams.forEach(function(f) {
			let why = function(n) {
				return this.wanState(ifaces[n]['status' + f.sfx]).label.toLowerCase();
			}.bind(this);

			if (!f.active)
				details.push(_('No WAN carries %s: %s').format(f.name, f.names.map(function(n) {
					return '%s: %s (%s)'.format(n, why(n), ifaces[n]['reason' + f.sfx] || '–');
				}).join('; ')));
			else if (f.active != f.preferred)
				details.push(_('%s is %s for %s: %s').format(f.preferred, why(f.preferred), f.name,
					ifaces[f.preferred]['reason' + f.sfx] || '–'));
		}, this);

		if (!carried.length)
			return { tone: 'bad', text: _('No WAN is carrying traffic.'), detail: details.join('\n') };

		let phrase;

		if (carried.length == fams.length && carried.every(function(f) { return f.active == carried[0].active; }))
			phrase = fams.length > 1
				? _('IPv4 and IPv6 leave through %s').format(via(carried[0].active))
				: _('%s leaves through %s').format(carried[0].name, via(carried[0].active));
		else
			phrase = fams.map(function(f) {
				return f.active ? _('%s via %s').format(f.name, via(f.active)) : _('no WAN carries %s').format(f.name);
			}).join(', ');

		return {
			tone: (moved.length || carried.length < fams.length) ? 'warn' : 'ok',
			text: moved.length ? _('Failed over: %s.').format(phrase)
			                   : phrase.charAt(0).toUpperCase() + phrase.slice(1) + '.',
			detail: details.join('\n')
		};
	},

	/** The WANs a reply's `active` (sfx '') or `active6` ('6') names: balance mode lists several. */
	carriers: function(reply, sfx) {
		let ifaces = reply.interfaces || {};

		return String(reply['active' + sfx] || '').split(' ').filter(function(n) { return n && ifaces[n]; });
	},

	/**
	 * The headline in balance mode: per family, the WANs sharing it with their shares;
	 * warn when a WAN of the tier in use is not among them.
	 */
	balanceHeadline: function(reply) {
		let ifaces = reply.interfaces;
		let fams = FAMILIES.filter(function(f) { return f.sfx == '' || reply.active6 != null; });
		let details = [], carried = 0, phrases = [];

		fams.forEach(function(f) {
			let names = this.carriers(reply, f.sfx);
			let shares = names.map(function(n) {
				return _('%s (%d %%)').format(n, ifaces[n]['share' + f.sfx] || 0);
			}).join(', ');

			if (names.length)
				carried++;
			phrases.push(!names.length ? _('no WAN carries %s').format(f.name)
				: (fams.length > 1 ? _('%s shared by %s').format(f.name, shares) : _('shared by %s').format(shares)));

			this.order(reply).forEach(function(n) {
				let w = ifaces[n];
				if (w.enabled !== false && w['tier' + f.sfx] && names.indexOf(n) < 0)
					details.push(_('%s is %s%s: %s').format(n, this.wanState(w['status' + f.sfx]).label.toLowerCase(),
						fams.length > 1 ? ' (' + f.name + ')' : '', w['reason' + f.sfx] || '–'));
			}, this);
		}, this);

		if (!carried)
			return { tone: 'bad', text: _('No WAN is carrying traffic.'), detail: details.join('\n') };

		let text = phrases.join(', ');

		return {
			tone: (details.length || carried < fams.length) ? 'warn' : 'ok',
			text: _('Traffic %s.').format(text),
			detail: details.join('\n')
		};
	},

	/** A reply's rules -> one line each: name, first priority, who carries it per family. */
	rules: function(reply) {
		let rules = reply.rules || {};

		return Object.keys(rules).map(function(name) {
			let r = rules[name];
			return {
				name: name,
				priority: r.priority,
				via: r.via != null ? r.via : null,
				via6: r.via6 != null ? r.via6 : null,
				resort: [ 'main', 'unreachable', 'blackhole' ].indexOf(r.via) >= 0 ||
					[ 'main', 'unreachable', 'blackhole' ].indexOf(r.via6) >= 0
			};
		});
	},

	/** A usable reply has interfaces; anything else (an error code) is not one. */
	isReply: function(reply) {
		return reply != null && typeof(reply) == 'object' && reply.interfaces != null &&
			typeof(reply.interfaces) == 'object';
	},

	/** A whole reply -> the page model. */
	model: function(reply) {
		if (!this.isReply(reply))
			return this.errorModel(null);

		return {
			ok: true,
			version: reply.version,
			uptime: this.duration(reply.uptime),
			mode: reply.mode,
			balance: reply.mode == 'balance',
			rules: this.rules(reply),
			active: reply.active || '',
			active6: reply.active6 != null ? reply.active6 : null,
			headline: this.headline(reply),
			wans: this.order(reply).map(function(n) { return this.wan(n, reply.interfaces[n]); }, this),
			history: (reply.history || []).map(function(e) { return this.event(e, reply.active6 != null); }, this)
		};
	},

	/**
	 * A failed call -> what to tell the user. The ubus object is missing when the
	 * daemon does not run (rpcd answers "Object not found"); "Access denied" is the
	 * ACL; a reply without interfaces is an unexpected answer.
	 */
	errorModel: function(err) {
		let msg = err ? String(err.message || err) : _('The daemon sent no status (unexpected reply).');

		if (err != null && /Object not found|Resource not found/i.test(msg))
			return {
				ok: false,
				kind: 'not_running',
				title: _('The dualwan daemon is not running.'),
				detail: _('Without it no WAN is probed and traffic follows the main routing table. Start it with:'),
				command: '/etc/init.d/dualwan start',
				more: _('If it stops again, its log says why: %s').format('logread -e dualwan')
			};

		if (/Access denied|Permission denied/i.test(msg))
			return {
				ok: false,
				kind: 'denied',
				title: _('This login may not read the dualwan status.'),
				detail: _('The ACL luci-app-dualwan grants it (ubus dualwan status).'),
				command: '',
				more: msg
			};

		return {
			ok: false,
			kind: 'error',
			title: _('The dualwan status could not be read.'),
			detail: msg,
			command: '',
			more: ''
		};
	},

	/** The RTT of one poll for a WAN: mean of the newest answers, or null (a gap). */
	rttSample: function(w) {
		let v = (w.track_ip || []).filter(function(t) { return t.status == 'up' && isNum(t.last_rtt); })
			.map(function(t) { return t.last_rtt; });

		if (!v.length)
			return null;

		return v.reduce(function(a, b) { return a + b; }, 0) / v.length;
	},

	/**
	 * The loss of one poll for a WAN: the mean of its targets' loss over their recent
	 * probes (each target's window), or null before any target was probed.
	 */
	lossSample: function(w) {
		let v = (w.track_ip || []).filter(function(t) { return t.status != 'unknown' && isNum(t.packetloss); })
			.map(function(t) { return t.packetloss; });

		if (!v.length)
			return null;

		return v.reduce(function(a, b) { return a + b; }, 0) / v.length;
	},

	/**
	 * Adds one poll to `history` ({ samples: [{ t, wans: { name: { rtt, loss } } }] }) and
	 * returns it. Time is the daemon's `uptime` (`now`, in seconds, for a reply without
	 * it): a poll within the same second replaces the previous one, an uptime that goes
	 * back (the daemon restarted) starts over, and samples older than CHART_SECONDS
	 * leave. Disabled WANs are not sampled. An error reply adds nothing.
	 */
	addSamples: function(history, reply, now) {
		if (!this.isReply(reply))
			return history;

		let list = history.samples || (history.samples = []);
		let t = isNum(reply.uptime) ? reply.uptime : now;
		let prev = list.length ? list[list.length - 1].t : null;
		let wans = {};

		if (!isNum(t))
			return history;
		if (prev != null && t < prev)
			list.length = 0;
		else if (prev != null && t == prev)
			list.pop();

		for (let name in reply.interfaces) {
			let w = reply.interfaces[name];
			if (w.enabled !== false)
				wans[name] = { rtt: this.rttSample(w), loss: this.lossSample(w) };
		}

		list.push({ t: t, wans: wans });
		while (list.length && list[0].t < t - this.CHART_SECONDS)
			list.shift();

		return history;
	},

	/** The smallest 1, 2 or 5 times a power of ten at or above `v` (and at least 1). */
	niceTop: function(v) {
		let top = Math.max(1, v);

		for (let e = 1; ; e *= 10) {
			let s = [ 1, 2, 5 ].find(function(m) { return m * e >= top; });
			if (s)
				return s * e;
		}
	},

	/**
	 * One WAN's values (key 'rtt' or 'loss') over `samples` -> an SVG path in a
	 * CHART_W x 100 box (time to the right, the value `top` at y 0), and its points.
	 * A null value or a gap longer than CHART_GAP lifts the pen.
	 */
	chartPath: function(samples, name, key, since, top) {
		let d = '', pen = false, points = 0, prevT = null, end = null;

		samples.forEach(function(s) {
			let w = s.wans[name], v = w ? w[key] : null;

			if (prevT != null && s.t - prevT > this.CHART_GAP)
				pen = false;
			prevT = s.t;

			if (!isNum(v)) {
				pen = false;
				return;
			}

			let x = (s.t - since) / this.CHART_SECONDS * this.CHART_W;
			let y = 100 - Math.min(v, top) / top * 100;

			d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
			pen = true;
			points++;
			end = [ x, y ];
		}, this);

		return { path: d, points: points, end: end };
	},

	/* Width of the chart's drawing box; the SVG stretches it to the page's width. */
	CHART_W: 1000,

	/**
	 * The history -> the RTT and loss chart of the WANs `names` (priority order): per
	 * WAN a line in each, its colour index, its newest values; the axes' ticks as
	 * percentages of the plot (y from the top, x from the left) with their labels.
	 * The time axis always spans CHART_SECONDS, ending at the newest poll.
	 */
	chart: function(history, names) {
		let samples = (history && history.samples) || [];
		let now = samples.length ? samples[samples.length - 1].t : 0;
		let since = now - this.CHART_SECONDS;
		let rtts = [];

		samples.forEach(function(s) {
			names.forEach(function(n) {
				if (s.wans[n] && isNum(s.wans[n].rtt))
					rtts.push(s.wans[n].rtt);
			});
		});

		let top = this.niceTop(Math.max.apply(null, rtts.concat([ 0 ])));
		let ticks = function(max, unit) {
			return [ max, max / 2, 0 ].map(function(v) {
				return { at: 100 - v / max * 100, label: (v % 1 ? v.toFixed(1) : String(v)) + unit };
			});
		};
		let minutes = Math.round(this.CHART_SECONDS / 60);
		let xTicks = [];

		for (let m = minutes; m >= 0; m--)
			xTicks.push({ at: (minutes - m) / minutes * 100, label: m ? _('−%d min').format(m) : _('now') });

		return {
			samples: samples.length,
			seconds: this.CHART_SECONDS,
			rttTop: top,
			rttTicks: ticks(top, ' ms'),
			lossTicks: ticks(100, ' %'),
			xTicks: xTicks,
			wans: names.map(function(n, i) {
				let last = samples.length ? samples[samples.length - 1].wans[n] : null;
				let rtt = this.chartPath(samples, n, 'rtt', since, top);
				let loss = this.chartPath(samples, n, 'loss', since, 100);

				return {
					name: n,
					colour: i % 6,
					rtt: rtt,
					loss: loss,
					rttNow: last ? this.ms(last.rtt) : NONE,
					lossNow: last && isNum(last.loss) ? this.loss(Math.round(last.loss)) : NONE
				};
			}, this)
		};
	},

	/** The text of a failed probe call: the ubus status rpcd relayed, or the ACL. */
	probeError: function(err) {
		let msg = String((err && err.message) || err || '');
		let code = /ubus code (\d+)/.exec(msg);
		let known = {
			2: _('the daemon refused the request (invalid argument)'),
			3: _('this dualwan has no probe method: update the daemon'),
			4: _('the daemon does not know this interface (reload it after a configuration change)'),
			6: _('permission denied'),
			7: _('no answer from the daemon in time')
		};

		if (code && known[code[1]])
			return known[code[1]];
		if (/Object not found/i.test(msg))
			return _('the dualwan daemon is not running');
		if (/Access denied|Permission denied/i.test(msg))
			return _('this login may not run probes (ACL luci-app-dualwan: ubus dualwan probe)');
		return msg || _('no answer');
	},

	/**
	 * A `dualwan probe` reply (or the error of the call) -> what the card shows: one
	 * row per probe with its answer and RTT or its error, or a single error line (a
	 * WAN that cannot be probed now says why, as status does).
	 */
	probe: function(reply, err) {
		if (err != null)
			return { ok: false, error: this.probeError(err), rows: [] };
		if (reply == null || typeof(reply) != 'object' || !Array.isArray(reply.probes))
			return { ok: false, error: _('unexpected reply from the daemon'), rows: [] };
		if (reply.error)
			return { ok: false, error: _('cannot probe it now: %s').format(reply.error), rows: [] };
		if (!reply.probes.length)
			return { ok: false, error: _('nothing to probe'), rows: [] };

		let rows = reply.probes.map(function(p) {
			let how = p.kind == 'gateway' ? _('gateway') : (p.method == 'tcp' ? _('TCP %d').format(p.port) : '');

			return {
				ip: p.ip,
				kind: p.kind,
				how: how,
				answered: p.answered === true,
				text: p.answered === true ? this.ms(p.rtt) : (p.error || _('no answer')),
				tone: p.answered === true ? 'ok' : 'bad'
			};
		}, this);
		let answered = rows.filter(function(r) { return r.answered; }).length;

		return {
			ok: true,
			error: '',
			summary: _('%d of %d answered').format(answered, rows.length),
			tone: answered == rows.length ? 'ok' : (answered ? 'warn' : 'bad'),
			rows: rows
		};
	}
});
