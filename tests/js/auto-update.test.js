'use strict';
/* Unit tests of the real podman/auto-update.js, loaded through a LuCI stand-in. */

const test = require('node:test');
const assert = require('node:assert/strict');

const { requireModule, makeRpc, baseclass } = require('./luci-standin.js');
const { FakePodman, BUSY_MESSAGE } = require('./fake-podman.js');

const OLD_ID = 'a'.repeat(64);

function setup(images = {}, settings) {
	const fake = new FakePodman(images, settings);
	const backend = (object, method, args) => fake.handle(object, method, args);
	const au = requireModule('podman.auto-update', { baseclass, rpc: makeRpc(backend) });
	const clock = { now: 0, ticks: 0 };
	au.now = () => clock.now;
	au.delay = (ms) => {
		clock.now += ms;
		clock.ticks++;
		return new Promise((resolve) => setImmediate(resolve));
	};
	return { fake, au, clock };
}

function container(name, image, imageId = OLD_ID) {
	return { id: `id-${name}`, name, image, imageId, running: true, state: 'running', labels: {} };
}

function refs(n) {
	return Array.from({ length: n }, (_, i) => `reg.example:5000/app${i + 1}:1`);
}

/** Resolve once predicate() is true; reject after timeoutMs of real time, so a test fails, never hangs. */
function until(predicate, what, timeoutMs = 10000) {
	const deadline = Date.now() + timeoutMs;
	return new Promise((resolve, reject) => {
		const poll = () => {
			if (predicate())
				resolve();
			else if (Date.now() > deadline)
				reject(new Error(`gave up waiting for ${what}`));
			else
				setImmediate(poll);
		};
		poll();
	});
}

function untilCalls(fake, method, count) {
	return until(() => fake.callsOf(method).length >= count, `${count} ${method} calls`);
}

test('batchArray splits into chunks of the batch size', () => {
	const { au } = setup();
	assert.deepEqual(au.batchArray(['a', 'b', 'c', 'd', 'e'], 2), [['a', 'b'], ['c', 'd'], ['e']]);
	assert.deepEqual(au.batchArray(['a', 'b', 'c', 'd'], 4), [['a', 'b', 'c', 'd']]);
	assert.deepEqual(au.batchArray(['a', 'b'], 1), [['a'], ['b']]);
	assert.deepEqual(au.batchArray([], 4), []);
});

test('batchArray rejects a size below 1 or not a whole number', () => {
	const { au } = setup();
	for (const size of [0, -1, 1.5, NaN, '2', undefined])
		assert.throws(() => au.batchArray(['a'], size), RangeError, `size ${String(size)}`);
});

test('classify matches the backend rules', () => {
	const { au } = setup();
	const digest = 'sha256:' + '4f'.repeat(32);
	const cases = {
		[`ghcr.io/org/app@${digest}`]: 'pinned',
		[`ghcr.io/org/app:1.2@${digest}`]: 'pinned',
		'localhost/tools:dev': 'local_only',
		'localhost/tools': 'local_only',
		['sha256:' + 'ab'.repeat(32)]: 'local_only',
		['ab'.repeat(32)]: 'local_only',
		'0b4c6f2e7d1a': 'local_only',
		'Not A Reference': 'local_only',
		'docker.io/library/nginx:1.27': null,
		'library/nginx': null,
		'nginx': null,
		'localhost:5000/app:1': null,
		'127.0.0.1:5000/team/app:latest': null
	};
	for (const [image, expected] of Object.entries(cases))
		assert.equal(au.classify(image), expected, image);
});

test('unwrap turns ubus statuses and error objects into errors', () => {
	const { au } = setup();
	assert.deepEqual(au.unwrap({ sessionId: 'x' }), { sessionId: 'x' });
	assert.throws(() => au.unwrap(7), { message: 'Request timeout (ubus status 7)', code: 'ubus_7' });
	assert.throws(() => au.unwrap({ error: { code: 'busy', message: 'too many pulls' } }),
		{ message: 'too many pulls', code: 'busy' });
	assert.throws(() => au.unwrap(null), /Malformed reply/);
});

test('loadSettings takes parallelPulls and the pull timeout from the backend', async () => {
	const { au } = setup({}, { parallelPulls: 2, pullTimeout: 300 });
	assert.equal(au.STALL_TIMEOUT, 630000);
	const settings = await au.loadSettings();
	assert.equal(settings.parallelPulls, 2);
	assert.equal(au.PARALLEL_PULLS, 2);
	assert.equal(au.STALL_TIMEOUT, 330000);
});

