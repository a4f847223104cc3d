'use strict';
/*
 * A minimal stand-in for LuCI's runtime (luci.js), for developing and
 * testing our pages without an OpenWrt router: the class loader with
 * 'require x [as y]' lines, baseclass, view, dom, E(), _() and
 * String.prototype.format. Behaviour follows LuCI where our pages rely on
 * it: a module is the body of a function called with (window, document, L,
 * dependencies...) whose returned class is instantiated once; a string
 * child given to E() outside an array is set as innerHTML.
 */
(function(window, document) {
	var classes = {};

	function Class() {}

	Class.extend = function(props) {
		var Parent = this;

		function Sub() {
			if (typeof(this.__init__) == 'function')
				return this.__init__.apply(this, arguments);
		}

		Sub.prototype = Object.create(Parent.prototype);
		Object.keys(props).forEach(function(key) { Sub.prototype[key] = props[key]; });
		Sub.prototype.constructor = Sub;
		Sub.extend = Class.extend;
		Sub.isSubclass = true;

		return Sub;
	};

	Class.isSubclass = true;

	String.prototype.format = function() {
		var args = arguments, i = 0;

		return this.replace(/%([sdh%])/g, function(m, kind) {
			if (kind == '%')
				return '%';

			var value = args[i++];

			if (kind == 'd')
				return String(Math.trunc(Number(value)));

			if (kind == 'h')
				return String(value).replace(/[&<>"']/g, function(c) {
					return '&#' + c.charCodeAt(0) + ';';
				});

			return String(value);
		});
	};

	var dom = {
		elem: function(e) {
			return (e != null && typeof(e) == 'object' && 'nodeType' in e);
		},

		append: function(node, children) {
			if (Array.isArray(children)) {
				children.forEach(function(child) {
					if (this.elem(child))
						node.appendChild(child);
					else if (child != null)
						node.appendChild(document.createTextNode(String(child)));
				}, this);
			}
			else if (this.elem(children)) {
				node.appendChild(children);
			}
			else if (children != null) {
				/* as in LuCI: a lone string is markup */
				node.innerHTML = String(children);
			}

			return node;
		},

		content: function(node, children) {
			while (node.firstChild)
				node.removeChild(node.firstChild);

			return this.append(node, children);
		},

		attr: function(node, attrs) {
			Object.keys(attrs || {}).forEach(function(key) {
				var value = attrs[key];

				if (value == null)
					return;

				if (typeof(value) == 'function')
					node.addEventListener(key, value);
				else if (typeof(value) == 'object')
					node.setAttribute(key, JSON.stringify(value));
				else
					node.setAttribute(key, value);
			});
		},

		create: function(tag, attrs, children) {
			if (Array.isArray(attrs) || (attrs != null && typeof(attrs) != 'object') || this.elem(attrs)) {
				children = attrs;
				attrs = null;
			}

			var node = document.createElement(tag);

			this.attr(node, attrs);
			this.append(node, children);

			return node;
		}
	};

	var L = {
		env: { base_url: '/luci-static/resources', rpctimeout: 20 },

		/* the URL of a file under luci-static/resources, as LuCI's L.resource() */
		resource: function() {
			return [ this.env.base_url ].concat(Array.prototype.slice.call(arguments)).join('/');
		},

		bind: function(fn, self) {
			return Function.prototype.bind.apply(fn, [ self ].concat(Array.prototype.slice.call(arguments, 2)));
		},

		resolveDefault: function(value, fallback) {
			return Promise.resolve(value).catch(function() { return fallback; });
		},

		isObject: function(value) {
			return (value != null && typeof(value) == 'object');
		},

		raise: function(type, fmt) {
			var err = new Error(String(fmt).format.apply(fmt, Array.prototype.slice.call(arguments, 2)));
			err.name = type;
			throw err;
		},

		error: function(err) {
			var view = document.getElementById('view');

			dom.content(view, E('pre', { 'class': 'alert-message error' }, [ String(err && err.stack || err) ]));
			throw err;
		},

		require: function(name) {
			if (classes[name])
				return Promise.resolve(classes[name]);

			var url = L.env.base_url + '/' + name.replace(/\./g, '/') + '.js';

			classes[name] = fetch(url).then(function(res) {
				if (!res.ok)
					L.raise('NetworkError', 'HTTP error %d while loading class file "%s"', res.status, url);

				return res.text();
			}).then(function(source) {
				var deps = [], names = [],
				    literal = /^\s*(['"])((?:\\.|(?!\1)[^\\])*)\1\s*;?/,
				    rest = source, m;

				while ((m = literal.exec(rest)) != null) {
					var req = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(m[2]);

					if (req) {
						deps.push(L.require(req[1]));
						names.push(req[2] || req[1].replace(/[^a-zA-Z0-9_]/g, '_'));
					}
					else if (!/^use[ \t]+strict$/.test(m[2])) {
						break;
					}

					rest = rest.slice(m[0].length);
				}

				return Promise.all(deps).then(function(instances) {
					var factory = new Function([ 'window', 'document', 'L' ].concat(names).join(', '),
						source + '\n//# sourceURL=' + url);
					var Cls = factory.apply(null, [ window, document, L ].concat(instances));

					if (typeof(Cls) != 'function' || !Cls.isSubclass)
						L.raise('TypeError', '"%s" factory yields invalid constructor', name);

					return (classes[name] = new Cls());
				});
			});

			return classes[name];
		}
	};

	var View = Class.extend({
		__init__: function() {
			var vp = document.getElementById('view');

			dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));

			return Promise.resolve(this.load())
				.then(L.bind(this.render, this))
				.then(function(nodes) { dom.content(vp, nodes); })
				.catch(L.error);
		},

		load: function() {},
		render: function() {}
	});

	classes.baseclass = Class;
	classes.view = View;
	classes.dom = dom;

	L.Class = Class;
	L.dom = dom;
	L.view = View;

	window.L = L;
	window.E = function() { return dom.create.apply(dom, arguments); };
	window._ = function(text) { return text; };
})(window, document);
