'use strict';
/*
 * A scripted stand-in for the podman / podman.image rpcd plugins, shaped
 * like docs/API.md, for unit tests of auto-update.js. Each pullStatus call
 * moves every session it names one step forward.
 *
 * images: { '<ref>': { steps, fail, stall, startError, startStatus, busyFor,
 *                      id, inspectError, noImageId, slowEvery } }
 *   steps        pullStatus calls until the pull is complete (default 1)
 *   fail         Podman's error text when the pull ends
 *   stall        never produce output nor complete
 *   slowEvery    produce output only on every Nth step (a large image)
 *   startError   pullStream answers {error: {code, message}}
 *   startStatus  pullStream answers a numeric ubus status
 *   busyFor      pullStream answers {error: {code: 'busy'}} this many times
 *                (Infinity: always), as the backend does when its cap of
 *                pulls is reached
 *   id           the image id the pull reports and inspect returns
 *   noImageId    pullStatus leaves imageId out (an older backend)
 *
 * addJob(jobId, total, results) scripts a check job that the router runs by
 * itself: each checkStatus call for it finishes one more image, and once all
 * are done it is complete with those results.
 */

const OUTPUT_LIMIT = 65536;
const BUSY_MESSAGE = '8 pulls are already running; try again when one finishes';

class FakePodman {
	constructor(images = {}, settings = { parallelPulls: 4 }) {
		this.images = images;
		this.settings = settings;
		this.sessions = new Map();
		this.calls = [];
		this.statusOverrides = [];
		this.busyAnswers = new Map();
		this.jobs = new Map();
		this.clock = () => 1767225600;
		this.nextId = 1;
		this.handle = this.handle.bind(this);
	}

	callsOf(method) {
		return this.calls.filter((c) => c.method === method);
	}

	handle(object, method, args) {
		this.calls.push({ object, method, args });
		const key = `${object}.${method}`;
		switch (key) {
		case 'podman.settings': return { socket: '/run/podman/podman.sock', stateDir: '/tmp/x', ...this.settings };
		case 'podman.checkStatus': return this.checkStatus(args);
		case 'podman.image.pullStream': return this.pullStream(args);
		case 'podman.image.pullStatus': return this.pullStatus(args);
		case 'podman.image.pullStop': return this.pullStop(args);
		case 'podman.image.inspect': return this.inspect(args);
		default: return 3;
		}
	}

	spec(image) {
		return { steps: 1, id: `sha256:${'0'.repeat(60)}${image.length.toString(16).padStart(4, '0')}`, ...this.images[image] };
	}

	pullStream({ image }) {
		const spec = this.spec(image);
		if (spec.startStatus)
			return spec.startStatus;
		if (spec.startError)
			return { error: { code: 'invalid_argument', message: spec.startError } };
		const refused = this.busyAnswers.get(image) || 0;
		if (spec.busyFor && refused < spec.busyFor) {
			this.busyAnswers.set(image, refused + 1);
			return { error: { code: 'busy', message: BUSY_MESSAGE } };
		}
		const sessionId = (this.nextId++).toString(16).padStart(32, '0');
		this.sessions.set(sessionId, { image, spec, step: 0, output: '', complete: false, success: false, error: null, stopped: false });
		return { sessionId };
	}

	advance(session) {
		if (session.complete || session.spec.stall)
			return;
		session.step++;
		if (!session.spec.slowEvery || session.step % session.spec.slowEvery === 0)
			session.output += `Copying blob ${session.step} of ${session.image}\n`;
		if (session.step >= session.spec.steps) {
			session.complete = true;
			session.success = !session.spec.fail;
			session.error = session.spec.fail || null;
			session.output += session.success ? `${session.spec.id}\n` : `Error: ${session.spec.fail}\n`;
		}
	}

	reply(sessionId, offset) {
		const session = this.sessions.get(sessionId);
		if (!session)
			return { sessionId, error: { code: 'not_found', message: `no pull session ${sessionId}` } };
		this.advance(session);
		const end = Math.min(session.output.length, offset + OUTPUT_LIMIT);
		const entry = {
			sessionId, image: session.image, output: session.output.slice(offset, end),
			offset: end, complete: session.complete, success: session.success
		};
		if (session.error)
			entry.error = session.error;
		if (session.success && !session.spec.noImageId)
			entry.imageId = session.spec.id.replace(/^sha256:/, '');
		return entry;
	}

	pullStatus(args) {
		if (this.statusOverrides.length)
			return this.statusOverrides.shift();
		if (Array.isArray(args.sessions))
			return { sessions: args.sessions.map((s) => this.reply(s.sessionId, s.offset)) };
		return this.reply(args.sessionId, args.offset);
	}

	pullStop({ sessionId }) {
		const session = this.sessions.get(sessionId);
		if (!session)
			return { error: { code: 'not_found', message: `no pull session ${sessionId}` } };
		if (!session.complete) {
			session.complete = true;
			session.stopped = true;
			session.error = 'pull stopped';
		}
		return { sessionId, image: session.image, output: '', offset: session.output.length,
			complete: true, success: session.success, error: session.error };
	}

	addJob(jobId, total, results) {
		const job = { jobId, complete: false, startedAt: this.clock(), progress: { total, done: 0, pulling: [] } };
		this.jobs.set(jobId, { job, results });
		return { ...job, progress: { ...job.progress } };
	}

	checkStatus({ jobId }) {
		const entry = this.jobs.get(jobId);
		if (!entry)
			return { error: { code: 'not_found', message: `no check job ${jobId} (finished ones expire)` } };
		const { job, results } = entry;
		if (!job.complete) {
			job.progress.done++;
			if (job.progress.done >= job.progress.total)
				Object.assign(job, { complete: true, finishedAt: this.clock(), pulls: job.progress.total, results });
		}
		return JSON.parse(JSON.stringify(job));
	}

	inspect({ image }) {
		const spec = this.spec(image);
		if (spec.inspectError)
			return { error: { code: 'podman_error', message: spec.inspectError } };
		const pulled = [...this.sessions.values()].some((s) => s.image === image && s.success);
		if (!pulled)
			return { error: { code: 'not_found', message: `image not known: ${image}` } };
		return { Id: spec.id.replace(/^sha256:/, ''), RepoTags: [image], RepoDigests: [], Digest: 'sha256:' + 'd'.repeat(64) };
	}
}

module.exports = { FakePodman, BUSY_MESSAGE };
