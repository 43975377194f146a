'use strict';
'require view';
'require form';
'require uci';
'require ui';
'require dom';
'require request';
'require tools.widgets as widgets';
'require dualwan.validate as dwv';

/*
 * Network → Dual WAN: the globals, the WAN interfaces and the rules of /etc/config/dualwan, checked
 * with the rules of `dualwan check` (dualwan/validate.js); ranges, words and defaults
 * come from dualwan/schema.json (`dualwan check --schema`). Save & Apply commits the
 * config; rpcd's apply sends procd the config.change event for 'dualwan', and the
 * init script's reload trigger makes the daemon re-read it (SIGHUP). A config the
 * daemon rejects is logged and the running one kept.
 */

/* Option `name` of section type `sec` as the schema has it. */
function opt(sec, name) {
	return dwv.option(sec, name);
}

/* A text field: the default as placeholder, the schema's checks, the default greyed in the table. */
function checked(o, sec) {
	o.placeholder = dwv.defaultOf(sec, o.option);
	o.validate = function(sid, v) { return dwv.check(sec, o.option, v); };
	return cell(o, sec);
}

/* Whether dualwan.css (.dw-default) is on the page yet. */
let styled = false;

/* Text shown in a table cell for an option left empty: what applies then, greyed. */
function greyed(text) {
	if (!styled) {
		styled = true;
		document.querySelector('head').appendChild(E('link', {
			'rel': 'stylesheet',
			'type': 'text/css',
			'href': L.resource('dualwan/dualwan.css')
		}));
	}
	return E('span', { 'class': 'dw-default', 'title': _('Not set: this applies') }, [ text ]);
}

/*
 * A table cell of option `o`: its value (a choice's label where it has one), or, when empty,
 * the schema's default greyed, else `unset` (what an empty option means, e.g. "any").
 * LuCI alone would show "none" there although a default applies. A cell's text is HTML to
 * LuCI: values are escaped ('%h').
 */
function cell(o, sec, unset) {
	let label = function(v) {
		let at = (o instanceof form.ListValue) ? (o.keylist || []).indexOf(String(v)) : -1;
		return (at >= 0 && typeof o.vallist[at] == 'string') ? o.vallist[at] : String(v);
	};

	o.textvalue = function(sid) {
		let v = this.cfgvalue(sid);
		if (Array.isArray(v))
			v = v.join(', ');
		if (v != null && v !== '')
			return '%h'.format(label(v));
		let d = dwv.defaultOf(sec, this.option);
		return greyed(d !== '' ? label(d) : (unset || '–'));
	};
	return o;
}

/*
 * Saving leaves an option that is not set unset while the form holds its default: the
 * config keeps what the user wrote, a later default applies, and the table still shows it
 * greyed. (LuCI writes a list's or a flag's value whenever the config has none.)
 */
function keepsDefault(o, sec) {
	let write = o.write;
	o.write = function(sid, v) {
		if (v === dwv.defaultOf(sec, this.option) && uci.get('dualwan', sid, this.option) == null)
			return;
		return write.call(this, sid, v);
	};
	return o;
}

/*
 * A list of the schema's words, labelled in this order (a word without a label shows as itself).
 * A value written as one of the schema's aliases (mwan3's `ping`) shows as its word, and
 * stays as written unless changed.
 */
function choices(o, sec, labels) {
	let words = opt(sec, o.option).words;
	let aliases = opt(sec, o.option).aliases || {};

	labels.filter(function(l) { return words.indexOf(l[0]) >= 0; }).forEach(function(l) { o.value(l[0], l[1]); });
	words.filter(function(w) { return !labels.some(function(l) { return l[0] == w; }); }).forEach(function(w) { o.value(w); });
	o.default = dwv.defaultOf(sec, o.option);
	cell(o, sec);
	keepsDefault(o, sec);
	if (Object.keys(aliases).length)
		o.cfgvalue = function(sid) {
			let v = uci.get('dualwan', sid, this.option);
			return Object.prototype.hasOwnProperty.call(aliases, v) ? aliases[v] : v;
		};
	return o;
}

