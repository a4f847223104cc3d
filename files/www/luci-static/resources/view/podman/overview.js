'use strict';
'require view';
'require dom';
'require ui';
'require rpc';
'require podman.auto-update as autoUpdate';
'require podman.last-check as lastCheck';

/*
 * Podman containers and their image updates: lists the containers, checks
 * them for newer images in parallel batches (podman/auto-update.js) and
 * shows which batch is being pulled, then the result of every container.
 * The last check survives a reload (podman/last-check.js): the page shows
 * the newer of this browser's last check and the router's.
 */

var callContainers = rpc.declare({
	object: 'podman',
	method: 'containers'
});

var callCheckStatus = rpc.declare({
	object: 'podman',
	method: 'checkStatus'
});

/* kind: a row's status, 'cancelled' (see displayStatus) or a state of the page */
function statusText(kind) {
	switch (kind) {
	case 'update_available': return _('Update available');
	case 'up_to_date': return _('Up to date');
	case 'pinned': return _('Pinned');
	case 'local_only': return _('Local only');
	case 'error': return _('Error');
	case 'cancelled': return _('Not checked (cancelled)');
	case 'checking': return _('Checking…');
	case 'waiting': return _('Waiting');
	default: return _('Not checked');
	}
}

/*
 * What a row shows: a container that a cancel left unfinished was not
 * checked, which is no failure; the row itself keeps the backend's status.
 */
function displayStatus(row) {
	return row.cancelled === true ? 'cancelled' : row.status;
}

function shortId(id) {
	return String(id || '').replace(/^sha256:/, '').substring(0, 12);
}

function detailText(row) {
	switch (displayStatus(row)) {
	case 'update_available': return _('New image %s').format(shortId(row.newImageId));
	case 'up_to_date': return _('Image %s').format(shortId(row.newImageId || row.currentImageId));
	case 'pinned': return _('Pinned to a digest, so it never changes');
	case 'local_only': return _('Built or stored locally; there is nothing to pull');
	case 'error': return row.error || '';
	default: return '';
	}
}

/* The "Last check" line; took (seconds) only right after this browser's check. */
function checkedText(check, took) {
	var when = new Date(check.finishedAt).toLocaleString();

	if (check.source == 'router')
		return _('Last check: %s, on the router').format(when);

	if (took != null)
		return (check.cancelled
			? _('Last check: %s, from this browser (cancelled after %d s)')
			: _('Last check: %s, from this browser (took %d s)')).format(when, took);

	return (check.cancelled
		? _('Last check: %s, from this browser (cancelled)')
		: _('Last check: %s, from this browser')).format(when);
}

function byName(a, b) {
	return (a.name < b.name) ? -1 : (a.name > b.name) ? 1 : 0;
}

