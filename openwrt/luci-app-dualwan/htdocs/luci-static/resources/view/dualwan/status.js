'use strict';
'require view';
'require rpc';
'require poll';
'require dom';
'require dualwan.format as fmt';

/*
 * Status → Dual WAN: one card per WAN (priority order), the rules and who carries
 * each, the recent transitions, and an RTT sparkline per WAN from successive polls. The
 * page logic lives in dualwan/format.js; this file only builds elements from its models.
 * In balance mode a card says the WAN's share of new connections and its weight.
 *
 * A WAN with IPv6 targets (its model has `v6`) gets a card with the two families side
 * by side; any other WAN gets the card it always had.
 */

const POLL_SECONDS = 3;
const SVG_NS = 'http://www.w3.org/2000/svg';
const SPARK_W = 240, SPARK_H = 44;

const callStatus = rpc.declare({
	object: 'dualwan',
	method: 'status',
	params: [ 'interface' ],
	expect: { '': {} }
});

document.querySelector('head').appendChild(E('link', {
	'rel': 'stylesheet',
	'type': 'text/css',
	'href': L.resource('dualwan/dualwan.css')
}));

/* The reply, or the error, of one status call: never rejects. */
function fetchStatus() {
	return callStatus().then(function(reply) {
		return { reply: reply };
	}, function(err) {
		return { error: err };
	});
}

function svg(tag, attrs) {
	let el = document.createElementNS(SVG_NS, tag);
	for (let k in attrs)
		el.setAttribute(k, attrs[k]);
	return el;
}

function badge(tone, text, cls) {
	return E('span', { 'class': 'dw-badge dw-tone-' + tone + (cls ? ' ' + cls : '') }, text);
}

/*
 * An address as a flat list of children that may break after its colons (IPv6
 * literals are long); anything without a colon is a one-item list.
 */
function ipText(ip) {
	return String(ip).split(':').reduce(function(out, p, i) {
		return i ? out.concat([ ':', E('wbr'), p ]) : [ p ];
	}, []);
}

/* A badge for one family's state: "IPv6 Offline". */
function familyBadge(name, side, cls) {
	let b = badge(side.tone, [ E('span', { 'class': 'dw-badge-family' }, name), ' ', side.label ], cls);
	b.setAttribute('title', side.hint);
	return b;
}

/* A quality model (format.quality) as a fact's value: coloured, its thresholds on hover. */
function qualityText(q) {
	return q ? E('span', { 'class': 'dw-text-' + q.tone, 'title': q.hint }, q.text) : '–';
}

function fact(label, value, cls) {
	return E('div', { 'class': 'dw-fact' + (cls ? ' ' + cls : '') }, [
		E('span', { 'class': 'dw-fact-label' }, label),
		E('span', { 'class': 'dw-fact-value' }, value)
	]);
}