test('loadSettings keeps the default for values out of range', async () => {
	for (const value of [0, 17, 'x', 2.5, null]) {
		const { au } = setup({}, { parallelPulls: value });
		await au.loadSettings();
		assert.equal(au.PARALLEL_PULLS, 4, String(value));
	}
});

test('loadSettings rejects on a backend error and keeps the default', async () => {
	const { au, fake } = setup();
	fake.settings = { error: { code: 'config_invalid', message: 'parallel_pulls must be 1-16' } };
	await assert.rejects(au.loadSettings(), /parallel_pulls must be 1-16/);
	assert.equal(au.PARALLEL_PULLS, 4);
});

test('pullMultipleImages starts every pull before any has answered', async () => {
	const fake = new FakePodman();
	let release;
	const gate = new Promise((resolve) => { release = resolve; });
	const backend = (object, method, args) => (method === 'pullStream'
		? gate.then(() => fake.handle(object, method, args))
		: fake.handle(object, method, args));
	const issued = [];
	const rpc = makeRpc((o, m, a) => { issued.push(a.image); return backend(o, m, a); });
	const au = requireModule('podman.auto-update', { baseclass, rpc });

	const pending = au.pullMultipleImages(refs(4));
	await new Promise((resolve) => setImmediate(resolve));
	assert.deepEqual(issued, refs(4));
	assert.equal(fake.callsOf('pullStream').length, 0);

	release();
	const started = await pending;
	assert.deepEqual(started.map((s) => s.image), refs(4));
	assert.ok(started.every((s) => /^[0-9a-f]{32}$/.test(s.sessionId) && s.error === null));
});

test('pullMultipleImages turns a pull that cannot start into a failed entry', async () => {
	const [a, b, c] = refs(3);
	const { au } = setup({ [b]: { startError: 'not a valid image reference' }, [c]: { startStatus: 6 } });
	const started = await au.pullMultipleImages([a, b, c]);
	assert.match(started[0].sessionId, /^[0-9a-f]{32}$/);
	assert.deepEqual(started[1], { image: b, sessionId: null, error: 'not a valid image reference', busy: false });
	assert.deepEqual(started[2], { image: c, sessionId: null, error: 'Permission denied (ubus status 6)', busy: false });
});

test('waitForAllPulls makes one multi-session pullStatus call per tick', async () => {
	const images = refs(4);
	const { au, fake, clock } = setup({
		[images[0]]: { steps: 1 }, [images[1]]: { steps: 2 },
		[images[2]]: { steps: 3 }, [images[3]]: { steps: 5 }
	});
	const replies = [];
	const handle = fake.handle;
	fake.handle = (o, m, a) => {
		const reply = handle(o, m, a);
		if (m === 'pullStatus')
			replies.push(reply);
		return reply;
	};

	const results = await au.waitForAllPulls(await au.pullMultipleImages(images));

	const calls = fake.callsOf('pullStatus');
	assert.equal(calls.length, 5);
	assert.equal(clock.ticks, 5);
	assert.deepEqual(calls.map((c) => c.args.sessions.length), [4, 3, 2, 1, 1]);
	assert.ok(calls[0].args.sessions.every((s) => s.offset === 0));
	for (let i = 1; i < calls.length; i++)
		for (const sent of calls[i].args.sessions) {
			const previous = replies[i - 1].sessions.find((e) => e.sessionId === sent.sessionId);
			assert.equal(sent.offset, previous.offset, `tick ${i + 1}`);
			assert.ok(sent.offset > 0);
		}
	assert.deepEqual(results.map((r) => [r.image, r.success, r.error]), images.map((i) => [i, true, null]));
});

test('waitForAllPulls keeps the input order whatever finishes first', async () => {
	const images = refs(3);
	const { au } = setup({ [images[0]]: { steps: 4 }, [images[1]]: { steps: 1 }, [images[2]]: { steps: 2 } });
	const results = await au.waitForAllPulls(await au.pullMultipleImages(images));
	assert.deepEqual(results.map((r) => r.image), images);
});

