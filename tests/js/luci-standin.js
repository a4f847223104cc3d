'use strict';
/*
 * A small stand-in for LuCI's runtime, enough to run our real LuCI modules
 * under Node: the module loader ('require x' lines, factory called with
 * window, document, L and the dependencies), baseclass, _() and
 * String.prototype.format, and an rpc whose declare() hands calls to a
 * fake backend with the same reply rules as LuCI's rpc.js (no `expect`:
 * a ubus status resolves as a number; reject: true turns it into a
 * rejection).
 */

const fs = require('node:fs');
const path = require('node:path');

const RESOURCES = path.resolve(__dirname, '../../files/www/luci-static/resources');

const STATUS_TEXT = [
	'Command OK', 'Invalid command', 'Invalid argument', 'Method not found',
	'Resource not found', 'No data received', 'Permission denied',
	'Request timeout', 'Not supported', 'Unspecified error', 'Connection lost'
];

if (!String.prototype.format) {
	/* The subset of LuCI's format() our modules use: %s, %d and %%. */
	String.prototype.format = function(...args) {
		let i = 0;
		return this.replace(/%([sd%])/g, (m, kind) => {
			if (kind === '%')
				return '%';
			const value = args[i++];
			return kind === 'd' ? String(Math.trunc(Number(value))) : String(value);
		});
	};
}

global._ = (text) => text;

function extend(props) {
	const Parent = this;
	function Class(...args) {
		if (typeof this.__init__ === 'function')
			this.__init__(...args);
	}
	Class.prototype = Object.assign(Object.create(Parent.prototype), props);
	Class.prototype.constructor = Class;
	Class.extend = extend;
	return Class;
}

function baseclass() {}
baseclass.extend = extend;

const L = {
	env: {},
	bind(fn, self, ...args) {
		return fn.bind(self, ...args);
	},
	resolveDefault(promise, value) {
		return Promise.resolve(promise).catch(() => value);
	}
};

/**
 * The leading string directives of a LuCI module, as LuCI reads them.
 *
 * directives("'use strict';\n'require rpc';\n'require a.b as ab';")
 *   -> [ { name: 'rpc', as: 'rpc' }, { name: 'a.b', as: 'ab' } ]
 */
function directives(source) {
	const deps = [];
	const literal = /^\s*(['"])((?:\\.|(?!\1)[^\\])*)\1\s*;?/;
	let rest = source;
	for (;;) {
		const m = literal.exec(rest);
		if (!m)
			break;
		const req = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(m[2]);
		if (req)
			deps.push({ name: req[1], as: req[2] || req[1].replace(/[^a-zA-Z0-9_]/g, '_') });
		else if (!/^use[ \t]+strict$/.test(m[2]))
			break;
		rest = rest.slice(m[0].length);
	}
	return deps;
}

/**
 * Load a real module file ('podman.auto-update' ->
 * files/www/luci-static/resources/podman/auto-update.js) and return its
 * instance, as LuCI's L.require() does. `provided` maps module names to
 * stand-ins (rpc, ui, ...); other modules are loaded from the tree.
 * `provided.window` is the window the module sees (default: an empty object).
 */
function requireModule(name, provided, cache = {}) {
	if (provided[name])
		return provided[name];
	if (cache[name])
		return cache[name];

	const file = path.join(RESOURCES, name.replace(/\./g, '/') + '.js');
	const source = fs.readFileSync(file, 'utf8');
	const deps = directives(source);
	const instances = deps.map((d) => requireModule(d.name, provided, cache));
	const factory = new Function('window', 'document', 'L', ...deps.map((d) => d.as), source);
	const Class = factory(provided.window || {}, {}, L, ...instances);

	if (typeof Class !== 'function' || typeof Class.extend !== 'function')
		throw new TypeError(`${name} factory yields no class`);

	cache[name] = new Class();
	return cache[name];
}

/**
 * An rpc stand-in: declare() returns a call function that maps positional
 * arguments to `params`, drops undefined ones (as JSON does), and hands
 * (object, method, args) to backend(), which returns a reply object, a
 * numeric ubus status, or throws (a transport failure).
 */
function makeRpc(backend) {
	return {
		declare(options) {
			if (options.expect)
				throw new Error('the stand-in rpc does not implement expect');
			return (...args) => {
				const params = {};
				(options.params || []).forEach((key, i) => { params[key] = args[i]; });
				const sent = JSON.parse(JSON.stringify(params));
				return Promise.resolve()
					.then(() => backend(options.object, options.method, sent))
					.then((reply) => {
						if (typeof reply === 'number' && reply !== 0 && options.reject)
							throw new Error(`RPC call failed with ubus code ${reply}`);
						return reply;
					});
			};
		},
		getStatusText(code) {
			return STATUS_TEXT[code] || 'Unknown error code';
		}
	};
}

module.exports = { requireModule, makeRpc, directives, baseclass, L, RESOURCES };