return view.extend({
	/* RTT samples per WAN, one per poll (see fmt.addSamples). */
	series: null,
	container: null,

	load: function() {
		this.series = {};
		return fetchStatus();
	},

	renderSparkline: function(name) {
		let samples = this.series[name] || [];
		let s = fmt.sparkline(samples, SPARK_W, SPARK_H);
		let box = svg('svg', {
			'class': 'dw-spark-svg',
			'viewBox': '0 0 %d %d'.format(SPARK_W, SPARK_H),
			'width': SPARK_W, 'height': SPARK_H,
			'role': 'img',
			'aria-label': _('Round-trip time of the last %d polls').format(samples.length)
		});

		box.appendChild(svg('line', { 'class': 'dw-spark-axis', 'x1': 2, 'x2': SPARK_W - 2,
			'y1': SPARK_H - 2, 'y2': SPARK_H - 2 }));
		if (s.path)
			box.appendChild(svg('path', { 'class': 'dw-spark-line', 'd': s.path }));
		if (s.end)
			box.appendChild(svg('circle', { 'class': 'dw-spark-dot', 'cx': s.end[0].toFixed(1),
				'cy': s.end[1].toFixed(1), 'r': 2.5 }));

		return E('div', { 'class': 'dw-spark' }, [
			box,
			E('div', { 'class': 'dw-spark-legend' }, [
				E('span', {}, _('RTT now %s').format(s.last)),
				E('span', { 'class': 'dw-muted' }, s.count
					? _('scale 0–%s').format(fmt.ms(s.max))
					: (samples.length > 1 ? _('no answers') : _('collecting samples…')))
			])
		]);
	},

	renderTargets: function(w) {
		let dual = !!w.v6;

		if (!w.targets.length)
			return E('p', { 'class': 'dw-muted' }, _('No targets configured.'));

		/* One flat list of rows: LuCI's dom.append does not flatten nested arrays. */
		return E('table', { 'class': 'table dw-targets' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Target')),
				E('th', { 'class': 'th' }, _('State')),
				E('th', { 'class': 'th dw-num' }, _('RTT')),
				E('th', { 'class': 'th dw-num' }, _('Jitter')),
				E('th', { 'class': 'th dw-num' }, _('Loss')),
				E('th', { 'class': 'th dw-num' }, _('Last'))
			])
		].concat(w.targets.map(function(t) {
			/* Pings need no word; a target probed with TCP says so, with its port. */
			let how = t.kind == 'gateway' ? t.kindLabel : (t.method == 'tcp' ? t.methodLabel : '');

			return E('tr', { 'class': 'tr dw-target', 'data-ip': t.ip, 'data-kind': t.kind,
			                 'data-family': dual ? t.family : null, 'data-method': t.method }, [
				E('td', { 'class': 'td dw-ip' + (t.family == 'ipv6' ? ' dw-ip6' : '') }, ipText(t.ip).concat([
					' ',
					how ? E('span', { 'class': 'dw-muted' + (t.kind == 'gateway' ? '' : ' dw-method') }, '(' + how + ')') : ''
				])),
				E('td', { 'class': 'td' }, [
					E('span', { 'class': 'dw-dot dw-tone-' + t.tone }), ' ', t.state
				]),
				E('td', { 'class': 'td dw-num dw-rtt' }, t.rtt),
				E('td', { 'class': 'td dw-num dw-jitter' }, t.jitter),
				E('td', { 'class': 'td dw-num dw-loss dw-text-' + t.lossTone }, t.loss),
				E('td', { 'class': 'td dw-num dw-last' }, t.last)
			]);
		})));
	},

	/* The facts of a dual-stack WAN: a column per family, the metric across both. */
	renderFacts6: function(w) {
		let v4 = w.v4, v6 = w.v6;
		let row = function(label, a, b, cls) {
			return E('div', { 'class': 'dw-fact ' + cls }, [
				E('span', { 'class': 'dw-fact-label' }, label),
				E('span', { 'class': 'dw-fact-value' }, a),
				E('span', { 'class': 'dw-fact-value6' }, b)
			]);
		};

		return E('div', { 'class': 'dw-facts dw-facts6' }, [
			row('', 'IPv4', 'IPv6', 'dw-fact-head'),
			row(_('In state for'), v4.since || v4.label, v6.since || v6.label, 'dw-since'),
			row(_('Last reason'), v4.reason || '–', v6.reason || '–', 'dw-reason'),
			row(_('Address'), ipText(v4.address), ipText(v6.address), 'dw-address'),
			row(_('Gateway'), ipText(v4.gateway), ipText(v6.gateway), 'dw-gateway'),
			row(_('Probes'), v4.answered, v6.answered, 'dw-answered'),
			(v4.quality || v6.quality) ? row(_('Quality'), qualityText(v4.quality), qualityText(v6.quality), 'dw-quality') : '',
			E('div', { 'class': 'dw-fact dw-metric' }, [
				E('span', { 'class': 'dw-fact-label' }, _('Metric')),
				E('span', { 'class': 'dw-fact-value dw-fact-both' }, String(w.metric))
			])
		]);
	},

	renderCard: function(w) {
		let dual = !!w.v6;
		let carrying = '';

		if (w.share != null && (w.active || (dual && w.v6.active)))
			carrying = badge('active', '⇄ ' + (dual && w.share6 != null && w.share6 != w.share
				? _('%d %% of IPv4, %d %% of IPv6').format(w.share, w.share6)
				: _('%d %% of new connections').format(w.active ? w.share : w.share6)),
				(w.active ? 'dw-carrying' : '') + (dual && w.v6.active ? ' dw-carrying6' : ''));
		else if (dual && (w.v4.active || w.v6.active))
			carrying = badge('active', '⇄ ' + (w.v4.active && w.v6.active ? _('Carrying IPv4 and IPv6')
				: (w.v4.active ? _('Carrying IPv4') : _('Carrying IPv6'))),
				(w.v4.active ? 'dw-carrying' : '') + (w.v6.active ? ' dw-carrying6' : ''));
		else if (w.active)
			carrying = badge('active', '⇄ ' + _('Carrying traffic'), 'dw-carrying');

		return E('div', {
			'class': 'dw-card dw-tone-' + w.tone + (w.active || (dual && w.v6.active) ? ' dw-active' : '') +
				(dual ? ' dw-card6' : ''),
			'data-wan': w.name,
			'data-status': w.status,
			'data-status6': dual ? w.v6.status : null
		}, [
			E('div', { 'class': 'dw-card-head' }, [
				E('div', { 'class': 'dw-title' }, [
					E('span', { 'class': 'dw-name' }, w.name),
					E('span', { 'class': 'dw-device' }, w.device)
				]),
				E('div', { 'class': 'dw-badges' }, dual ? [
					carrying,
					familyBadge('IPv4', w.v4, 'dw-state'),
					familyBadge('IPv6', w.v6, 'dw-state6')
				] : [
					carrying,
					badge(w.tone, w.label, 'dw-state')
				])
			]),
			E('div', { 'class': 'dw-card-body' }, [
				dual ? this.renderFacts6(w) : E('div', { 'class': 'dw-facts' }, [
					fact(w.since ? _('%s for').format(w.label) : _('State'),
						w.since || w.label, 'dw-since'),
					fact(_('Last reason'), w.reason || '–', 'dw-reason'),
					fact(_('Address'), w.address, 'dw-address'),
					fact(_('Gateway'), w.gateway, 'dw-gateway'),
					fact(_('Metric'), String(w.metric), 'dw-metric'),
					w.weight != null ? fact(_('Weight'), String(w.weight), 'dw-weight') : '',
					fact(_('Probes'), w.answered, 'dw-answered'),
					w.quality ? fact(_('Quality'), qualityText(w.quality), 'dw-quality') : ''
				]),
				w.enabled ? this.renderSparkline(w.name) : ''
			]),
			this.renderTargets(w),
			E('div', { 'class': 'dw-card-foot dw-muted' }, dual
				? _('%s (IPv4) and %s (IPv6) since the daemon started.').format(w.v4.transitions, w.v6.transitions)
				: [ w.hint, ' ', w.transitions, ' ', _('since the daemon started.') ])
		]);
	},

	/* The rules, in file order: who carries each one's traffic now. */
	renderRules: function(m) {
		let v6 = m.rules.some(function(r) { return r.via6 != null; });

		return E('table', { 'class': 'table dw-rules' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Rule')),
				E('th', { 'class': 'th dw-num' }, _('Priority')),
				E('th', { 'class': 'th' }, v6 ? _('IPv4 via') : _('Via')),
				v6 ? E('th', { 'class': 'th' }, _('IPv6 via')) : ''
			])
		].concat(m.rules.map(function(r) {
			return E('tr', { 'class': 'tr dw-rule' + (r.resort ? ' dw-rule-resort' : ''), 'data-rule': r.name }, [
				E('td', { 'class': 'td dw-rule-name' }, r.name),
				E('td', { 'class': 'td dw-num' }, String(r.priority)),
				E('td', { 'class': 'td dw-rule-via' }, r.via != null ? r.via : '–'),
				v6 ? E('td', { 'class': 'td dw-rule-via6' }, r.via6 != null ? r.via6 : '–') : ''
			]);
		})));
	},

	renderHistory: function(m) {
		if (!m.history.length)
			return E('p', { 'class': 'dw-muted' }, _('No transitions yet.'));

		let fams = m.history.some(function(e) { return e.fam; });

		return E('ol', { 'class': 'dw-timeline' + (fams ? ' dw-timeline6' : '') }, m.history.map(function(e) {
			return E('li', { 'class': 'dw-event dw-tone-' + e.tone, 'data-iface': e.iface,
			                 'data-family': e.family || null }, [
				E('span', { 'class': 'dw-event-age' }, e.age),
				E('span', { 'class': 'dw-event-text' }, [
					E('strong', {}, e.iface),
					e.fam ? ' ' : '',
					e.fam ? E('span', { 'class': 'dw-event-family' }, e.fam) : '',
					': ', e.from, ' → ',
					E('span', { 'class': 'dw-text-' + e.tone }, e.to)
				]),
				E('span', { 'class': 'dw-event-reason' }, e.reason)
			]);
		}));
	},

	renderError: function(m) {
		return E('div', { 'class': 'dw-down-banner', 'data-kind': m.kind }, [
			E('h3', {}, m.title),
			E('p', {}, m.detail),
			m.command ? E('pre', { 'class': 'dw-command' }, m.command) : '',
			m.more ? E('p', { 'class': 'dw-muted' }, m.more) : ''
		]);
	},

	renderModel: function(m) {
		if (!m.ok)
			return this.renderError(m);

		return E('div', { 'class': 'dw-status' }, [
			E('div', { 'class': 'dw-headline dw-tone-' + m.headline.tone }, [
				E('div', { 'class': 'dw-headline-text' }, m.headline.text),
				m.headline.detail ? E('div', { 'class': 'dw-headline-detail' }, m.headline.detail) : '',
				E('div', { 'class': 'dw-headline-meta' },
					_('dualwan %s, running for %s, mode %s').format(m.version, m.uptime, m.mode))
			]),
			E('div', { 'class': 'dw-cards' }, m.wans.map(this.renderCard, this)),
			m.rules.length ? E('h3', {}, _('Rules')) : '',
			m.rules.length ? this.renderRules(m) : '',
			E('h3', {}, _('Recent transitions')),
			this.renderHistory(m)
		]);
	},

	/* One poll's result -> the page content. */
	update: function(res) {
		let m;

		if (res.error) {
			m = fmt.errorModel(res.error);
		}
		else {
			fmt.addSamples(this.series, res.reply);
			m = fmt.model(res.reply);
		}

		dom.content(this.container, this.renderModel(m));
	},

	render: function(res) {
		this.container = E('div', { 'class': 'cbi-section', 'id': 'dualwan-status' });
		this.update(res);

		let node = E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('Dual WAN')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Which line carries traffic, why the last switch happened, and how each line is doing. Updated every %d seconds.').format(POLL_SECONDS)),
			this.container
		]);

		poll.add(L.bind(function() {
			return fetchStatus().then(L.bind(this.update, this));
		}, this), POLL_SECONDS);

		return node;
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