test('waitForAllPulls reports Podman\'s error for a failed pull and an unknown session', async () => {
	const [a, b] = refs(2);
	const { au } = setup({ [a]: { steps: 2, fail: 'reading manifest 1 in reg/app1: manifest unknown' } });
	const started = await au.pullMultipleImages([a, b]);
	started.push({ image: 'reg/gone:1', sessionId: 'f'.repeat(32), error: null });
	const results = await au.waitForAllPulls(started);
	assert.deepEqual(results.map((r) => [r.success, r.error]), [
		[false, 'reading manifest 1 in reg/app1: manifest unknown'],
		[true, null],
		[false, `no pull session ${'f'.repeat(32)}`]
	]);
});

test('waitForAllPulls stops a stalled pull and lets slow large ones finish', async () => {
	const [big, stuck, small] = refs(3);
	const { au, fake } = setup({
		[big]: { steps: 40, slowEvery: 5 },
		[stuck]: { stall: true },
		[small]: { steps: 2 }
	});
	au.STALL_TIMEOUT = 8000;
	const started = await au.pullMultipleImages([big, stuck, small]);
	const results = await au.waitForAllPulls(started);

	assert.deepEqual(fake.callsOf('pullStop').map((c) => c.args.sessionId), [started[1].sessionId]);
	assert.equal(fake.sessions.get(started[1].sessionId).stopped, true);
	assert.equal(results[0].success, true);
	assert.deepEqual([results[1].success, results[1].error],
		[false, 'No progress for 8 seconds; the pull was given up']);
	assert.equal(results[2].success, true);
});

test('waitForAllPulls does not call a pull stalled after a long pause of the tab', async () => {
	const [a] = refs(1);
	const { au, clock } = setup({ [a]: { steps: 12, slowEvery: 3 } });
	au.STALL_TIMEOUT = 8000;
	const delay = au.delay;
	au.delay = (ms) => (clock.ticks === 4 ? (clock.now += 3600000, delay(ms)) : delay(ms));
	const results = await au.waitForAllPulls(await au.pullMultipleImages([a]));
	assert.deepEqual([results[0].success, results[0].error], [true, null]);
});

test('waitForAllPulls rides over a failed tick and gives up after many', async () => {
	const [a] = refs(1);
	const first = setup({ [a]: { steps: 2 } });
	first.fake.statusOverrides.push(7, { error: { code: 'internal', message: 'boom' } });
	const ok = await first.au.waitForAllPulls(await first.au.pullMultipleImages([a]));
	assert.equal(ok[0].success, true);
	assert.equal(first.fake.callsOf('pullStatus').length, 4);

	const second = setup({ [a]: { steps: 2 } });
	second.fake.statusOverrides.push(...Array(10).fill(5));
	const started = await second.au.pullMultipleImages([a]);
	const failed = await second.au.waitForAllPulls(started);
	assert.deepEqual([failed[0].success, failed[0].error],
		[false, 'Could not follow the pull: No data received (ubus status 5)']);
	assert.deepEqual(second.fake.callsOf('pullStop').map((c) => c.args.sessionId), [started[0].sessionId]);
});

test('checkForUpdates returns backend-shaped rows and pulls each image once', async () => {
	const [web, db, shared] = refs(3);
	const { au, fake } = setup({
		[web]: { id: 'sha256:' + 'c'.repeat(64) },
		[db]: { id: 'sha256:' + 'b'.repeat(64) },
		[shared]: { id: 'sha256:' + 'e'.repeat(64) }
	});
	const digest = 'sha256:' + '5e'.repeat(32);
	const containers = [
		container('web', web),
		container('db', db, 'sha256:' + 'B'.repeat(64)),
		container('pin', `reg.example:5000/pin@${digest}`),
		container('tool', 'localhost/tools:dev'),
		container('bare', 'sha256:' + '1'.repeat(64)),
		container('one', shared, 'e'.repeat(64)),
		container('two', shared)
	];

	const rows = await au.checkForUpdates(containers);

	assert.deepEqual(fake.callsOf('pullStream').map((c) => c.args.image), [web, db, shared]);
	/* every pull reported its image id: no inspect, no Python with requests */
	assert.deepEqual(fake.callsOf('inspect'), []);
	const row = (c, status, newImageId, error = null) => ({
		name: c.name, image: c.image, running: true, hasUpdate: status === 'update_available',
		status, error, currentImageId: c.imageId.replace(/^sha256:/, ''), newImageId
	});
	assert.deepEqual(rows, [
		row(containers[0], 'update_available', 'c'.repeat(64)),
		row(containers[1], 'up_to_date', 'b'.repeat(64)),
		row(containers[2], 'pinned', null),
		row(containers[3], 'local_only', null),
		row(containers[4], 'local_only', null),
		row(containers[5], 'up_to_date', 'e'.repeat(64)),
		row(containers[6], 'update_available', 'e'.repeat(64))
	]);
});

