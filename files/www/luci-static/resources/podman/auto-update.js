'use strict';
'require baseclass';
'require rpc';

/*
 * Parallel, batched image update check for Podman containers, run from the
 * browser through the `podman` and `podman.image` rpcd plugins (docs/API.md).
 *
 * The browser starts up to PARALLEL_PULLS pulls at once, follows all of them
 * with one multi-session pullStatus call per tick, then inspects what was
 * pulled and compares it with the image each container runs. It also
 * follows a check that the router runs by itself (followBackendCheck).
 */

var callSettings = rpc.declare({
	object: 'podman',
	method: 'settings'
});

var callCheckStatus = rpc.declare({
	object: 'podman',
	method: 'checkStatus',
	params: [ 'jobId' ]
});

var callPullStream = rpc.declare({
	object: 'podman.image',
	method: 'pullStream',
	params: [ 'image' ]
});

var callPullStatus = rpc.declare({
	object: 'podman.image',
	method: 'pullStatus',
	params: [ 'sessions' ]
});

/*
 * LuCI sends the calls made in one animation frame as one HTTP request that
 * the router runs one after another, under one 20 s browser timeout. A stop
 * may wait seconds for its worker and an inspect starts Python with
 * requests on a slow CPU, so these two go out each on its own (nobatch) and
 * run side by side; pullStream and pullStatus are quick and stay batched.
 */
var callPullStop = rpc.declare({
	object: 'podman.image',
	method: 'pullStop',
	params: [ 'sessionId' ],
	nobatch: true
});

var callInspect = rpc.declare({
	object: 'podman.image',
	method: 'inspect',
	params: [ 'image' ],
	nobatch: true
});

/* The distribution reference grammar, the same as the backend's reference.py. */
var COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
var DOMAIN = '(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?' +
	'(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:]+\\])' +
	'(?::[0-9]{1,5})?';
var REFERENCE = new RegExp('^(?:(' + DOMAIN + ')/)?' +
	'(' + COMPONENT + '(?:/' + COMPONENT + ')*)' +
	'(?::([\\w][\\w.-]{0,127}))?' +
	'(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$');
var COMPONENT_ONLY = new RegExp('^' + COMPONENT + '$');
var IMAGE_ID = /^(?:sha256:)?[0-9a-f]{12,64}$/;
var MAX_REFERENCE_LENGTH = 512;

var PARALLEL_MIN = 1;
var PARALLEL_MAX = 16;

/**
 * Turn an rpc reply into the backend's reply object, or throw.
 *
 * LuCI resolves a failed ubus call with its numeric status (no `reject:
 * true` here), and our backend reports its own failures as an `error`
 * object `{code, message}` with status 0: both become an Error carrying the
 * reason. A pull session's status may hold `error` as a string (Podman's
 * words about that pull): that is a normal reply.
 *
 * @example
 * unwrap({ sessionId: 'a1' })       // -> { sessionId: 'a1' }
 * unwrap(7)                         // throws Error('Request timeout (ubus status 7)')
 * unwrap({ error: { code: 'busy', message: 'too many pulls' } })
 *                                   // throws Error('too many pulls'), .code 'busy'
 * unwrap({ sessionId: 'a1', complete: true, success: false, error: 'manifest unknown' })
 *                                   // -> the same object
 *
 * @param {*} reply
 * @returns {Object}
 */
function unwrap(reply) {
	var err;

	if (typeof(reply) == 'number') {
		err = new Error(_('%s (ubus status %d)').format(rpc.getStatusText(reply), reply));
		err.code = 'ubus_' + reply;
		throw err;
	}

	if (reply == null || typeof(reply) != 'object' || Array.isArray(reply))
		throw new Error(_('Malformed reply from the router'));

	/* a string `error` is data: Podman's words in a pull session's status */
	if (reply.error != null && typeof(reply.error) == 'object') {
		err = new Error(errorText(reply.error));
		err.code = reply.error.code || null;
		throw err;
	}

	return reply;
}

