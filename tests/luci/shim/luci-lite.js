/*
 * A stand-in for the few parts of LuCI's runtime that luci-app-dualwan uses, so the
 * tests can load the app's real files where LuCI itself is not available:
 *
 *   - the module loader: `'require NAME [as ALIAS]';` headers, the body compiled as a
 *     function whose return value (a class) is instantiated once, as luci.js does;
 *   - baseclass.extend, view.extend (load() then render() into #view), rpc.declare
 *     (the reply/expect/reject rules of LuCI's rpc.js, over a test-supplied transport),
 *     poll.add (ticks driven by the test), dom.content;
 *   - the globals E(), _(), N_(), L.resource/L.url/L.bind and String.prototype.format
 *     (%s, %d, %f with precision, %%).
 *
 * It is test tooling written for this project, not LuCI code, and is never shipped.
 * Works in a browser (window.LuciLite) and in Node (module.exports).
 */
(function(root) {
	'use strict';

	function format() {
		let args = arguments, i = 0;
		return String(this).replace(/%(\.\d+)?([sdf%])/g, function(m, prec, type) {
			if (type == '%')
				return '%';
			let v = args[i++];
			if (type == 'd')
				return Math.floor(+v || 0).toFixed(0);
			if (type == 'f')
				return prec ? (+v || 0).toFixed(+prec.substr(1)) : String(+v || 0);
			return v == null ? '' : String(v);
		});
	}

	if (!String.prototype.format)
		Object.defineProperty(String.prototype, 'format', { value: format, writable: true, configurable: true });

	function translate(s) { return s; }
	function translatePlural(n, one, many) { return n == 1 ? one : many; }

	/*
	 * Children as LuCI's dom.append adds them: an array one level deep, its nodes as
	 * they are and anything else as text (null too, and a nested array as its string:
	 * LuCI does not flatten); a single node; a function's result; or any other single
	 * value as innerHTML. Following it exactly lets the page test catch markup that
	 * only LuCI would break.
	 */
	function appendLikeLuci(doc, el, c) {
		if (Array.isArray(c)) {
			c.forEach(function(x) {
				el.appendChild((x != null && typeof(x) == 'object' && x.nodeType) ? x : doc.createTextNode(String(x)));
			});
		}
		else if (typeof(c) == 'function') {
			appendLikeLuci(doc, el, c(el));
		}
		else if (c != null && typeof(c) == 'object' && c.nodeType) {
			el.appendChild(c);
		}
		else if (c != null) {
			el.innerHTML = String(c);
		}
	}

	/* E(tag, [attrs], [children]) as LuCI's dom.create: functions in attrs are listeners. */
	function makeE(doc) {
		function append(el, c) {
			appendLikeLuci(doc, el, c);
		}

		return function E(tag, attrs, children) {
			let el = doc.createElement(tag);

			if (attrs != null && (typeof(attrs) != 'object' || Array.isArray(attrs) || attrs.nodeType)) {
				children = attrs;
				attrs = null;
			}

			for (let k in (attrs || {})) {
				let v = attrs[k];
				if (v == null)
					continue;
				if (typeof(v) == 'function')
					el.addEventListener(k, v);
				else if (typeof(v) == 'object')
					el.setAttribute(k, JSON.stringify(v));
				else
					el.setAttribute(k, v);
			}

			append(el, children);
			return el;
		};
	}

	/* Class system: extend(props) gives a constructor calling __init__, with .extend again. */
	function extend(Base, props) {
		function Class() {
			if (typeof(this.__init__) == 'function')
				this.__init__.apply(this, arguments);
		}
		Class.prototype = Object.create(Base.prototype);
		Object.keys(props || {}).forEach(function(k) { Class.prototype[k] = props[k]; });
		Class.prototype.constructor = Class;
		Class.extend = function(p) { return extend(Class, p); };
		Class.prototype.super = function(name, args) {
			return Base.prototype[name].apply(this, args || []);
		};
		return Class;
	}

	function BaseClass() {}
	BaseClass.extend = function(p) { return extend(BaseClass, p); };

	/*
	 * opts.load(path) -> Promise<source text> for '/luci-static/resources/<path>'
	 * opts.transport(object, method, params) -> Promise<JSON-RPC response frame>
	 * opts.document: a DOM document (browser only)
	 */
	function createRuntime(opts) {
		let doc = opts.document || null;
		let E = doc ? makeE(doc) : function() { throw new Error('no DOM in this runtime'); };
		let pollFns = [];
		let cache = {};
		let seq = 1;

		let L = {
			env: {},
			resource: function(path) { return '/luci-static/resources/' + path; },
			/* A LuCI page's address, as luci.js builds it: scriptname + '/' + path parts. */
			url: function() {
				let parts = Array.prototype.slice.call(arguments).join('/').split('/').filter(function(p) { return p; });
				return '/cgi-bin/luci' + (parts.length ? '/' + parts.join('/') : '');
			},
			bind: function(fn, self) {
				let pre = Array.prototype.slice.call(arguments, 2);
				return function() { return fn.apply(self, pre.concat(Array.prototype.slice.call(arguments))); };
			},
			resolveDefault: function(p, d) { return Promise.resolve(p).catch(function() { return d; }); },
			require: requireModule
		};

		let dom = {
			content: function(node, children) {
				while (node.firstChild)
					node.removeChild(node.firstChild);
				return dom.append(node, children);
			},
			append: function(node, children) {
				appendLikeLuci(doc, node, children);
				return node;
			}
		};

		let poll = {
			add: function(fn, interval) { pollFns.push({ fn: fn, interval: interval }); return true; },
			/* Test hook: run every registered poll function once, in order. */
			tick: function() {
				return pollFns.reduce(function(p, e) { return p.then(function() { return e.fn(); }); }, Promise.resolve());
			},
			count: function() { return pollFns.length; },
			intervals: function() { return pollFns.map(function(e) { return e.interval; }); }
		};

		/* What LuCI's rpc.js does with a JSON-RPC frame, re-stated for the tests. */
		function handleFrame(decl, frame) {
			if (frame == null || frame.jsonrpc != '2.0')
				throw new Error('RPCError: RPC call to %s/%s returned invalid message frame'.format(decl.object, decl.method));
			if (frame.error && frame.error.code)
				throw new Error('RPCError: RPC call to %s/%s failed with error %d: %s'.format(
					decl.object, decl.method, frame.error.code, frame.error.message || '?'));

			let ret = null;
			if (Array.isArray(frame.result)) {
				if (decl.reject && frame.result[0] !== 0)
					throw new Error('RPCError: RPC call to %s/%s failed with ubus code %d'.format(
						decl.object, decl.method, frame.result[0]));
				ret = frame.result.length > 1 ? frame.result[1] : frame.result[0];
			}

			if (decl.expect) {
				let key = Object.keys(decl.expect)[0], type = Object.prototype.toString;
				if (ret != null && key != '')
					ret = ret[key];
				if (ret == null || type.call(ret) != type.call(decl.expect[key]))
					ret = decl.expect[key];
			}

			return ret;
		}

		let rpc = {
			calls: [],
			declare: function(decl) {
				return function() {
					let params = {}, args = arguments;
					(decl.params || []).forEach(function(p, i) {
						if (args[i] !== undefined)
							params[p] = args[i];
					});
					rpc.calls.push({ object: decl.object, method: decl.method, params: params, id: seq });
					return Promise.resolve(opts.transport(decl.object, decl.method, params, seq++))
						.then(function(frame) { return handleFrame(decl, frame); });
				};
			}
		};

		let view = BaseClass.extend({
			__init__: function() {
				let self = this;
				return Promise.resolve(self.load()).then(function(data) {
					return self.render(data);
				}).then(function(node) {
					let target = doc.getElementById('view');
					dom.content(target, node);
					root.__viewReady = true;
				}).catch(function(e) {
					root.__viewError = String(e && e.stack || e);
				});
			},
			load: function() {},
			render: function() {}
		});

		let builtins = { baseclass: BaseClass, view: view, rpc: rpc, poll: poll, dom: dom };
		let instances = { baseclass: BaseClass, view: view, rpc: rpc, poll: poll, dom: dom };

		function requireModule(name) {
			if (instances[name])
				return Promise.resolve(instances[name]);
			if (cache[name])
				return cache[name];

			cache[name] = Promise.resolve(opts.load(name.replace(/\./g, '/') + '.js')).then(function(src) {
				let deps = [], names = [];
				let re = /^\s*(?:'use strict'|"use strict");?\s*|^\s*'require\s+([\w.\-]+)(?:\s+as\s+(\w+))?'\s*;?\s*/;
				let rest = src, m;

				while ((m = re.exec(rest)) && m[0].length) {
					if (m[1]) {
						deps.push(m[1]);
						names.push(m[2] || m[1].split('.').pop());
					}
					rest = rest.substr(m[0].length);
				}

				return Promise.all(deps.map(requireModule)).then(function(mods) {
					let fn = new Function(names.concat([ 'L', 'E', '_', 'N_' ]).join(','),
						'"use strict";\n' + src + '\n//# sourceURL=' + L.resource(name.replace(/\./g, '/') + '.js'));
					let res = fn.apply(null, mods.concat([ L, E, translate, translatePlural ]));
					if (typeof(res) == 'function')
						res = new res();
					instances[name] = res;
					return res;
				});
			});

			return cache[name];
		}

		return {
			L: L, E: E, _: translate, N_: translatePlural, dom: dom, poll: poll, rpc: rpc,
			builtins: builtins, require: requireModule
		};
	}

	let api = { createRuntime: createRuntime };

	if (typeof(module) == 'object' && module.exports)
		module.exports = api;
	else
		root.LuciLite = api;
})(typeof(window) != 'undefined' ? window : globalThis);
