'use strict';
'require baseclass';

/*
 * Stand-in for LuCI's rpc.js: rpc.declare() as ubus JSON-RPC over POST to
 * /ubus/. As in LuCI, calls made in the same animation frame go out as one
 * JSON array (the router runs them one after another) unless declared with
 * `nobatch: true`, a failed ubus call
 * resolves with its numeric status unless the declaration says
 * `reject: true`, and a request that takes longer than L.env.rpctimeout
 * (20 s) fails.
 */

var requestId = 1,
    sessionId = '00000000000000000000000000000000',
    baseURL = '/ubus/',
    queue = [],
    scheduled = false;

var STATUS_TEXT = [
	'Command OK', 'Invalid command', 'Invalid argument', 'Method not found',
	'Resource not found', 'No data received', 'Permission denied',
	'Request timeout', 'Not supported', 'Unspecified error', 'Connection lost'
];

function handleReply(req, msg) {
	var ret = null;

	if (!L.isObject(msg) || msg.jsonrpc != '2.0')
		return req.reject(new Error('RPC call to %s/%s returned invalid message frame'.format(req.object, req.method)));

	if (L.isObject(msg.error))
		return req.reject(new Error('RPC call to %s/%s failed with error %d: %s'
			.format(req.object, req.method, msg.error.code, msg.error.message || '?')));

	if (Array.isArray(msg.result)) {
		if (req.raise && msg.result[0] !== 0)
			return req.reject(new Error('RPC call to %s/%s failed with ubus code %d: %s'
				.format(req.object, req.method, msg.result[0], STATUS_TEXT[msg.result[0]] || '?')));

		ret = (msg.result.length > 1) ? msg.result[1] : msg.result[0];
	}

	if (req.expect) {
		for (var key in req.expect) {
			if (ret != null && key != '')
				ret = ret[key];

			if (ret == null || Object.prototype.toString.call(ret) != Object.prototype.toString.call(req.expect[key]))
				ret = req.expect[key];

			break;
		}
	}

	if (typeof(req.filter) == 'function')
		ret = req.filter(ret, req.params);

	req.resolve(ret);
}

function send(batch) {
	var body = (batch.length == 1) ? batch[0].msg : batch.map(function(r) { return r.msg; }),
	    path = batch.map(function(r) { return r.object + '.' + r.method; }).join(';'),
	    controller = new AbortController(),
	    timer = setTimeout(function() { controller.abort(); }, (L.env.rpctimeout || 20) * 1000);

	fetch(baseURL + path, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify(body),
		signal: controller.signal
	}).then(function(res) {
		if (!res.ok)
			throw new Error('RPC call failed with HTTP error %d: %s'.format(res.status, res.statusText || '?'));

		return res.json();
	}).then(function(reply) {
		var replies = Array.isArray(reply) ? reply : [ reply ];

		batch.forEach(function(req, i) {
			var msg = replies.filter(function(r) { return r && r.id === req.msg.id; })[0] || replies[i];
			handleReply(req, msg);
		});
	}).catch(function(err) {
		if (err.name == 'AbortError')
			err = new Error('XHR request timed out');

		batch.forEach(function(req) { req.reject(err); });
	}).then(function() {
		clearTimeout(timer);
	});
}

function flush() {
	var batch = queue;

	queue = [];
	scheduled = false;
	send(batch);
}

return baseclass.extend({
	declare: function(options) {
		return function() {
			var args = Array.prototype.slice.call(arguments),
			    params = {};

			(options.params || []).forEach(function(key, i) { params[key] = args[i]; });

			return new Promise(function(resolve, reject) {
				var req = {
					object: options.object,
					method: options.method,
					expect: options.expect,
					filter: options.filter,
					raise: options.reject,
					params: params,
					resolve: resolve,
					reject: reject,
					msg: {
						jsonrpc: '2.0',
						id: requestId++,
						method: 'call',
						params: [ sessionId, options.object, options.method, params ]
					}
				};

				if (options.nobatch)
					return send([ req ]);

				queue.push(req);

				if (!scheduled) {
					scheduled = true;
					window.requestAnimationFrame(flush);
				}
			});
		};
	},

	getStatusText: function(code) {
		return STATUS_TEXT[code] || 'Unknown error code';
	},

	getSessionID: function() {
		return sessionId;
	},

	getBaseURL: function() {
		return baseURL;
	}
});