/**
 * The text of an error as the backend sends it: Podman's own words in a
 * string, or a `{code, message}` object.
 *
 * @example
 * errorText('manifest unknown')                          // -> 'manifest unknown'
 * errorText({ code: 'not_found', message: 'no session' }) // -> 'no session'
 *
 * @param {string|Object} error
 * @returns {string}
 */
function errorText(error) {
	if (error == null)
		return '';

	if (typeof(error) == 'object')
		return String(error.message || error.code || _('Unknown error'));

	return String(error);
}

/**
 * An image id without its `sha256:` prefix, as the backend's rows show it.
 *
 * @example
 * bareId('sha256:ab12') // -> 'ab12'
 * bareId(undefined)     // -> ''
 *
 * @param {?string} id
 * @returns {string}
 */
function bareId(id) {
	return String(id || '').replace(/^sha256:/, '');
}

/**
 * An image id without its `sha256:` prefix, lower case, for comparing.
 *
 * @example
 * normalizeId('sha256:AB12') // -> 'ab12'
 * normalizeId(null)          // -> ''
 *
 * @param {?string} id
 * @returns {string}
 */
function normalizeId(id) {
	return bareId(id).toLowerCase();
}

return baseclass.extend({
	/** Pulls started at once per batch; `loadSettings()` takes the router's value. */
	PARALLEL_PULLS: 4,

	/** Milliseconds between two pullStatus ticks. */
	POLL_INTERVAL: 1000,

	/*
	 * A pull whose output has not grown for this long is stopped. Podman
	 * prints nothing while one large layer downloads, so this sits just over
	 * the backend's own pull_timeout (seconds without a byte from Podman;
	 * loadSettings() takes it): the backend reports a silent Podman first,
	 * in Podman's words, and this catches a pull worker that hangs.
	 */
	STALL_TIMEOUT: (600 + 30) * 1000,

	/*
	 * ...and only after this many answered ticks without progress (or, for
	 * BUSY_TIMEOUT, busy answers), so a tab that was hidden (no animation
	 * frames, no requests) for a while does not count as a stall when it
	 * comes back.
	 */
	STALL_TICKS: 5,

	/*
	 * The router runs at most twice parallel_pulls pulls at once, a check of
	 * its own included, and answers pullStream `busy` beyond that. Such a
	 * pull is started again on later ticks; it fails with the router's
	 * words once it has been refused for this long.
	 */
	BUSY_TIMEOUT: 60 * 1000,

	/** Consecutive failed status calls after which a batch or follow gives up. */
	MAX_STATUS_FAILURES: 10,

	activeCheck: null,

	/** The current time in milliseconds; tests replace it with a fake clock. */
	now: function() {
		return Date.now();
	},

	/** Resolve after ms milliseconds; tests replace it with a fake clock. */
	delay: function(ms) {
		return new Promise(function(resolve) { setTimeout(resolve, ms); });
	},

	/**
	 * Take PARALLEL_PULLS and STALL_TIMEOUT from the backend's settings (UCI
	 * `parallel_pulls` and `pull_timeout`).
	 *
	 * @example
	 * // podman settings -> { parallelPulls: 2, pullTimeout: 300, socket: '...', stateDir: '...' }
	 * loadSettings()  // -> Promise<{ parallelPulls: 2, ... }>;
	 *                 //    PARALLEL_PULLS is 2, STALL_TIMEOUT 330000
	 *
	 * @returns {Promise<Object>} the settings reply; rejects when it failed,
	 * leaving PARALLEL_PULLS as it was.
	 */
	loadSettings: function() {
		return callSettings().then(L.bind(function(reply) {
			var settings = unwrap(reply),
			    parallel = settings.parallelPulls,
			    pullTimeout = settings.pullTimeout;

			if (Number.isInteger(parallel) && parallel >= PARALLEL_MIN && parallel <= PARALLEL_MAX)
				this.PARALLEL_PULLS = parallel;

			if (typeof(pullTimeout) == 'number' && pullTimeout > 0)
				this.STALL_TIMEOUT = (pullTimeout + 30) * 1000;

			return settings;
		}, this));
	},

	/**
	 * Split an array into chunks of batchSize.
	 *
	 * @example
	 * batchArray([ 'a', 'b', 'c', 'd', 'e' ], 2) // -> [ [ 'a', 'b' ], [ 'c', 'd' ], [ 'e' ] ]
	 * batchArray([], 4)                         // -> []
	 * batchArray([ 'a' ], 0)                    // throws RangeError
	 *
	 * @param {Array} array
	 * @param {number} batchSize - an integer of at least 1
	 * @returns {Array<Array>}
	 */
	batchArray: function(array, batchSize) {
		if (!Number.isInteger(batchSize) || batchSize < 1)
			throw new RangeError(_('Batch size must be a whole number of at least 1, not %s')
				.format(String(batchSize)));

		var batches = [];

		for (var i = 0; i < array.length; i += batchSize)
			batches.push(array.slice(i, i + batchSize));

		return batches;
	},

	/**
	 * Say why a container's image needs no pull, as the backend does.
	 *
	 * @example
	 * classify('ghcr.io/org/app@sha256:4f1c...')  // -> 'pinned'
	 * classify('localhost/tools:dev')             // -> 'local_only'
	 * classify('sha256:0b4c6f2e7d1a')             // -> 'local_only' (a bare image id)
	 * classify('docker.io/library/nginx:1.27')    // -> null (needs a pull)
	 *
	 * @param {string} image - the reference the container was created from
	 * @returns {?string} 'pinned', 'local_only' or null
	 */
	classify: function(image) {
		if (typeof(image) != 'string' || IMAGE_ID.test(image))
			return 'local_only';

		var m = (image.length > 0 && image.length <= MAX_REFERENCE_LENGTH)
			? REFERENCE.exec(image) : null;

		if (!m)
			return 'local_only';

		var domain = m[1];

		/* "library/nginx": a first part without "." or ":" is a path, not a registry */
		if (domain && !/[.:]/.test(domain) && domain != 'localhost') {
			if (!COMPONENT_ONLY.test(domain))
				return 'local_only';

			domain = null;
		}

		if (m[4])
			return 'pinned';

		if (domain == 'localhost')
			return 'local_only';

		return null;
	},

	/**
	 * Start every pull of a batch at once.
	 *
	 * @example
	 * pullMultipleImages([ 'reg/app:1', 'reg/db:2', 'reg/web:3' ])
	 * // -> Promise<[ { image: 'reg/app:1', sessionId: '9f0c...', error: null, busy: false },
	 * //              { image: 'reg/db:2', sessionId: null, error: 'not a valid image reference', busy: false },
	 * //              { image: 'reg/web:3', sessionId: null, busy: true,
	 * //                error: '8 pulls are already running; try again when one finishes' } ]>
	 *
	 * @param {string[]} images
	 * @param {Object} [token] - the running check, for cancel()
	 * @returns {Promise<Array<{image: string, sessionId: ?string, error: ?string, busy: boolean}>>}
	 * in the order of images; a pull that could not start is a failed entry,
	 * `busy` when the router had no free pull slot (worth another try).
	 */
	pullMultipleImages: function(images, token) {
		token = token || this.newToken();

		return Promise.all(images.map(function(image) {
			return callPullStream(image).then(unwrap).then(function(reply) {
				if (typeof(reply.sessionId) != 'string' || !reply.sessionId)
					throw new Error(_('The router returned no pull session'));

				/* cancel() stops what is listed here; waitForAllPulls() the rest */
				token.sessions[reply.sessionId] = true;

				return { image: image, sessionId: reply.sessionId, error: null, busy: false };
			}).catch(function(err) {
				return { image: image, sessionId: null, error: err.message, busy: err.code == 'busy' };
			});
		}));
	},

	/**
	 * Follow all pulls of a batch with ONE polling loop: each tick is a single
	 * multi-session pullStatus call for the sessions still running, and each
	 * session's offset is kept as the backend returns it. A pull the router
	 * refused as `busy` is started again on later ticks, in the same
	 * animation frame as the status call (so LuCI sends both as one request),
	 * until a slot is free or BUSY_TIMEOUT has passed.
	 *
	 * @example
	 * waitForAllPulls([ { image: 'reg/app:1', sessionId: '9f0c...' },
	 *                   { image: 'reg/db:2', sessionId: null, error: 'cannot start' } ])
	 * // -> Promise<[ { image: 'reg/app:1', success: true, error: null, imageId: '3b1e...', cancelled: false },
	 * //              { image: 'reg/db:2', success: false, error: 'cannot start', imageId: null, cancelled: false } ]>
	 *
	 * @param {Array<{image: string, sessionId: ?string, error: ?string, busy: ?boolean}>} sessions
	 * as pullMultipleImages() resolves them
	 * @param {Object} [token] - the running check, for cancel()
	 * @returns {Promise<Array<{image: string, success: boolean, error: ?string, imageId: ?string, cancelled: boolean}>>}
	 * in the order of sessions, once every session is complete, stalled or
	 * cancelled; `cancelled` marks a pull that cancel() ended.
	 */
	waitForAllPulls: async function(sessions, token) {
		/* called on its own: these sessions are ours to stop */
		if (!token) {
			token = this.newToken();
			sessions.forEach(function(s) {
				if (s.sessionId)
					token.sessions[s.sessionId] = true;
			});
		}

		var started = this.now(),
		    failures = 0,
		    lastFailure = null;

		var states = sessions.map(function(s) {
			return {
				image: s.image,
				sessionId: s.sessionId || null,
				offset: 0,
				done: !s.sessionId && !s.busy,
				success: false,
				cancelled: false,
				error: (s.sessionId || s.busy) ? null : (s.error || _('The pull did not start')),
				imageId: null,
				lastProgress: started,
				quietTicks: 0,
				busySince: s.busy ? started : null,
				busyTicks: s.busy ? 1 : 0
			};
		});

		for (;;) {
			var pending = states.filter(function(s) { return !s.done; });

			if (!pending.length)
				break;

			/* cancel() stopped what ran then; this stops pulls that started since */
			if (token.cancelled) {
				pending.forEach(function(s) { s.cancelled = true; });
				await this.stopAndFail(pending, token, function() { return _('Check cancelled'); });
				break;
			}

			await this.delay(this.POLL_INTERVAL);

			if (token.cancelled)
				continue;

			var running = pending.filter(function(s) { return s.sessionId; }),
			    waiting = pending.filter(function(s) { return !s.sessionId; });

			/* both issued before either is awaited: one animation frame */
			var polling = running.length ? this.pollStatus(running) : Promise.resolve(null),
			    starting = this.pullMultipleImages(waiting.map(function(s) { return s.image; }), token);

			var polled = await polling,
			    restarted = await starting,
			    now = this.now();

			/* even after a cancel: a session started now must be known, to be stopped */
			waiting.forEach(function(s, i) { this.applyStart(s, restarted[i], token, now); }, this);

			if (polled && polled.failure) {
				failures++;
				lastFailure = polled.failure;
			}
			else if (polled) {
				failures = 0;
			}

			if (token.cancelled) {
				/* cancelled while the calls ran: a pull that finished keeps its
				   result; any other answer may be our own pullStop speaking */
				if (polled && polled.entries)
					running.forEach(function(s, i) {
						var entry = this.findEntry(polled.entries, i, s.sessionId);

						if (entry && entry.complete === true && entry.success === true)
							this.applyStatus(s, entry, token, now);
					}, this);

				continue;
			}

			if (polled && polled.entries)
				running.forEach(function(s, i) {
					this.applyStatus(s, this.findEntry(polled.entries, i, s.sessionId), token, now);
				}, this);

			if (failures >= this.MAX_STATUS_FAILURES) {
				await this.stopAndFail(running.filter(function(s) { return !s.done; }), token, function() {
					return _('Could not follow the pull: %s').format(lastFailure.message);
				});
				continue;
			}

			await this.stopAndFail(running.filter(function(s) {
				return !s.done && s.quietTicks >= this.STALL_TICKS &&
					now - s.lastProgress >= this.STALL_TIMEOUT;
			}, this), token, function(s) {
				return _('No progress for %d seconds; the pull was given up')
					.format(Math.round((now - s.lastProgress) / 1000));
			});
		}

		return states.map(function(s) {
			return { image: s.image, success: s.success, error: s.error, imageId: s.imageId, cancelled: s.cancelled };
		});
	},

	/**
	 * One multi-session pullStatus call for these sessions; never rejects.
	 *
	 * @example
	 * pollStatus([ { sessionId: '9f0c...', offset: 120 } ])
	 * // -> Promise<{ entries: [ { sessionId: '9f0c...', offset: 380, complete: false, ... } ] }>
	 * // -> Promise<{ failure: Error('Request timeout (ubus status 7)') }>
	 */
	pollStatus: function(states) {
		return callPullStatus(states.map(function(s) {
			return { sessionId: s.sessionId, offset: s.offset };
		})).then(unwrap).then(function(reply) {
			if (!Array.isArray(reply.sessions))
				throw new Error(_('Malformed reply from the router'));

			return { entries: reply.sessions };
		}).catch(function(err) {
			return { failure: err };
		});
	},

	/**
	 * The reply entry for the session at index i of the request; the API
	 * answers in input order, but a mismatch is looked up by id.
	 *
	 * @example
	 * findEntry([ { sessionId: 'a' }, { sessionId: 'b' } ], 1, 'b') // -> { sessionId: 'b' }
	 * findEntry([ { sessionId: 'b' } ], 0, 'a')                   // -> null
	 */
	findEntry: function(entries, i, sessionId) {
		if (entries[i] && entries[i].sessionId == sessionId)
			return entries[i];

		for (var j = 0; j < entries.length; j++)
			if (entries[j] && entries[j].sessionId == sessionId)
				return entries[j];

		return null;
	},

	/**
	 * Apply the answer to a retried pullStream to a pull waiting for a slot.
	 *
	 * @example
	 * // { sessionId: '9f0c...' }                 -> running from now on, polled next tick
	 * // { busy: true, error: '8 pulls are ...' } -> still waiting; failed with those words
	 * //                                             after BUSY_TIMEOUT and STALL_TICKS answers
	 * // { busy: false, error: 'Permission denied (ubus status 6)' } -> failed
	 * // anything but a session after cancel()                      -> left for the cancel to end
	 */
	applyStart: function(state, started, token, now) {
		if (started.sessionId) {
			state.sessionId = started.sessionId;
			state.lastProgress = now;
			state.quietTicks = 0;
			return;
		}

		if (token.cancelled)
			return;

		if (!started.busy)
			this.finish(state, token, false, started.error);
		else if (++state.busyTicks >= this.STALL_TICKS && now - state.busySince >= this.BUSY_TIMEOUT)
			this.finish(state, token, false, _('No free pull slot on the router for %d seconds: %s')
				.format(Math.round((now - state.busySince) / 1000), started.error));
	},

	/**
	 * Apply one pullStatus entry to a session's state.
	 *
	 * @example
	 * // state { offset: 120, ... } + entry { offset: 380, complete: false }
	 * //   -> offset 380, progress seen now
	 * // entry { offset: 512, complete: true, success: false, error: 'manifest unknown' }
	 * //   -> done, failed with Podman's words
	 * // entry { sessionId: 'x', error: { code: 'not_found', message: 'no such session' } }
	 * //   -> done, failed with 'no such session'
	 */
	applyStatus: function(state, entry, token, now) {
		if (entry == null)
			return;

		if (typeof(entry.offset) == 'number') {
			if (entry.offset > state.offset) {
				state.lastProgress = now;
				state.quietTicks = 0;
			}
			else {
				state.quietTicks++;
			}

			state.offset = entry.offset;
		}

		if (entry.complete === true) {
			state.imageId = entry.imageId || null;
			this.finish(state, token, entry.success === true,
				entry.success === true ? null : (errorText(entry.error) || _('The pull failed')));
		}
		else if (entry.error != null) {
			this.finish(state, token, false, errorText(entry.error));
		}
	},

	/**
	 * Stop the pulls of these sessions that still run and mark all of them
	 * failed with message(state); a failure to stop is added to the message.
	 *
	 * @example
	 * stopAndFail([ stalled ], token, function(s) { return 'No progress'; })
	 * // pullStop for stalled.sessionId, then stalled.error is 'No progress'
	 * // (or 'No progress (stopping it failed: Permission denied (ubus status 6))')
	 */
	stopAndFail: async function(states, token, message) {
		var running = states.filter(function(s) { return token.sessions[s.sessionId]; }),
		    stopError = null;

		if (running.length)
			await this.stopPulls(token, running.map(function(s) { return s.sessionId; }))
				.catch(function(err) { stopError = err; });

		states.forEach(function(s) {
			var text = message(s);

			if (stopError)
				text = _('%s (stopping it failed: %s)').format(text, stopError.message);

			this.finish(s, token, false, text);
		}, this);
	},

	/** Mark a session finished and forget it for cancel(). */
	finish: function(state, token, success, error) {
		state.done = true;
		state.success = success;
		state.error = success ? null : error;

		if (state.sessionId)
			delete token.sessions[state.sessionId];
	},

	/**
	 * Stop pulls through pullStop, all at once.
	 *
	 * @returns {Promise<void>} rejects with the first failure after all were tried
	 */
	stopPulls: function(token, sessionIds) {
		return Promise.all(sessionIds.map(function(id) {
			delete token.sessions[id];

			return callPullStop(id).then(unwrap).then(function() { return null; },
				function(err) { return err; });
		})).then(function(errors) {
			var first = errors.filter(function(e) { return e != null; })[0];

			if (first)
				throw first;
		});
	},

	/** A running check: cancel() sets `cancelled` and stops `sessions`. */
	newToken: function() {
		return { cancelled: false, sessions: {} };
	},

	/**
	 * Check containers for newer images, PARALLEL_PULLS distinct images at a
	 * time. Pinned, local-only and bare-id containers are classified without
	 * pulling; one failed pull marks its containers as errors and the rest go on.
	 * The new image id is the one the pull reported (inspect only without it).
	 *
	 * onProgress(container, idx, total, batchNum, batchTotal, row) is called
	 * with idx counted from 1 in `containers`: for each container of a batch
	 * when its batch starts (row undefined), and for every container when it
	 * is finished (row given). Containers classified without a pull finish
	 * first, with batchNum 0.
	 *
	 * @example
	 * checkForUpdates([
	 *     { name: 'web', image: 'reg/web:1', imageId: 'aa11...', running: true },
	 *     { name: 'db', image: 'reg/db@sha256:5e...', imageId: 'bb22...', running: true }
	 * ], function(c, idx, total, batch, batches, row) { ... })
	 * // -> Promise<[
	 * //   { name: 'web', image: 'reg/web:1', running: true, hasUpdate: true,
	 * //     status: 'update_available', error: null, currentImageId: 'aa11...', newImageId: 'cc33...' },
	 * //   { name: 'db', image: 'reg/db@sha256:5e...', running: true, hasUpdate: false,
	 * //     status: 'pinned', error: null, currentImageId: 'bb22...', newImageId: null } ]>
	 *
	 * @param {Array<{name: string, image: string, imageId: string, running: boolean}>} containers
	 * as the backend's `podman containers` lists them
	 * @param {Function} [onProgress]
	 * @returns {Promise<Object[]>} one row per container, in input order, with
	 * the fields and statuses of the backend's checkUpdates rows (a container
	 * that cancel() left unfinished gets a cancelledRow()); rejects if a check
	 * is already running.
	 */
	checkForUpdates: async function(containers, onProgress) {
		if (this.activeCheck)
			throw new Error(_('An update check is already running'));

		var token = this.activeCheck = this.newToken();

		try {
			return await this.runCheck(containers, onProgress || function() {}, token);
		}
		finally {
			this.activeCheck = null;
		}
	},

	runCheck: async function(containers, onProgress, token) {
		var total = containers.length,
		    rows = new Array(total),
		    byImage = {},
		    images = [];

		containers.forEach(function(c, idx) {
			var kind = this.classify(c.image);

			if (kind) {
				rows[idx] = this.makeRow(c, kind, null, null);
			}
			else {
				if (!byImage.hasOwnProperty(c.image)) {
					byImage[c.image] = [];
					images.push(c.image);
				}

				byImage[c.image].push(idx);
			}
		}, this);

		var batches = this.batchArray(images, this.PARALLEL_PULLS);

		/* only the classified containers have a row yet (forEach skips holes) */
		rows.forEach(function(row, idx) {
			onProgress(containers[idx], idx + 1, total, 0, batches.length, row);
		});

		for (var b = 0; b < batches.length && !token.cancelled; b++) {
			var members = [];

			batches[b].forEach(function(image) { members = members.concat(byImage[image]); });
			members.sort(function(x, y) { return x - y; });

			members.forEach(function(idx) {
				onProgress(containers[idx], idx + 1, total, b + 1, batches.length);
			});

			var started = await this.pullMultipleImages(batches[b], token),
			    pulled = await this.waitForAllPulls(started, token),
			    found = await this.inspectPulled(pulled);

			pulled.forEach(function(p, i) {
				byImage[p.image].forEach(function(idx) {
					var c = containers[idx];

					if (p.cancelled)
						rows[idx] = this.cancelledRow(c);
					else if (found[i].error != null)
						rows[idx] = this.makeRow(c, 'error', found[i].error, null);
					else if (normalizeId(found[i].id) == normalizeId(c.imageId))
						rows[idx] = this.makeRow(c, 'up_to_date', null, found[i].id);
					else
						rows[idx] = this.makeRow(c, 'update_available', null, found[i].id);
				}, this);
			}, this);

			members.forEach(function(idx) {
				onProgress(containers[idx], idx + 1, total, b + 1, batches.length, rows[idx]);
			});
		}

		return containers.map(function(c, idx) {
			return rows[idx] || this.cancelledRow(c);
		}, this);
	},

	/**
	 * The image id each successful pull produced; a failed pull keeps its
	 * error. The id comes from the pull itself (Podman names it in its last
	 * stream line and pullStatus passes it on); only when it is missing is
	 * the image inspected, since an inspect starts Python with requests on
	 * the router, seconds of CPU each.
	 *
	 * @example
	 * inspectPulled([ { image: 'reg/app:1', success: true, imageId: '3b1e...' },
	 *                 { image: 'reg/web:2', success: true, imageId: null },
	 *                 { image: 'reg/db:2', success: false, error: 'manifest unknown' } ])
	 * // -> Promise<[ { id: '3b1e...', error: null },
	 * //              { id: '77c0...', error: null },      (from inspect)
	 * //              { id: null, error: 'manifest unknown' } ]>
	 */
	inspectPulled: function(pulled) {
		return Promise.all(pulled.map(function(p) {
			if (!p.success)
				return { id: null, error: p.error || _('The pull failed') };

			if (p.imageId)
				return { id: p.imageId, error: null };

			return callInspect(p.image).then(unwrap).then(function(reply) {
				if (!reply.Id)
					throw new Error(_('Podman reported no image id for %s').format(p.image));

				return { id: reply.Id, error: null };
			}).catch(function(err) {
				return { id: null, error: _('Inspecting the pulled image failed: %s').format(err.message) };
			});
		}));
	},

	/**
	 * One result row, shaped like the backend's checkUpdates rows.
	 *
	 * @example
	 * makeRow({ name: 'web', image: 'reg/web:1', imageId: 'aa11', running: true },
	 *         'update_available', null, 'sha256:cc33')
	 * // -> { name: 'web', image: 'reg/web:1', running: true, hasUpdate: true,
	 * //      status: 'update_available', error: null, currentImageId: 'aa11', newImageId: 'cc33' }
	 */
	makeRow: function(container, status, error, newImageId) {
		return {
			name: container.name,
			image: container.image,
			running: !!container.running,
			hasUpdate: status == 'update_available',
			status: status,
			error: error,
			currentImageId: bareId(container.imageId),
			newImageId: newImageId ? bareId(newImageId) : null
		};
	},

	/**
	 * The row of a container that a cancelled check did not finish: status
	 * 'error' as the backend would have it, marked `cancelled` so that a page
	 * can tell it from a real failure.
	 *
	 * @example
	 * cancelledRow({ name: 'web', image: 'reg/web:1', imageId: 'aa11', running: true })
	 * // -> { name: 'web', image: 'reg/web:1', running: true, hasUpdate: false, status: 'error',
	 * //      error: 'Check cancelled', currentImageId: 'aa11', newImageId: null, cancelled: true }
	 */
	cancelledRow: function(container) {
		var row = this.makeRow(container, 'error', _('Check cancelled'), null);

		row.cancelled = true;

		return row;
	},

	/**
	 * Cancel the running check: stop its outstanding pulls through pullStop.
	 * The check then resolves; containers it had finished keep their rows,
	 * the others get a cancelledRow().
	 *
	 * @returns {Promise<boolean>} false when no check was running; rejects
	 * when a pull could not be stopped.
	 */
	cancel: function() {
		var token = this.activeCheck;

		if (!token || token.cancelled)
			return Promise.resolve(false);

		token.cancelled = true;

		return this.stopPulls(token, Object.keys(token.sessions)).then(function() {
			return true;
		});
	},

	/**
	 * Follow a check job that the router runs by itself (`ubus call podman
	 * checkUpdates`, e.g. from cron) until it completes: one checkStatus call
	 * per POLL_INTERVAL. A failed call is tried again on the next tick; an
	 * unknown job, or MAX_STATUS_FAILURES failures in a row, reject.
	 *
	 * @example
	 * followBackendCheck({ jobId: 'b41e...', complete: false, progress: { total: 5, done: 2 } },
	 *     function(job) { ... job.progress.done ... })  // called after every answered tick
	 * // -> Promise<{ jobId: 'b41e...', complete: true, finishedAt: 1767225600.25,
	 * //              progress: { total: 5, done: 5, pulling: [] }, results: [ ... ] }>
	 *
	 * @param {Object} job - a checkStatus reply
	 * @param {Function} [onProgress] - called with each later checkStatus reply
	 * @returns {Promise<Object>} the completed job, which may carry a job-level `error`
	 */
	followBackendCheck: async function(job, onProgress) {
		var failures = 0;

		while (job.complete !== true) {
			await this.delay(this.POLL_INTERVAL);

			try {
				var reply = unwrap(await callCheckStatus(job.jobId));

				if (typeof(reply.complete) != 'boolean')
					throw new Error(_('Malformed reply from the router'));

				job = reply;
				failures = 0;
			}
			catch (err) {
				if (err.code == 'not_found' || ++failures >= this.MAX_STATUS_FAILURES)
					throw err;

				continue;
			}

			if (onProgress)
				onProgress(job);
		}

		return job;
	},

	unwrap: unwrap,
	errorText: errorText,
	normalizeId: normalizeId
});