return view.extend({
	handleSaveApply: null,
	handleSave: null,
	handleReset: null,

	load: function() {
		return Promise.all([
			callContainers().then(autoUpdate.unwrap).then(function(reply) {
				return Array.isArray(reply.containers) ? reply.containers : [];
			}).catch(L.bind(function(err) {
				this.notify(_('Could not list the containers: %s').format(err.message));
				return null;
			}, this)),
			autoUpdate.loadSettings().catch(L.bind(function(err) {
				this.notify(_('Could not read the settings, checking %d images at a time: %s')
					.format(autoUpdate.PARALLEL_PULLS, err.message), 'warning');
				return null;
			}, this)),
			callCheckStatus().then(L.bind(function(job) {
				/* a job that failed as a whole still carries its jobId */
				if (job != null && typeof(job) == 'object' && job.jobId && job.error) {
					this.notify(_('The check on the router failed: %s')
						.format(autoUpdate.errorText(job.error)), 'warning');
					return null;
				}

				return autoUpdate.unwrap(job);
			}, this)).catch(L.bind(function(err) {
				/* no check has run on the router yet: nothing to show */
				if (err.code != 'not_found')
					this.notify(_('Could not read the last check: %s').format(err.message), 'warning');

				return null;
			}, this)),
			lastCheck.load()
		]);
	},

	render: function(data) {
		this.containers = (data[0] || []).slice().sort(byName);
		this.rowNodes = {};
		this.byName = {};

		var table = E('table', { 'class': 'table', 'id': 'podman-containers' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, [ _('Container') ]),
				E('th', { 'class': 'th' }, [ _('Image') ]),
				E('th', { 'class': 'th' }, [ _('State') ]),
				E('th', { 'class': 'th' }, [ _('Update status') ]),
				E('th', { 'class': 'th' }, [ _('Details') ])
			])
		]);

		this.containers.forEach(function(c) {
			var tr = E('tr', { 'class': 'tr', 'data-name': c.name, 'data-status': 'unchecked' }, [
				E('td', { 'class': 'td', 'data-title': _('Container') }, [ c.name ]),
				/* a digest-pinned reference is long: let it wrap anywhere */
				E('td', { 'class': 'td', 'data-title': _('Image'), 'style': 'word-break:break-all' }, [ c.image ]),
				E('td', { 'class': 'td', 'data-title': _('State') }, [ c.state || (c.running ? _('running') : _('stopped')) ]),
				E('td', { 'class': 'td podman-status', 'data-title': _('Update status') }, [ statusText('unchecked') ]),
				E('td', { 'class': 'td podman-details', 'data-title': _('Details') }, [])
			]);

			this.rowNodes[c.name] = tr;
			this.byName[c.name] = c;
			table.appendChild(tr);
		}, this);

		if (!this.containers.length)
			table.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td', 'colspan': '5' },
					[ data[0] ? _('There are no containers.') : _('The containers could not be listed.') ])
			]));

		this.checkButton = E('button', {
			'class': 'cbi-button cbi-button-action',
			'id': 'podman-check',
			'disabled': this.containers.length ? null : '',
			'click': ui.createHandlerFn(this, 'handleCheck')
		}, [ _('Check for updates') ]);

		this.cancelButton = E('button', {
			'class': 'cbi-button cbi-button-negative',
			'id': 'podman-cancel',
			'style': 'display:none',
			'click': ui.createHandlerFn(this, 'handleCancel')
		}, [ _('Cancel') ]);

		this.batchNode = E('div', { 'class': 'podman-batch' });
		this.checkingNode = E('div', { 'class': 'podman-checking' });
		this.doneNode = E('div', { 'class': 'podman-done' });
		this.barNode = E('div', { 'style': 'width:0%' });

		this.progressNode = E('div', { 'class': 'podman-progress', 'id': 'podman-progress', 'style': 'display:none' }, [
			this.batchNode,
			this.checkingNode,
			this.doneNode,
			E('div', { 'class': 'cbi-progressbar' }, this.barNode)
		]);

		this.routerNode = E('p', { 'class': 'podman-router-check', 'id': 'podman-router-check', 'style': 'display:none' });
		this.checkedNode = E('p', { 'class': 'podman-checked', 'id': 'podman-checked' }, [ _('Not checked yet.') ]);

		this.root = E('div', { 'id': 'podman-updates', 'data-state': 'idle' }, [
			E('link', { 'rel': 'stylesheet', 'href': L.resource('podman/overview.css') }),
			E('h2', {}, [ _('Podman image updates') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Pulls the image of every container, %d at a time, and tells which containers run an older image than their registry now serves.')
					.format(autoUpdate.PARALLEL_PULLS)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('div', { 'class': 'podman-actions' }, [ this.checkButton, ' ', this.cancelButton ]),
				this.progressNode,
				this.routerNode,
				this.checkedNode,
				table
			])
		]);

		this.shown = null;
		var stored = data[3],
		    router = lastCheck.fromRouter(data[2]),
		    newest = lastCheck.newer(stored, router);

		this.showCheck(newest, null, newest === stored ? router : stored);

		if (data[2] && data[2].complete === false)
			this.followRouterCheck(data[2]);

		return this.root;
	},

	/*
	 * Text goes into nodes inside an array: E() and dom.content() treat a
	 * lone string as markup, and names, images and Podman's messages come
	 * from outside. The node is kept so that the next check can take it down.
	 */
	notify: function(message, severity) {
		var node = ui.addNotification(null, E('p', {}, [ message ]), severity || 'error');

		this.notices = (this.notices || []).concat([ node ]);

		return node;
	},

	/* Take down the notifications this page put up; others stay. */
	clearNotices: function() {
		(this.notices || []).forEach(function(node) {
			if (node && node.parentNode)
				node.parentNode.removeChild(node);
		});

		this.notices = [];
	},

	/*
	 * Show a check's rows and when it ran. A row whose container has since
	 * been recreated (another image id or reference) no longer applies and
	 * leaves that container "Not checked".
	 */
	/*
	 * Show a check's rows; containers it did not cover (a check of a few
	 * containers by name, a cancelled one) keep what an older check found,
	 * where that still applies.
	 */
	showCheck: function(check, took, older) {
		if (!check)
			return;

		var covered = {};

		this.shown = check;
		this.containers.forEach(function(c) { this.showRow({ name: c.name, status: 'unchecked' }); }, this);
		check.rows.filter(this.stillApplies, this).forEach(function(row) {
			if (!row.cancelled)
				covered[row.name] = true;

			this.showRow(row);
		}, this);

		if (older)
			older.rows.filter(function(row) {
				return !covered[row.name] && !row.cancelled && this.stillApplies(row);
			}, this).forEach(this.showRow, this);

		dom.content(this.checkedNode, [ checkedText(check, took) ]);
	},

	stillApplies: function(row) {
		var c = this.byName[row.name];

		return c != null && c.image == row.image &&
			autoUpdate.normalizeId(c.imageId) == autoUpdate.normalizeId(row.currentImageId);
	},

	showRow: function(row) {
		var tr = this.rowNodes[row.name],
		    kind = displayStatus(row);

		if (!tr)
			return;

		tr.setAttribute('data-status', kind);
		dom.content(tr.querySelector('.podman-status'),
			E('span', { 'class': 'podman-label podman-label-' + kind }, [ statusText(kind) ]));
		dom.content(tr.querySelector('.podman-details'), [ detailText(row) ]);
	},

	/*
	 * The router runs a check of its own (cron, `ubus call`): say how far it
	 * is on every polling interval, then show its result unless a check of
	 * this browser runs or finished later.
	 */
	followRouterCheck: function(job) {
		this.showRouterProgress(job);

		return autoUpdate.followBackendCheck(job, L.bind(this.showRouterProgress, this))
			.then(L.bind(function(finished) {
				var check = lastCheck.fromRouter(finished);

				if (finished.error)
					this.notify(_('The check on the router failed: %s')
						.format(autoUpdate.errorText(finished.error)), 'warning');

				if (check && !this.checking && lastCheck.newer(check, this.shown) === check)
					this.showCheck(check);
			}, this))
			.catch(L.bind(function(err) {
				this.notify(_('Could not follow the check on the router: %s').format(err.message), 'warning');
			}, this))
			.then(L.bind(function() {
				this.routerNode.style.display = 'none';
			}, this));
	},

	showRouterProgress: function(job) {
		var p = job.progress || {};

		this.routerNode.style.display = '';
		dom.content(this.routerNode, [ p.total
			? _('A check is running on the router: %d of %d done').format(p.done || 0, p.total)
			: _('A check is running on the router…') ]);
	},

	setChecking: function(checking) {
		this.checking = checking;
		this.root.setAttribute('data-state', checking ? 'checking' : 'done');
		this.progressNode.style.display = checking ? '' : 'none';
		this.cancelButton.style.display = checking ? '' : 'none';
		this.cancelButton.disabled = false;
	},

	handleProgress: function(container, idx, total, batchNum, batchTotal, row) {
		var p = this.progress;

		if (row) {
			p.done++;
			this.showRow(row);
		}
		else {
			if (batchNum != p.batchNum) {
				p.batchNum = batchNum;
				p.checking = [];
			}

			p.checking.push(container.name);
			this.showRow({ name: container.name, status: 'checking' });
		}

		p.batchTotal = batchTotal;
		p.total = total;
		this.renderProgress();
	},

	renderProgress: function() {
		var p = this.progress;

		dom.content(this.batchNode, [ p.batchNum
			? _('Batch %d/%d').format(p.batchNum, p.batchTotal)
			: (p.batchTotal ? _('Starting…') : _('Nothing to pull')) ]);
		dom.content(this.checkingNode, [ p.checking.length
			? _('Checking: %s').format(p.checking.join(', ')) : '' ]);
		dom.content(this.doneNode, [ _('%d of %d containers checked').format(p.done, p.total) ]);
		this.barNode.style.width = (p.total ? Math.floor(100 * p.done / p.total) : 0) + '%';
	},

	handleCheck: function(ev) {
		var started = Date.now();

		this.clearNotices();
		this.progress = { batchNum: 0, batchTotal: 0, checking: [], done: 0, total: this.containers.length };
		this.containers.forEach(function(c) { this.showRow({ name: c.name, status: 'waiting' }); }, this);
		this.renderProgress();
		this.setChecking(true);

		return autoUpdate.checkForUpdates(this.containers, L.bind(this.handleProgress, this))
			.then(L.bind(function(rows) {
				var finished = Date.now(),
				    cancelled = rows.some(function(r) { return r.cancelled === true; }),
				    failed = rows.filter(function(r) { return r.status == 'error' && !r.cancelled; }).length;

				/*
				 * false when storage is unavailable or full, or a cancel left
				 * nothing finished: a reload then shows the router's last check
				 */
				lastCheck.save(rows, finished);
				this.showCheck({ source: 'browser', finishedAt: finished, cancelled: cancelled, rows: rows },
					Math.round((finished - started) / 1000));

				if (failed)
					this.notify(_('%d of %d containers could not be checked; see Details.')
						.format(failed, rows.length), 'warning');
			}, this))
			.catch(L.bind(function(err) {
				this.notify(_('The update check failed: %s').format(err.message));
			}, this))
			.then(L.bind(this.setChecking, this, false));
	},

	handleCancel: function(ev) {
		this.cancelButton.disabled = true;
		dom.content(this.checkingNode, [ _('Cancelling…') ]);

		return autoUpdate.cancel().catch(L.bind(function(err) {
			this.notify(_('Could not stop every pull: %s').format(err.message));
		}, this));
	}
});