test('checkForUpdates isolates one failed pull from the rest of its batch', async () => {
	const images = refs(4);
	const podmanError = 'initializing source docker://reg.example:5000/app2:1: reading manifest 1: manifest unknown';
	const { au } = setup({ [images[1]]: { steps: 2, fail: podmanError }, [images[3]]: { steps: 3 } });
	const rows = await au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)));
	assert.deepEqual(rows.map((r) => r.status), ['update_available', 'error', 'update_available', 'update_available']);
	assert.equal(rows[1].error, podmanError);
	assert.equal(rows[1].newImageId, null);
	assert.equal(rows[1].hasUpdate, false);
});

test('checkForUpdates moves on after a batch where every pull failed', async () => {
	const images = refs(4);
	const { au, fake } = setup({
		[images[0]]: { startError: 'registry unreachable' },
		[images[1]]: { fail: 'unauthorized: authentication required' }
	}, { parallelPulls: 2 });
	await au.loadSettings();
	const batches = [];
	const rows = await au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)),
		(c, idx, total, batchNum, batchTotal, row) => { if (!row) batches.push([c.name, batchNum, batchTotal]); });

	assert.deepEqual(batches, [['c0', 1, 2], ['c1', 1, 2], ['c2', 2, 2], ['c3', 2, 2]]);
	assert.deepEqual(fake.callsOf('pullStream').map((c) => c.args.image), images);
	assert.deepEqual(rows.map((r) => [r.status, r.error]), [
		['error', 'registry unreachable'],
		['error', 'unauthorized: authentication required'],
		['update_available', null],
		['update_available', null]
	]);
});

test('checkForUpdates inspects only pulls that reported no image id', async () => {
	const [a, b, c] = refs(3);
	const { au, fake } = setup({
		[a]: { noImageId: true, id: 'sha256:' + 'd'.repeat(64) },
		[b]: { id: 'sha256:' + 'f'.repeat(64) }
	});
	const rows = await au.checkForUpdates([container('a', a), container('b', b), container('c', c)]);
	assert.deepEqual(fake.callsOf('inspect').map((x) => x.args.image), [a]);
	assert.deepEqual(rows.map((r) => [r.status, r.newImageId]), [
		['update_available', 'd'.repeat(64)],
		['update_available', 'f'.repeat(64)],
		['update_available', rows[2].newImageId]
	]);
	assert.ok(rows[2].newImageId);
});

test('checkForUpdates reports an inspect failure as that container\'s error', async () => {
	const [a, b] = refs(2);
	const { au } = setup({ [a]: { noImageId: true, inspectError: 'image not known' } });
	const rows = await au.checkForUpdates([container('a', a), container('b', b)]);
	assert.deepEqual(rows.map((r) => [r.status, r.error]), [
		['error', 'Inspecting the pulled image failed: image not known'],
		['update_available', null]
	]);
});

for (const count of [1, 4, 5, 11]) {
	test(`checkForUpdates reports progress with batch numbers for ${count} containers`, async () => {
		const { au } = setup();
		const containers = refs(count).map((img, i) => container(`c${i + 1}`, img));
		const calls = [];
		await au.checkForUpdates(containers, (c, idx, total, batchNum, batchTotal, row) => {
			calls.push({ name: c.name, idx, total, batchNum, batchTotal, done: row !== undefined });
		});

		const batchTotal = Math.ceil(count / 4);
		const expected = [];
		for (let b = 1; b <= batchTotal; b++)
			for (const done of [false, true])
				for (let idx = (b - 1) * 4 + 1; idx <= Math.min(b * 4, count); idx++)
					expected.push({ name: `c${idx}`, idx, total: count, batchNum: b, batchTotal, done });
		assert.deepEqual(calls, expected);
	});
}

