'use strict';
/* Unit tests of the real podman/last-check.js: keeping a check, reading it back, picking the newer. */

const test = require('node:test');
const assert = require('node:assert/strict');

const { requireModule, baseclass } = require('./luci-standin.js');

const KEY = 'luci-app-podman-updates.lastCheck';
const FINISHED = 1767225600250;

/** A Storage stand-in with the localStorage calls the module makes; throws what failing says. */
class MemoryStorage {
	constructor(failing = {}) {
		this.items = new Map();
		this.failing = failing;
	}

	getItem(key) {
		if (this.failing.get)
			throw this.failing.get;
		return this.items.has(key) ? this.items.get(key) : null;
	}

	setItem(key, value) {
		if (this.failing.set)
			throw this.failing.set;
		this.items.set(key, String(value));
	}
}

/** A fresh module instance, as a new page load has, seeing window. */
function load(window = {}) {
	return requireModule('podman.last-check', { baseclass, window });
}

function withStorage(storage) {
	return load({ localStorage: storage });
}

function row(name, status, extra = {}) {
	return {
		name, image: `reg.example:5000/${name}:1`, running: true, hasUpdate: status === 'update_available',
		status, error: status === 'error' ? 'manifest unknown' : null,
		currentImageId: 'a'.repeat(64), newImageId: status === 'update_available' ? 'c'.repeat(64) : null,
		...extra
	};
}

const ROWS = [row('web', 'update_available'), row('db', 'up_to_date'), row('gone', 'error')];

test('a saved check is there on the next page load, under our own key', () => {
	const storage = new MemoryStorage();
	assert.equal(withStorage(storage).save(ROWS, FINISHED), true);

	assert.deepEqual([...storage.items.keys()], [KEY]);
	assert.deepEqual(withStorage(storage).load(), {
		source: 'browser', finishedAt: FINISHED, cancelled: false, rows: ROWS
	});
});

test('nothing kept yet loads as null', () => {
	assert.equal(withStorage(new MemoryStorage()).load(), null);
});

test('load ignores a stored value that is corrupt or of another shape', () => {
	const good = { version: 1, finishedAt: FINISHED, rows: ROWS };
	const stored = {
		'not JSON': '{"version":1,"rows":[',
		'null': 'null',
		'an array': '[]',
		'a string': '"x"',
		'another version': JSON.stringify({ ...good, version: 2 }),
		'rows not a list': JSON.stringify({ ...good, rows: 'x' }),
		'a row not an object': JSON.stringify({ ...good, rows: [...ROWS, 'web'] }),
		'a row without a name': JSON.stringify({ ...good, rows: [{ status: 'up_to_date' }] }),
		'an unknown status': JSON.stringify({ ...good, rows: [row('web', '<b>new</b>')] }),
		'a time that is text': JSON.stringify({ ...good, finishedAt: 'yesterday' }),
		'no time': JSON.stringify({ ...good, finishedAt: undefined })
	};
	for (const [what, text] of Object.entries(stored)) {
		const storage = new MemoryStorage();
		storage.items.set(KEY, text);
		assert.equal(withStorage(storage).load(), null, what);
	}
});

test('without storage nothing is kept and nothing is loaded, and nothing throws', () => {
	const refused = Object.assign(new Error('The operation is insecure.'), { name: 'SecurityError' });
	const full = Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
	const pages = {
		'no localStorage': load({}),
		'localStorage refused on access': load(Object.defineProperty({}, 'localStorage', {
			get() { throw refused; }
		})),
		'reads and writes refused': withStorage(new MemoryStorage({ get: refused, set: refused })),
		'storage full': withStorage(new MemoryStorage({ set: full }))
	};
	for (const [what, page] of Object.entries(pages)) {
		assert.equal(page.save(ROWS, FINISHED), false, what);
		assert.equal(page.load(), null, what);
	}
});

test('save refuses rows or a time it could not load back', () => {
	const storage = new MemoryStorage();
	const page = withStorage(storage);
	assert.equal(page.save([{ name: 'web' }], FINISHED), false);
	assert.equal(page.save(ROWS, NaN), false);
	assert.equal(page.save('rows', FINISHED), false);
	assert.equal(storage.items.size, 0);
});

test('a cancelled check is kept unless it finished no container', () => {
	const storage = new MemoryStorage();
	const page = withStorage(storage);
	const cancelled = { status: 'error', error: 'Check cancelled', cancelled: true };
	const partly = [ROWS[0], row('db', 'error', cancelled)];

	assert.equal(page.save(partly, FINISHED), true);
	assert.deepEqual(withStorage(storage).load(), {
		source: 'browser', finishedAt: FINISHED, cancelled: true, rows: partly
	});

	/* nothing finished: the earlier, complete result stays */
	assert.equal(page.save([row('web', 'error', cancelled), row('db', 'error', cancelled)], FINISHED + 1000), false);
	assert.equal(withStorage(storage).load().finishedAt, FINISHED);
});

test('fromRouter takes a finished job, its time from seconds to milliseconds', () => {
	const page = load();
	const job = { jobId: 'b4'.repeat(16), complete: true, startedAt: 1767225590.5, finishedAt: 1767225600.25,
		progress: { total: 3, done: 3, pulling: [] }, pulls: 3, results: ROWS };

	assert.deepEqual(page.fromRouter(job), { source: 'router', finishedAt: FINISHED, cancelled: false, rows: ROWS });
	assert.deepEqual(page.fromRouter({ ...job, results: [...ROWS, { name: 'x', status: 'odd' }] }).rows, ROWS);
	assert.equal(page.fromRouter({ jobId: job.jobId, complete: false, progress: { total: 3, done: 1 } }), null);
	assert.equal(page.fromRouter({ ...job, results: undefined, error: { code: 'internal', message: 'the check worker died' } }), null);
	assert.equal(page.fromRouter(null), null);
	assert.equal(page.fromRouter(5), null);
});

test('newer picks the check that finished later', () => {
	const page = load();
	const browser = { source: 'browser', finishedAt: 2000, cancelled: false, rows: [] };
	const router = { source: 'router', finishedAt: 1000, cancelled: false, rows: [] };
	const later = { ...router, finishedAt: 3000 };

	assert.equal(page.newer(browser, router), browser);
	assert.equal(page.newer(router, browser), browser);
	assert.equal(page.newer(browser, later), later);
	assert.equal(page.newer(null, router), router);
	assert.equal(page.newer(browser, null), browser);
	assert.equal(page.newer(null, null), null);
	assert.equal(page.newer(browser, { ...router, finishedAt: 2000 }), browser);
});
