'use strict';
'require baseclass';

/*
 * The last update check the page shows: the one this browser ran, kept in
 * localStorage so that a reload does not lose it, or the one the router ran
 * by itself (checkStatus), whichever finished later.
 *
 * A check is { source: 'browser' or 'router', finishedAt: milliseconds since
 * the epoch, cancelled: boolean, rows: [...] }, its rows shaped like the
 * backend's checkUpdates rows (docs/API.md). Browser and router times come
 * from two clocks: a router whose clock is wrong makes its checks look older
 * or newer than they are.
 */

var STATUSES = [ 'update_available', 'up_to_date', 'pinned', 'local_only', 'error' ];

/**
 * Whether a row can be shown: a container name and a status the page knows.
 *
 * @example
 * isRow({ name: 'web', image: 'reg/web:1', status: 'up_to_date', ... }) // -> true
 * isRow({ name: 'web', status: 'fine' })                                // -> false
 * isRow('web')                                                          // -> false
 *
 * @param {*} row
 * @returns {boolean}
 */
function isRow(row) {
	return row != null && typeof(row) == 'object' && !Array.isArray(row) &&
		typeof(row.name) == 'string' && STATUSES.indexOf(row.status) > -1;
}

/** Whether a cancel left this row's container unchecked (auto-update.js cancelledRow()). */
function isCancelled(row) {
	return row.cancelled === true;
}

/**
 * Whether a value is a usable time stamp (a positive, finite number).
 *
 * @example
 * isTime(1767225600250) // -> true
 * isTime('yesterday')   // -> false
 */
function isTime(value) {
	return typeof(value) == 'number' && isFinite(value) && value > 0;
}

return baseclass.extend({
	/* localStorage is shared by every page of the router's origin: our own key */
	KEY: 'luci-app-podman-updates.lastCheck',

	/* the shape of what is stored; a record of another version is ignored */
	VERSION: 1,

	/**
	 * The browser's localStorage, or null where there is none. Tests replace
	 * it with a stand-in.
	 *
	 * @returns {?Storage}
	 */
	storage: function() {
		try {
			return window.localStorage || null;
		}
		catch (err) {
			/* disabled site data or a sandboxed frame: a SecurityError on access */
			return null;
		}
	},

	/**
	 * Keep a check this browser ran, for the next time the page opens.
	 *
	 * @example
	 * save([ { name: 'web', status: 'update_available', ... } ], 1767225600250) // -> true
	 * save(rows, Date.now()) // -> false when every row is `cancelled`: that would
	 *                        //    hide an older, complete result
	 * save(rows, Date.now()) // -> false when storage is unavailable or full
	 *
	 * @param {Object[]} rows - the check's rows, as checkForUpdates() resolves them
	 * @param {number} finishedAt - milliseconds since the epoch
	 * @returns {boolean} whether it was kept
	 */
	save: function(rows, finishedAt) {
		var storage = this.storage();

		if (!storage || !Array.isArray(rows) || !rows.every(isRow) || !isTime(finishedAt))
			return false;

		if (rows.length && rows.every(isCancelled))
			return false;

		try {
			storage.setItem(this.KEY, JSON.stringify({
				version: this.VERSION,
				finishedAt: finishedAt,
				rows: rows
			}));
		}
		catch (err) {
			/* quota exceeded or writes refused: a reload shows the router's last check */
			return false;
		}

		return true;
	},

	/**
	 * The check this browser kept, or null when there is none, storage is
	 * unavailable, or what is stored is not a check of this version.
	 *
	 * @example
	 * load() // -> { source: 'browser', finishedAt: 1767225600250, cancelled: false,
	 *        //      rows: [ { name: 'web', status: 'update_available', ... } ] }
	 * load() // -> null (nothing kept, or '{"version":1,"rows":"x"}', or not JSON at all)
	 *
	 * @returns {?Object}
	 */
	load: function() {
		var storage = this.storage(),
		    record;

		if (!storage)
			return null;

		try {
			record = JSON.parse(storage.getItem(this.KEY));
		}
		catch (err) {
			/* not JSON (or unreadable): as if nothing was kept; the next save replaces it */
			return null;
		}

		if (record == null || typeof(record) != 'object' || record.version !== this.VERSION ||
		    !isTime(record.finishedAt) || !Array.isArray(record.rows) || !record.rows.every(isRow))
			return null;

		return {
			source: 'browser',
			finishedAt: record.finishedAt,
			cancelled: record.rows.some(isCancelled),
			rows: record.rows
		};
	},

	/**
	 * The router's finished check job as a check; null for a job that is
	 * still running or has no results (a job-level failure).
	 *
	 * @example
	 * fromRouter({ jobId: 'b41e...', complete: true, finishedAt: 1767225600.25, results: [ ... ] })
	 * // -> { source: 'router', finishedAt: 1767225600250, cancelled: false, rows: [ ... ] }
	 * fromRouter({ jobId: 'b41e...', complete: false, progress: { total: 5, done: 2 } })
	 * // -> null
	 *
	 * @param {?Object} job - a checkStatus reply; `finishedAt` is in seconds
	 * @returns {?Object}
	 */
	fromRouter: function(job) {
		if (job == null || typeof(job) != 'object' || job.complete !== true ||
		    !isTime(job.finishedAt) || !Array.isArray(job.results))
			return null;

		return {
			source: 'router',
			finishedAt: job.finishedAt * 1000,
			cancelled: false,
			rows: job.results.filter(isRow)
		};
	},

	/**
	 * Of two checks (either may be null), the one that finished later; the
	 * first on a tie.
	 *
	 * @example
	 * newer({ source: 'browser', finishedAt: 2000, ... }, { source: 'router', finishedAt: 1000, ... })
	 * // -> the browser's
	 * newer(null, { source: 'router', finishedAt: 1000, ... }) // -> the router's
	 * newer(null, null)                                        // -> null
	 *
	 * @param {?Object} a
	 * @param {?Object} b
	 * @returns {?Object}
	 */
	newer: function(a, b) {
		if (!a || !b)
			return a || b || null;

		return (b.finishedAt > a.finishedAt) ? b : a;
	}
});