test('checkForUpdates reports containers classified without a pull as batch 0', async () => {
	const [a] = refs(1);
	const { au } = setup();
	const calls = [];
	await au.checkForUpdates([container('a', a), container('tool', 'localhost/tool:1')],
		(c, idx, total, batchNum, batchTotal, row) => calls.push([c.name, idx, batchNum, batchTotal, row && row.status]));
	assert.deepEqual(calls, [
		['tool', 2, 0, 1, 'local_only'],
		['a', 1, 1, 1, undefined],
		['a', 1, 1, 1, 'update_available']
	]);
});

test('checkForUpdates polls once per tick for all sessions of a batch', async () => {
	const images = refs(11);
	const specs = Object.fromEntries(images.map((img, i) => [img, { steps: 1 + (i % 4) }]));
	const { au, fake, clock } = setup(specs);
	await au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)));
	assert.equal(fake.callsOf('pullStatus').length, clock.ticks);
	assert.ok(fake.callsOf('pullStatus').every((c) => c.args.sessions.length >= 1 && c.args.sessions.length <= 4));
	assert.equal(fake.callsOf('pullStream').length, 11);
});

test('cancel stops the outstanding pulls and starts no further batch', async () => {
	const images = refs(6);
	const { au, fake } = setup(Object.fromEntries(images.map((img) => [img, { steps: 100 }])));
	const check = au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)));
	await untilCalls(fake, 'pullStatus', 2);

	assert.equal(await au.cancel(), true);
	const rows = await check;

	const sessions = [...fake.sessions.keys()];
	assert.equal(sessions.length, 4);
	assert.deepEqual(fake.callsOf('pullStop').map((c) => c.args.sessionId).sort(), sessions.sort());
	assert.ok(sessions.every((id) => fake.sessions.get(id).stopped));
	assert.equal(fake.callsOf('pullStream').length, 4);
	assert.deepEqual(rows.map((r) => [r.status, r.error, r.cancelled]), images.map(() => ['error', 'Check cancelled', true]));
	assert.equal(await au.cancel(), false);
});

test('cancel while the pulls are starting stops them once they have started', async () => {
	const images = refs(4);
	const fake = new FakePodman(Object.fromEntries(images.map((img) => [img, { steps: 100 }])));
	let release;
	const gate = new Promise((resolve) => { release = resolve; });
	const rpc = makeRpc((o, m, a) => (m === 'pullStream'
		? gate.then(() => fake.handle(o, m, a)) : fake.handle(o, m, a)));
	const au = requireModule('podman.auto-update', { baseclass, rpc });
	au.delay = () => new Promise((resolve) => setImmediate(resolve));

	const check = au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)));
	await new Promise((resolve) => setImmediate(resolve));
	assert.equal(await au.cancel(), true);
	release();
	const rows = await check;

	const sessions = [...fake.sessions.keys()];
	assert.equal(sessions.length, 4);
	assert.deepEqual(fake.callsOf('pullStop').map((c) => c.args.sessionId).sort(), sessions.sort());
	assert.equal(fake.callsOf('pullStatus').length, 0);
	assert.ok(rows.every((r) => r.status === 'error' && r.error === 'Check cancelled' && r.cancelled === true));
});

test('a stalled pull that cannot be stopped says so', async () => {
	const [stuck] = refs(1);
	const { au, fake } = setup({ [stuck]: { stall: true } });
	au.STALL_TIMEOUT = 5000;
	const handle = fake.handle;
	fake.handle = (o, m, a) => (m === 'pullStop' ? 6 : handle(o, m, a));
	const [result] = await au.waitForAllPulls(await au.pullMultipleImages([stuck]));
	assert.deepEqual([result.success, result.error], [false,
		'No progress for 5 seconds; the pull was given up (stopping it failed: Permission denied (ubus status 6))']);
});

test('cancel without a running check does nothing', async () => {
	const { au, fake } = setup();
	assert.equal(await au.cancel(), false);
	assert.equal(fake.calls.length, 0);
});

test('checkForUpdates refuses to run twice at once', async () => {
	const [a] = refs(1);
	const { au } = setup({ [a]: { steps: 3 } });
	const first = au.checkForUpdates([container('a', a)]);
	await assert.rejects(au.checkForUpdates([container('a', a)]), /already running/);
	assert.equal((await first)[0].status, 'update_available');
	assert.equal((await au.checkForUpdates([container('a', a)]))[0].status, 'update_available');
});