/* The value an option of a section has right now: the open form's, else the staged UCI one. */
function current(section, sid, option) {
	let v = null;

	try {
		v = section.formvalue(sid, option);
	}
	catch (e) {
		v = null;
	}

	return (v != null) ? v : uci.get('dualwan', sid, option);
}

/* Every other interface section as dwv.distinct wants it. */
function otherWans(sid) {
	return uci.sections('dualwan', 'interface').filter(function(s) {
		return s['.name'] != sid;
	}).map(function(s) {
		return { name: s['.name'], enabled: s.enabled, metric: s.metric, device: s.device };
	});
}

function thisWan(section, sid, over) {
	let w = {
		name: sid,
		enabled: current(section, sid, 'enabled'),
		metric: current(section, sid, 'metric'),
		device: current(section, sid, 'device')
	};

	for (let k in over)
		w[k] = over[k];

	return w;
}

/* The globals' mode as the form has it now. */
function mode() {
	let g = uci.sections('dualwan', 'globals')[0];
	let v = null;

	try {
		v = g ? globalsSection.formvalue(g['.name'], 'mode') : null;
	}
	catch (e) {
		v = null;
	}

	return v != null ? v : (g ? g.mode : null);
}

/* The globals section of the form (for mode()). */
let globalsSection = null;

function toList(v) {
	if (v == null || v === '')
		return [];
	return Array.isArray(v) ? v : String(v).split(/\s+/);
}

