'use strict';
'require view';
'require rpc';
'require poll';
'require dom';
'require dualwan.format as fmt';

/*
 * Status → Dual WAN: one card per WAN (priority order) with a "Test now" button
 * (`dualwan probe`), a chart of each WAN's RTT and loss over the last minutes of polls
 * (kept here, client-side), the rules and who carries each, the recent transitions, and
 * a link to the system log. The page logic lives in dualwan/format.js; this file only
 * builds elements from its models. In balance mode a card says the WAN's share of new
 * connections and its weight.
 *
 * A WAN with IPv6 targets (its model has `v6`) gets a card with the two families side
 * by side; any other WAN gets the card it always had.
 */

const POLL_SECONDS = 3;
const SVG_NS = 'http://www.w3.org/2000/svg';

const callStatus = rpc.declare({
	object: 'dualwan',
	method: 'status',
	params: [ 'interface' ],
	expect: { '': {} }
});

/* One immediate round on a WAN; reject: a ubus error status says what went wrong. */
const callProbe = rpc.declare({
	object: 'dualwan',
	method: 'probe',
	params: [ 'interface' ],
	reject: true
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

/* An address and how it is probed ("(gateway)", "(TCP 443)"): the note may wrap, the address not. */
function targetLabel(ip, note, noteCls) {
	return [
		E('span', { 'class': 'dw-addr' }, ipText(ip)),
		' ',
		note ? E('span', { 'class': 'dw-muted' + (noteCls ? ' ' + noteCls : '') }, '(' + note + ')') : ''
	];
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
	/* RTT and loss of each WAN, one sample per poll (see fmt.addSamples). */
	history: null,
	/* Per WAN: a probe running, or the last probe's result (see fmt.probe). */
	probes: null,
	container: null,

	load: function() {
		this.history = { samples: [] };
		this.probes = {};
		return fetchStatus();
	},

	/* One plot of the chart: a line per WAN over a stretched box, its y labels beside it. */
	renderPlot: function(c, key, ticks, title) {
		let box = svg('svg', {
			'class': 'dw-chart-svg',
			'viewBox': '0 0 %d 100'.format(fmt.CHART_W),
			'preserveAspectRatio': 'none',
			'role': 'img',
			'aria-label': title
		});

		ticks.forEach(function(t) {
			box.appendChild(svg('line', { 'class': 'dw-chart-grid', 'x1': 0, 'x2': fmt.CHART_W,
				'y1': t.at, 'y2': t.at, 'vector-effect': 'non-scaling-stroke' }));
		});
		c.wans.forEach(function(w) {
			let line = w[key];
			if (line.path)
				box.appendChild(svg('path', { 'class': 'dw-chart-line dw-series-' + w.colour,
					'data-wan': w.name, 'data-points': line.points, 'd': line.path,
					'vector-effect': 'non-scaling-stroke' }));
			/* The newest point as a dot: a zero-length stroke with round caps. */
			if (line.end)
				box.appendChild(svg('path', { 'class': 'dw-chart-end dw-series-' + w.colour,
					'd': 'M%s %sh0'.format(line.end[0].toFixed(1), line.end[1].toFixed(1)),
					'vector-effect': 'non-scaling-stroke' }));
		});

		return E('div', { 'class': 'dw-chart-row dw-chart-' + key }, [
			E('div', { 'class': 'dw-chart-y' }, ticks.map(function(t) {
				return E('span', { 'class': 'dw-chart-ylabel', 'style': 'top:%s%%'.format(t.at) }, t.label);
			})),
			E('div', { 'class': 'dw-chart-plot' }, [ box ])
		]);
	},

	/* The RTT and loss of every enabled WAN over the last minutes of polls. */
	renderChart: function(m) {
		let names = m.wans.filter(function(w) { return w.enabled; }).map(function(w) { return w.name; });

		if (!names.length)
			return '';

		let c = fmt.chart(this.history, names);

		return E('div', { 'class': 'dw-chart', 'data-samples': c.samples }, [
			E('div', { 'class': 'dw-chart-title' }, _('Round-trip time (ms)')),
			this.renderPlot(c, 'rtt', c.rttTicks, _('Round-trip time of each WAN, last %d minutes').format(c.seconds / 60)),
			E('div', { 'class': 'dw-chart-title' }, _('Loss (%)')),
			this.renderPlot(c, 'loss', c.lossTicks, _('Loss of each WAN, last %d minutes').format(c.seconds / 60)),
			E('div', { 'class': 'dw-chart-row' }, [
				E('div', { 'class': 'dw-chart-y' }),
				E('div', { 'class': 'dw-chart-x' }, c.xTicks.map(function(t) {
					return E('span', { 'class': 'dw-chart-xlabel', 'style': 'left:%s%%'.format(t.at) }, t.label);
				}))
			]),
			E('div', { 'class': 'dw-chart-caption dw-muted' }, c.samples > 1
				? _('Time: the last %d minutes of polls (every %d s) while this page is open.').format(c.seconds / 60, POLL_SECONDS)
				: _('Time: the last %d minutes of polls; the lines grow while this page is open (a poll every %d s).').format(c.seconds / 60, POLL_SECONDS)),
			E('ul', { 'class': 'dw-chart-legend' }, c.wans.map(function(w) {
				return E('li', { 'class': 'dw-chart-key', 'data-wan': w.name }, [
					E('span', { 'class': 'dw-swatch dw-series-' + w.colour }),
					E('strong', {}, w.name), ' ',
					E('span', { 'class': 'dw-muted' }, _('now %s, %s lost').format(w.rttNow, w.lossNow))
				]);
			}))
		]);
	},

	/* What the last "Test now" of a WAN said, from this.probes[name]. */
	renderProbeResult: function(name) {
		let st = this.probes[name];

		if (!st)
			return '';
		if (st.running)
			return E('p', { 'class': 'dw-probe-state dw-muted' }, _('Probing every target and the gateway…'));

		let r = st.result;

		if (!r.ok)
			return E('p', { 'class': 'dw-probe-state dw-probe-error dw-text-bad' }, r.error);

		return E('div', {}, [
			E('p', { 'class': 'dw-probe-state dw-text-' + r.tone }, _('Test now: %s').format(r.summary)),
			E('ul', { 'class': 'dw-probe-list' }, r.rows.map(function(p) {
				return E('li', { 'class': 'dw-probe-row', 'data-ip': p.ip, 'data-kind': p.kind,
				                 'data-answered': p.answered ? 'true' : 'false' }, [
					E('span', { 'class': 'dw-ip' + (p.ip.indexOf(':') >= 0 ? ' dw-ip6' : '') }, targetLabel(p.ip, p.how)),
					' ',
					E('span', { 'class': 'dw-probe-answer dw-text-' + p.tone }, [
						E('span', { 'class': 'dw-dot dw-tone-' + p.tone }), ' ', p.text
					])
				]);
			}))
		]);
	},

	/* The "Test now" button of a WAN and its last result; redrawn in place as a probe runs. */
	renderProbe: function(w) {
		let st = this.probes[w.name];

		return E('div', { 'class': 'dw-probe', 'data-wan': w.name }, [
			E('button', {
				'class': 'cbi-button cbi-button-action dw-probe-button',
				'disabled': (st && st.running) ? 'disabled' : null,
				'title': _('Probe every target and the gateway of %s once, now').format(w.name),
				'click': L.bind(this.handleProbe, this, w.name)
			}, _('Test now')),
			E('div', { 'class': 'dw-probe-result' }, [ this.renderProbeResult(w.name) ])
		]);
	},

	refreshProbe: function(name, w) {
		let old = this.container.querySelector('.dw-probe[data-wan="%s"]'.format(name));

		if (old)
			old.parentNode.replaceChild(this.renderProbe(w), old);
	},

	handleProbe: function(name) {
		let w = { name: name };

		if (this.probes[name] && this.probes[name].running)
			return;

		this.probes[name] = { running: true };
		this.refreshProbe(name, w);

		return callProbe(name).then(function(reply) {
			return fmt.probe(reply, null);
		}, function(err) {
			return fmt.probe(null, err);
		}).then(L.bind(function(result) {
			this.probes[name] = { running: false, result: result };
			this.refreshProbe(name, w);
		}, this));
	},

	renderTargets: function(w) {
		let dual = !!w.v6;

		if (!w.targets.length)
			return E('p', { 'class': 'dw-muted' }, _('No targets configured.'));

		/*
		 * One flat list of rows: LuCI's dom.append does not flatten nested arrays. Each
		 * cell names its column (data-title): a narrow card shows a row as two lines.
		 */
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
				E('td', { 'class': 'td dw-ip' + (t.family == 'ipv6' ? ' dw-ip6' : ''), 'data-title': _('Target') },
					targetLabel(t.ip, how, t.kind == 'gateway' ? '' : 'dw-method')),
				E('td', { 'class': 'td dw-tstate', 'data-title': _('State') }, [
					E('span', { 'class': 'dw-dot dw-tone-' + t.tone }), ' ', t.state
				]),
				E('td', { 'class': 'td dw-num dw-rtt', 'data-title': _('RTT') }, t.rtt),
				E('td', { 'class': 'td dw-num dw-jitter', 'data-title': _('Jitter') }, t.jitter),
				E('td', { 'class': 'td dw-num dw-loss', 'data-title': _('Loss') }, [
					E('span', { 'class': 'dw-text-' + t.lossTone }, t.loss)
				]),
				E('td', { 'class': 'td dw-num dw-last', 'data-title': _('Last') }, t.last)
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
				])
			]),
			this.renderTargets(w),
			w.enabled ? this.renderProbe(w) : '',
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

	/*
	 * The daemon's log lives in the system log. LuCI's log page takes no filter from
	 * its address; newer versions have a text filter on the page ("including:").
	 */
	renderLogLink: function() {
		return E('p', { 'class': 'dw-log' }, [
			_('Its log:') + ' ',
			E('a', { 'class': 'dw-log-link', 'href': L.url('admin/status/logs') }, _('System log')),
			' ', E('span', { 'class': 'dw-muted' }, _('(filter it for "dualwan"), or on the router:')), ' ',
			E('code', { 'class': 'dw-log-command' }, 'logread -e dualwan')
		]);
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
			E('h3', {}, _('Round-trip time and loss')),
			this.renderChart(m),
			m.rules.length ? E('h3', {}, _('Rules')) : '',
			m.rules.length ? this.renderRules(m) : '',
			E('h3', {}, _('Recent transitions')),
			this.renderHistory(m),
			this.renderLogLink()
		]);
	},

	/* One poll's result -> the page content. */
	update: function(res) {
		let m;

		if (res.error) {
			m = fmt.errorModel(res.error);
		}
		else {
			fmt.addSamples(this.history, res.reply, Date.now() / 1000);
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