test('waitForAllPulls starts a pull refused as busy again on later ticks', async () => {
	const [a, b] = refs(2);
	const { au, fake, clock } = setup({ [a]: { steps: 3 }, [b]: { busyFor: 2, steps: 2 } });
	const started = await au.pullMultipleImages([a, b]);
	assert.deepEqual([started[1].sessionId, started[1].busy, started[1].error], [null, true, BUSY_MESSAGE]);

	const results = await au.waitForAllPulls(started);

	assert.deepEqual(results.map((r) => [r.image, r.success, r.error]), [[a, true, null], [b, true, null]]);
	/* refused at the start and on tick 1, started on tick 2 */
	assert.deepEqual(fake.callsOf('pullStream').map((c) => c.args.image), [a, b, b, b]);
	/* still one status call per tick, for the sessions that exist */
	assert.equal(clock.ticks, 4);
	const idB = fake.callsOf('pullStatus')[2].args.sessions[1].sessionId;
	assert.deepEqual(fake.callsOf('pullStatus').map((c) => c.args.sessions.map((s) => s.sessionId)), [
		[started[0].sessionId], [started[0].sessionId], [started[0].sessionId, idB], [idB]
	]);
	assert.equal(fake.sessions.get(idB).image, b);
});

test('waitForAllPulls gives up on a pull refused as busy for BUSY_TIMEOUT, in the router\'s words', async () => {
	const [a] = refs(1);
	const { au, fake, clock } = setup({ [a]: { busyFor: Infinity } });
	const results = await au.waitForAllPulls(await au.pullMultipleImages([a]));

	assert.deepEqual([results[0].success, results[0].error],
		[false, `No free pull slot on the router for 60 seconds: ${BUSY_MESSAGE}`]);
	assert.equal(clock.now, au.BUSY_TIMEOUT);
	assert.equal(fake.callsOf('pullStream').length, 1 + au.BUSY_TIMEOUT / au.POLL_INTERVAL);
	assert.deepEqual(fake.callsOf('pullStatus'), []);
	assert.deepEqual(fake.callsOf('pullStop'), []);
});

test('waitForAllPulls does not spend the busy time on a long pause of the tab', async () => {
	const [a] = refs(1);
	const { au, clock } = setup({ [a]: { busyFor: 4 } });
	const delay = au.delay;
	au.delay = (ms) => (clock.ticks === 0 ? (clock.now += 3600000, delay(ms)) : delay(ms));
	const results = await au.waitForAllPulls(await au.pullMultipleImages([a]));
	assert.deepEqual([results[0].success, results[0].error], [true, null]);
});

test('cancel ends a pull waiting for a slot without a pullStop', async () => {
	const [a, b] = refs(2);
	const { au, fake } = setup({ [a]: { steps: 100 }, [b]: { busyFor: Infinity } });
	const check = au.checkForUpdates([container('a', a), container('b', b)]);
	await untilCalls(fake, 'pullStream', 3);

	assert.equal(await au.cancel(), true);
	const rows = await check;

	assert.deepEqual(rows.map((r) => [r.status, r.error, r.cancelled]),
		[['error', 'Check cancelled', true], ['error', 'Check cancelled', true]]);
	assert.deepEqual(fake.callsOf('pullStop').map((c) => c.args.sessionId), [...fake.sessions.keys()]);
	assert.equal(fake.sessions.size, 1);
});

test('cancel keeps the rows of containers that finished, in earlier batches and the running one', async () => {
	const images = refs(5);
	const { au, fake } = setup({ [images[3]]: { steps: 100 } }, { parallelPulls: 2 });
	await au.loadSettings();
	const check = au.checkForUpdates(images.map((img, i) => container(`c${i}`, img)));
	/* tick 1 finishes batch 1, tick 2 finishes c2 of batch 2; c3 still pulls */
	await untilCalls(fake, 'pullStatus', 3);

	assert.equal(await au.cancel(), true);
	const rows = await check;

	assert.deepEqual(rows.map((r) => [r.name, r.status, r.cancelled === true]), [
		['c0', 'update_available', false],
		['c1', 'update_available', false],
		['c2', 'update_available', false],
		['c3', 'error', true],
		['c4', 'error', true]
	]);
	assert.equal(fake.callsOf('pullStream').length, 4);
});