return view.extend({
	load: function() {
		return Promise.all([
			uci.load('dualwan'),
			request.get(L.resource('dualwan/schema.json')).then(function(res) {
				if (!res.ok)
					throw new Error(_('Cannot load dualwan/schema.json (HTTP %d)').format(res.status));
				dwv.setSchema(res.json());
			})
		]);
	},

	render: function() {
		let m, s, o;

		m = new form.Map('dualwan', _('Dual WAN'),
			_('Multi-WAN failover: dualwan probes each WAN and moves traffic to the best working one. ' +
			  'Save & Apply reloads the daemon with the new settings; if it rejects them (see <code>logread -e dualwan</code>) it keeps running with the old ones.'));

		/* At most one globals section; every option has a default, so create it if absent. */
		if (!uci.sections('dualwan', 'globals').length)
			uci.add('dualwan', 'globals', 'globals');

		s = m.section(form.TypedSection, 'globals', _('General settings'));
		s.anonymous = true;
		s.addremove = false;
		globalsSection = s;

		s.tab('general', _('General'));
		s.tab('advanced', _('Advanced'));

		let rule = opt('globals', 'rule_priority'), table = opt('globals', 'table_base');
		let wans = dwv.section('interface');

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'),
			_('Off: dualwan keeps no routing rules or routes at all and the main routing table decides alone.'));
		o.default = dwv.defaultOf('globals', 'enabled');
		o.rmempty = false;
		keepsDefault(o, 'globals');

		o = s.taboption('general', form.ListValue, 'mode', _('Mode'),
			_('<em>failover</em>: all traffic on the best working WAN. <em>balance</em>: the working WANs of the lowest metric share new connections by their weight; a WAN that returns takes over only connections idle for a while, so those in use keep their WAN.'));
		choices(o, 'globals', [
			[ 'failover', _('Failover') ],
			[ 'balance', _('Balance by weight') ]
		]);

		o = s.taboption('general', form.ListValue, 'log_level', _('Log level'),
			_('What goes to the system log (<code>logread -e dualwan</code>). <em>notice</em> logs every switch with its reason.'));
		choices(o, 'globals', [
			[ 'err', _('Errors') ],
			[ 'warning', _('Warnings') ],
			[ 'notice', _('Notices (every transition)') ],
			[ 'info', _('Informational') ],
			[ 'debug', _('Debug (every kernel change)') ]
		]);

		o = s.taboption('general', form.ListValue, 'last_resort', _('When no WAN is up'),
			_('<em>main</em> leaves the main routing table in charge (e.g. its DHCP default route); <em>unreachable</em> rejects Internet traffic until a WAN is back.'));
		choices(o, 'globals', [
			[ 'main', _('Use the main routing table') ],
			[ 'unreachable', _('Reject traffic (unreachable)') ]
		]);

		o = s.taboption('advanced', form.Value, 'rule_priority', _('Rule priority'),
			_('dualwan\'s <code>ip rule</code>s use priorities from this value to this value + %d (%d to %d).')
				.format(rule.span - 1, rule.min, rule.max));
		checked(o, 'globals');

		o = s.taboption('advanced', form.Value, 'table_base', _('First routing table'),
			_('dualwan\'s routing tables are this number to this number + %d; they must avoid the kernel\'s tables %d-%d.')
				.format(table.span - 1, table.reserved[0], table.reserved[1]));
		checked(o, 'globals');

		o = s.taboption('advanced', form.Value, 'balance_idle', _('Idle before rebalancing (s)'),
			_('Balance mode: a WAN that (re)joins takes over only connections whose share of the hash space carried no packet for this long (%s to %s seconds; 0: at once).')
				.format(String(opt('globals', 'balance_idle').min), String(opt('globals', 'balance_idle').max)));
		o.depends('mode', 'balance');
		checked(o, 'globals');

		s = m.section(form.GridSection, 'interface', _('WAN interfaces'),
			_('One row per WAN (1 to %d). Traffic uses the enabled, working WAN with the lowest metric. ' +
			  'Empty fields take the default shown in grey.').format(wans.max));
		s.addremove = true;
		s.anonymous = false;
		s.nodescriptions = true;
		s.addbtntitle = _('Add WAN');
		s.modaltitle = function(sid) { return _('Dual WAN') + ' » ' + sid; };

		/* New WANs: a valid name, at most 8, and a free metric and the usual targets to start with. */
		s.handleAdd = function(ev, name) {
			let ok = dwv.sectionName(name);

			if (ok === true && uci.get('dualwan', name) != null)
				ok = _('A section named %s exists already').format(name);
			if (ok === true && this.cfgsections().length >= wans.max)
				ok = _('dualwan handles at most %d WAN interfaces').format(wans.max);
			if (ok !== true) {
				ui.addNotification(null, E('p', {}, ok), 'warning');
				return Promise.resolve();
			}

			let metrics = uci.sections('dualwan', 'interface').map(function(x) { return x.metric; });
			let sid = this.map.data.add('dualwan', 'interface', name);

			this.map.data.set('dualwan', sid, 'enabled', '1');
			this.map.data.set('dualwan', sid, 'metric', String(dwv.nextMetric(metrics)));
			this.map.data.set('dualwan', sid, 'track_ip', dwv.DEFAULT_TARGETS.slice());

			let mapNode = this.getPreviousModalMap(),
			    prevMap = mapNode ? dom.findClassInstance(mapNode) : this.map;

			prevMap.addedSection = sid;

			return this.renderMoreOptionsModal(sid);
		};

		s.tab('general', _('General'));
		s.tab('probing', _('Probing'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'),
			_('Probe this WAN and use it for traffic.'));
		o.default = dwv.defaultOf('interface', 'enabled');
		o.rmempty = false;
		keepsDefault(o, 'interface');
		o.editable = true;

		o = s.taboption('general', widgets.DeviceSelect, 'device', _('Device'),
			_('The kernel device of this WAN, e.g. <code>eth1</code>, <code>wwan0</code> or <code>pppoe-wan</code>. Two enabled WANs cannot share one. Leave empty to follow a network interface instead.'));
		o.noaliases = true;
		o.optional = true;
		o.validate = function(sid, v) {
			let r = dwv.source(v, current(this.section, sid, 'network'));
			if (r !== true)
				return r;
			if (v == null || v === '')
				return true;
			r = dwv.device(v);
			return r !== true ? r : dwv.distinct(thisWan(this.section, sid, { device: v }), otherWans(sid), 'device');
		};
		/* One column for both ways to name the line: the device, or the network it follows. */
		o.textvalue = function(sid) {
			let dev = this.cfgvalue(sid), net = uci.get('dualwan', sid, 'network');
			if (dev)
				return '%h'.format(dev);
			return net ? E('span', { 'title': _('Network') }, [ _('network %s').format(net) ]) : greyed('–');
		};

		o = s.taboption('general', widgets.NetworkSelect, 'network', _('Network'),
			_('Instead of a device: the netifd interface (e.g. <code>wan</code>, <code>wwan</code>) whose current device, address and gateway dualwan follows, through DHCP renewals, PPPoE reconnects and modem re-plugs.'));
		o.nocreate = true;
		o.optional = true;
		o.modalonly = true;
		o.validate = function(sid, v) {
			let r = dwv.network(v);
			return r !== true ? r : dwv.source(current(this.section, sid, 'device'), v);
		};

		o = s.taboption('general', form.Value, 'gateway', _('Gateway'),
			_('<em>auto</em>: the default route via the device (from DHCP or PPP). Or a fixed IPv4 address.'));
		o.value('auto', _('auto (from DHCP/PPP)'));
		checked(o, 'interface');

		o = s.taboption('general', form.Value, 'gateway6', _('IPv6 gateway'),
			_('Used when the targets include IPv6 addresses. <em>auto</em>: the IPv6 default route via the device (from router advertisements, DHCPv6 or PPP). Or a fixed IPv6 address; routers usually give a link-local one such as <code>fe80::1</code>.'));
		o.value('auto', _('auto (from RA/DHCPv6/PPP)'));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('general', form.Value, 'metric', _('Metric'),
			_('Priority: the lowest metric among working WANs carries traffic (%d to %d). In failover mode enabled WANs need different metrics; in balance mode WANs of one metric share the traffic.')
				.format(opt('interface', 'metric').min, opt('interface', 'metric').max));
		o.placeholder = dwv.defaultOf('interface', 'metric');
		cell(o, 'interface');
		o.validate = function(sid, v) {
			let r = dwv.check('interface', 'metric', v);
			return r !== true ? r : dwv.distinct(thisWan(this.section, sid, { metric: v }), otherWans(sid), 'metric', mode());
		};

		o = s.taboption('general', form.Value, 'weight', _('Weight'),
			_('Balance mode: this WAN\'s share of new connections beside the others of its metric (%d to %d): weight 3 beside weight 1 gets three quarters.')
				.format(opt('interface', 'weight').min, opt('interface', 'weight').max));
		/* A column only where it matters: in balance mode. */
		o.modalonly = (mode() || dwv.defaultOf('globals', 'mode')) != 'balance';
		checked(o, 'interface');

		o = s.taboption('probing', form.DynamicList, 'track_ip', _('Targets'),
			_('%d to %d addresses of Internet hosts to probe through this WAN, IPv4 or IPv6 (host names are not resolved). Different operators\' hosts tell a dead line from one dead host. IPv6 targets turn on IPv6 failover for this WAN: each family is probed, and fails over, on its own; a WAN with only IPv6 targets carries no IPv4 traffic.')
				.format(opt('interface', 'track_ip').min, opt('interface', 'track_ip').max));
		o.placeholder = '1.1.1.1';
		o.rmempty = false;
		o.validate = function(sid, v) {
			/* The list as it stands, without the entry being checked. */
			let list = toList(this.formvalue(sid)).slice();
			let at = list.indexOf(v);
			if (at >= 0)
				list.splice(at, 1);
			return dwv.target(v, list);
		};
		o.textvalue = function(sid) {
			return '%h'.format(toList(this.cfgvalue(sid)).join(', ')) || greyed('–');
		};

		o = s.taboption('probing', form.ListValue, 'track_method', _('Probe with'),
			_('<em>ICMP</em>: echo requests (ping). <em>TCP</em>: a connection attempt to the targets\' port, for lines whose provider or firewall drops ping; a SYN-ACK or a reset is an answer, and each probe is a connection the target accepts and that is reset at once. The gateway is always pinged.'));
		choices(o, 'interface', [
			[ 'icmp', _('ICMP echo (ping)') ],
			[ 'tcp', _('TCP connect') ]
		]);
		o.modalonly = true;

		o = s.taboption('probing', form.Value, 'track_port', _('TCP port'),
			_('The targets\' port the TCP probes go to (%d to %d), e.g. 443 or 53 on public DNS resolvers.')
				.format(opt('interface', 'track_port').min, opt('interface', 'track_port').max));
		o.depends('track_method', 'tcp');
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Value, 'reliability', _('Reliability'),
			_('How many targets must answer for a probe round to count as good (1 to the number of targets). With IPv4 and IPv6 targets it applies to each family on its own, at most that family\'s number of targets: 2 with three IPv4 targets and one IPv6 target asks 2 IPv4 answers and the IPv6 one.'));
		o.placeholder = dwv.defaultOf('interface', 'reliability');
		o.modalonly = true;
		cell(o, 'interface');
		o.validate = function(sid, v) {
			let list = toList(current(this.section, sid, 'track_ip'));
			let t = dwv.targets(list);
			if (t !== true)
				return _('Targets: %s').format(t);
			return dwv.reliability(v, list.length);
		};

		o = s.taboption('probing', form.Flag, 'check_gateway', _('Check gateway'),
			_('Also ping the gateway, to tell a dead gateway from a dead upstream. A gateway that ignores ping never takes the WAN down.'));
		o.default = dwv.defaultOf('interface', 'check_gateway');
		o.rmempty = false;
		keepsDefault(o, 'interface');
		o.modalonly = true;

		let range = function(name) { let r = opt('interface', name); return [ String(r.min), String(r.max) ]; };

		o = s.taboption('probing', form.Value, 'interval', _('Interval (s)'),
			_('Seconds between two probes of a working WAN that carries traffic (each to the next target in turn; a standby WAN: every two intervals); a WAN that is down gets a round to every target every half interval: %s to %s, up to %d decimals.')
				.format(range('interval')[0], range('interval')[1], opt('interface', 'interval').decimals));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Value, 'timeout', _('Timeout (s)'),
			_('The most seconds a probe may take: %s to %s. Each target gets its own timeout from its measured RTT (smoothed RTT + 4 × variation, at least 0.05 s) up to this; a WAN that is down allows this much. Raise it on high-latency lines (satellite, busy LTE).')
				.format(range('timeout')[0], range('timeout')[1]));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Value, 'down', _('Down after'),
			_('When a probe goes unanswered, this many rounds to every target go out, half a timeout apart; the WAN counts as down when all of them fail (%s to %s). Detection takes about interval/2 + (down + 3)/2 adaptive timeouts: about 0.4 s on a steady line.')
				.format(range('down')[0], range('down')[1]));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Value, 'up', _('Up after'),
			_('Good rounds in a row, one per half interval, before a down WAN counts as up again (%s to %s).')
				.format(range('up')[0], range('up')[1]));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Value, 'recovery_wait', _('Recovery wait (s)'),
			_('Seconds a recovered, preferred WAN must stay up before traffic returns to it (%s to %s).')
				.format(range('recovery_wait')[0], range('recovery_wait')[1]));
		o.modalonly = true;
		checked(o, 'interface');

		o = s.taboption('probing', form.Flag, 'check_quality', _('Check quality'),
			_('Also take the WAN down when it answers but loses or delays too much, measured over each family\'s last sixteen probes to its targets; it comes back once better than the recovery thresholds for the up rounds (mwan3\'s options of the same names).'));
		o.default = dwv.defaultOf('interface', 'check_quality');
		o.rmempty = false;
		keepsDefault(o, 'interface');
		o.modalonly = true;

		/* A quality threshold: checked against its range, then against its partner. */
		let threshold = function(o, which, kind) {
			checked(o, 'interface');
			o.depends('check_quality', '1');
			o.modalonly = true;
			o.validate = function(sid, v) {
				let r = dwv.check('interface', o.option, v);
				if (r !== true)
					return r;
				let other = current(this.section, sid, (kind == 'failure' ? 'recovery_' : 'failure_') + which);
				return kind == 'failure' ? dwv.stricter(which, other, v) : dwv.stricter(which, v, other);
			};
		};

		o = s.taboption('probing', form.Value, 'failure_loss', _('Failure loss (%)'),
			_('Down when at least this share of the last sixteen probes is lost: %s to %s.')
				.format(range('failure_loss')[0], range('failure_loss')[1]));
		threshold(o, 'loss', 'failure');

		o = s.taboption('probing', form.Value, 'recovery_loss', _('Recovery loss (%)'),
			_('Back only at or below this share lost; below the failure loss: %s to %s.')
				.format(range('recovery_loss')[0], range('recovery_loss')[1]));
		threshold(o, 'loss', 'recovery');

		o = s.taboption('probing', form.Value, 'failure_latency', _('Failure latency (ms)'),
			_('Down when the answered ones among the last sixteen probes take this long on average: %s to %s.')
				.format(range('failure_latency')[0], range('failure_latency')[1]));
		threshold(o, 'latency', 'failure');

		o = s.taboption('probing', form.Value, 'recovery_latency', _('Recovery latency (ms)'),
			_('Back only at or below this average; below the failure latency: %s to %s.')
				.format(range('recovery_latency')[0], range('recovery_latency')[1]));
		threshold(o, 'latency', 'recovery');

		o = s.taboption('probing', form.ListValue, 'flush_conntrack', _('Flush connections'),
			_('When traffic leaves this WAN, remove the conntrack entries NAT\'d to its address, so that those connections fail fast instead of hanging: <em>on_down</em> when it went down, <em>on_switch</em> also on failback, <em>none</em> never.'));
		choices(o, 'interface', [
			[ 'on_down', _('When the WAN went down') ],
			[ 'on_switch', _('Whenever traffic leaves it') ],
			[ 'none', _('Never') ]
		]);
		o.modalonly = true;

		let rules = dwv.section('rule');

		s = m.section(form.GridSection, 'rule', _('Rules'),
			_('Traffic picked by address, protocol, port or incoming device goes by the WANs a rule names, in order of preference, or balanced. Up to %d rules, applied in this order before the rest of the traffic; kernel routing rules only, no firewall marks.').format(rules.max));
		s.addremove = true;
		s.anonymous = false;
		s.sortable = true;
		s.nodescriptions = true;
		s.addbtntitle = _('Add rule');
		s.modaltitle = function(sid) { return _('Dual WAN') + ' » ' + _('Rule') + ' ' + sid; };

		s.handleAdd = function(ev, name) {
			let ok = dwv.sectionName(name);

			if (ok === true && uci.get('dualwan', name) != null)
				ok = _('A section named %s exists already').format(name);
			if (ok === true && this.cfgsections().length >= rules.max)
				ok = _('dualwan handles at most %d rules').format(rules.max);
			if (ok !== true) {
				ui.addNotification(null, E('p', {}, ok), 'warning');
				return Promise.resolve();
			}

			let sid = this.map.data.add('dualwan', 'rule', name);
			let mapNode = this.getPreviousModalMap(),
			    prevMap = mapNode ? dom.findClassInstance(mapNode) : this.map;

			prevMap.addedSection = sid;
			return this.renderMoreOptionsModal(sid);
		};

		o = s.option(form.Value, 'src_ip', _('Source'),
			_('Source address or prefix, IPv4 or IPv6 (e.g. a LAN host 192.168.1.20 or 192.168.1.0/24). Empty: any.'));
		cell(o, 'rule', _('any'));
		o.validate = function(sid, v) {
			let r = dwv.check('rule', 'src_ip', v);
			return r !== true ? r : dwv.ruleFamily(v, current(this.section, sid, 'dest_ip'), null, 'src_ip');
		};

		o = s.option(form.Value, 'dest_ip', _('Destination'),
			_('Destination address or prefix. Empty: any.'));
		cell(o, 'rule', _('any'));
		o.validate = function(sid, v) {
			let r = dwv.check('rule', 'dest_ip', v);
			return r !== true ? r : dwv.ruleFamily(current(this.section, sid, 'src_ip'), v, null, 'dest_ip');
		};

		o = s.option(form.ListValue, 'proto', _('Protocol'),
			_('Ports can only be given with TCP or UDP. ICMP means ICMPv6 for IPv6.'));
		choices(o, 'rule', [
			[ 'all', _('Any') ],
			[ 'tcp', 'TCP' ],
			[ 'udp', 'UDP' ],
			[ 'icmp', 'ICMP' ]
		]);

		o = s.option(form.Value, 'src_port', _('Source ports'),
			_('A port, a range a-b, or a comma list (at most %d entries); each entry is a kernel rule of its own.').format(opt('rule', 'src_port').max));
		o.modalonly = true;
		o.validate = function(sid, v) { return dwv.rulePorts(v, current(this.section, sid, 'proto')); };

		o = s.option(form.Value, 'dest_port', _('Destination ports'),
			_('A port, a range a-b, or a comma list, e.g. 5060 or 80,443 (at most %d entries).').format(opt('rule', 'dest_port').max));
		o.validate = function(sid, v) { return dwv.rulePorts(v, current(this.section, sid, 'proto')); };
		cell(o, 'rule', _('any'));

		o = s.option(widgets.DeviceSelect, 'src_iface', _('Incoming device'),
			_('Only traffic arriving on this device, e.g. the guest network\'s bridge <code>br-guest</code>, or a network interface such as <code>guest</code> (dualwan asks netifd for its device). Empty: any.'));
		o.noaliases = true;
		o.optional = true;
		o.modalonly = true;
		o.validate = function(sid, v) { return dwv.check('rule', 'src_iface', v); };

		o = s.option(form.ListValue, 'family', _('Family'),
			_('Decided by the addresses when there are any; without them, a rule for IPv4 and one for IPv6 (each while dualwan routes that family).'));
		o.value('', _('From the addresses'));
		choices(o, 'rule', [
			[ 'ipv4', 'IPv4' ],
			[ 'ipv6', 'IPv6' ],
			[ 'any', _('Both') ]
		]);
		o.default = '';
		o.modalonly = true;
		o.validate = function(sid, v) {
			return dwv.ruleFamily(current(this.section, sid, 'src_ip'), current(this.section, sid, 'dest_ip'), v, 'family');
		};

		o = s.option(form.DynamicList, 'use', _('Use'),
			_('The WANs for this traffic, in order of preference: the first that is up carries it. <em>balance</em> alone: all WANs by weight and metric, as balance mode; with names: those share it by weight. Empty: as all other traffic.'));
		uci.sections('dualwan', 'interface').forEach(function(x) { o.value(x['.name']); });
		opt('rule', 'use').words.forEach(function(w) { o.value(w, _('balance (by weight)')); });
		o.validate = function(sid, v) {
			let list = toList(this.formvalue(sid)).slice();
			let at = list.indexOf(v);
			let before = at >= 0 ? list.slice(0, at) : list;
			let wans = uci.sections('dualwan', 'interface').map(function(x) { return x['.name']; });
			return dwv.ruleUse(v, wans, before);
		};
		o.textvalue = function(sid) {
			return '%h'.format(toList(this.cfgvalue(sid)).join(', ')) || greyed(_('as all traffic'));
		};

		o = s.option(form.ListValue, 'last_resort', _('When none is up'),
			_('While none of its WANs is up: <em>main</em> lets the main routing table decide; <em>unreachable</em> rejects the traffic; <em>blackhole</em> drops it silently.'));
		choices(o, 'rule', [
			[ 'main', _('Main routing table') ],
			[ 'unreachable', _('Reject (unreachable)') ],
			[ 'blackhole', _('Drop (blackhole)') ]
		]);
		o.modalonly = true;

		return m.render();
	}
});