test('cancel keeps a pull the last answer reports done, and calls one its stop ended cancelled', async () => {
	const [a, b] = refs(2);
	const fake = new FakePodman({ [a]: { steps: 100 }, [b]: { steps: 100 } });
	const issued = [];
	let release;
	const gate = new Promise((resolve) => { release = resolve; });
	const rpc = makeRpc((o, m, args) => {
		issued.push(m);
		return m === 'pullStatus' ? gate.then(() => fake.handle(o, m, args)) : fake.handle(o, m, args);
	});
	const au = requireModule('podman.auto-update', { baseclass, rpc });
	au.delay = () => new Promise((resolve) => setImmediate(resolve));

	const check = au.checkForUpdates([container('a', a), container('b', b)]);
	await until(() => issued.includes('pullStatus'), 'a pullStatus call');
	/* the answer that is on its way: a finished, b ended by our own pullStop */
	const [idA, idB] = [...fake.sessions.keys()];
	fake.statusOverrides.push({ sessions: [
		{ sessionId: idA, image: a, output: 'done\n', offset: 5, complete: true, success: true, imageId: 'c'.repeat(64) },
		{ sessionId: idB, image: b, output: '', offset: 0, complete: true, success: false, error: 'pull stopped' }
	] });
	assert.equal(await au.cancel(), true);
	release();
	const rows = await check;

	assert.deepEqual(rows.map((r) => [r.status, r.error, r.newImageId, r.cancelled === true]), [
		['update_available', null, 'c'.repeat(64), false],
		['error', 'Check cancelled', null, true]
	]);
});

test('cancelledRow keeps the backend\'s status and marks the row', () => {
	const { au } = setup();
	assert.deepEqual(au.cancelledRow(container('web', 'reg/web:1', 'sha256:' + 'a'.repeat(64))), {
		name: 'web', image: 'reg/web:1', running: true, hasUpdate: false, status: 'error',
		error: 'Check cancelled', currentImageId: 'a'.repeat(64), newImageId: null, cancelled: true
	});
});

const JOB_ID = 'b4'.repeat(16);
const JOB_ROWS = [{
	name: 'web', image: 'reg/web:1', running: true, hasUpdate: false, status: 'up_to_date',
	error: null, currentImageId: OLD_ID, newImageId: OLD_ID
}];

test('followBackendCheck polls checkStatus once per tick until the router\'s check completes', async () => {
	const { au, fake, clock } = setup();
	const job = fake.addJob(JOB_ID, 3, JOB_ROWS);
	const seen = [];

	const finished = await au.followBackendCheck(job, (j) => seen.push([j.progress.done, j.progress.total, j.complete]));

	assert.deepEqual(seen, [[1, 3, false], [2, 3, false], [3, 3, true]]);
	assert.equal(clock.ticks, 3);
	assert.deepEqual(fake.callsOf('checkStatus').map((c) => c.args), [1, 2, 3].map(() => ({ jobId: JOB_ID })));
	assert.deepEqual([finished.complete, finished.finishedAt, finished.results], [true, 1767225600, JOB_ROWS]);

	assert.equal(await au.followBackendCheck(finished), finished);
	assert.equal(fake.callsOf('checkStatus').length, 3);
});

test('followBackendCheck rides over failed calls and rejects for an unknown job or after many', async () => {
	const first = setup();
	const job = first.fake.addJob(JOB_ID, 2, JOB_ROWS);
	const handle = first.fake.handle;
	let failing = 2;
	first.fake.handle = (o, m, a) => (m === 'checkStatus' && failing-- > 0 ? 7 : handle(o, m, a));
	assert.equal((await first.au.followBackendCheck(job)).complete, true);
	assert.equal(first.clock.ticks, 4);

	const second = setup();
	await assert.rejects(second.au.followBackendCheck({ jobId: 'f'.repeat(32), complete: false }),
		{ code: 'not_found', message: `no check job ${'f'.repeat(32)} (finished ones expire)` });
	assert.equal(second.fake.callsOf('checkStatus').length, 1);

	const third = setup();
	third.fake.handle = (o, m, a) => { third.fake.calls.push({ object: o, method: m, args: a }); return 5; };
	await assert.rejects(third.au.followBackendCheck({ jobId: JOB_ID, complete: false }),
		/No data received \(ubus status 5\)/);
	assert.equal(third.clock.ticks, third.au.MAX_STATUS_FAILURES);
});
