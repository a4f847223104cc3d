'use strict';
'require view';
'require dom';
'require ui';
'require rpc';
'require podman.auto-update as autoUpdate';

/*
 * Podman containers and their image updates: lists the containers, checks
 * them for newer images in parallel batches (podman/auto-update.js) and
 * shows which batch is being pulled, then the result of every container.
 */

var callContainers = rpc.declare({
	object: 'podman',
	method: 'containers'
});

var callCheckStatus = rpc.declare({
	object: 'podman',
	method: 'checkStatus'
});

function statusText(status) {
	switch (status) {
	case 'update_available': return _('Update available');
	case 'up_to_date': return _('Up to date');
	case 'pinned': return _('Pinned');
	case 'local_only': return _('Local only');
	case 'error': return _('Error');
	case 'checking': return _('Checking…');
	case 'waiting': return _('Waiting');
	default: return _('Not checked');
	}
}

function shortId(id) {
	return String(id || '').replace(/^sha256:/, '').substring(0, 12);
}

function detailText(row) {
	switch (row.status) {
	case 'update_available': return _('New image %s').format(shortId(row.newImageId));
	case 'up_to_date': return _('Image %s').format(shortId(row.newImageId || row.currentImageId));
	case 'pinned': return _('Pinned to a digest, so it never changes');
	case 'local_only': return _('Built or stored locally; there is nothing to pull');
	case 'error': return row.error || '';
	default: return '';
	}
}

/* A backend time stamp (seconds, milliseconds or ISO 8601) as a Date. */
function toDate(stamp) {
	if (typeof(stamp) == 'number')
		return new Date(stamp < 1e12 ? stamp * 1000 : stamp);

	var date = new Date(stamp);

	return isNaN(date.getTime()) ? null : date;
}

function byName(a, b) {
	return (a.name < b.name) ? -1 : (a.name > b.name) ? 1 : 0;
}

/*
 * Text goes into nodes inside an array: E() and dom.content() treat a lone
 * string as markup, and names, images and Podman's messages come from
 * outside.
 */
function notify(message, severity) {
	ui.addNotification(null, E('p', {}, [ message ]), severity || 'error');
}

return view.extend({
	handleSaveApply: null,
	handleSave: null,
	handleReset: null,

	load: function() {
		return Promise.all([
			callContainers().then(autoUpdate.unwrap).then(function(reply) {
				return Array.isArray(reply.containers) ? reply.containers : [];
			}).catch(function(err) {
				notify(_('Could not list the containers: %s').format(err.message));
				return null;
			}),
			autoUpdate.loadSettings().catch(function(err) {
				notify(_('Could not read the settings, checking %d images at a time: %s')
					.format(autoUpdate.PARALLEL_PULLS, err.message), 'warning');
				return null;
			}),
			callCheckStatus().then(autoUpdate.unwrap).catch(function(err) {
				/* no check has run on the router yet: nothing to show */
				if (err.code != 'not_found')
					notify(_('Could not read the last check: %s').format(err.message), 'warning');

				return null;
			})
		]);
	},

	render: function(data) {
		this.containers = (data[0] || []).slice().sort(byName);
		this.rowNodes = {};

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
				E('td', { 'class': 'td podman-details', 'data-title': _('Details'), 'style': 'min-width:16em' }, [])
			]);

			this.rowNodes[c.name] = tr;
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

		this.checkedNode = E('p', { 'class': 'podman-checked', 'id': 'podman-checked' }, [ _('Not checked yet.') ]);

		this.root = E('div', { 'id': 'podman-updates', 'data-state': 'idle' }, [
			E('h2', {}, [ _('Podman image updates') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Pulls the image of every container, %d at a time, and tells which containers run an older image than their registry now serves.')
					.format(autoUpdate.PARALLEL_PULLS)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('div', { 'class': 'podman-actions' }, [ this.checkButton, ' ', this.cancelButton ]),
				this.progressNode,
				this.checkedNode,
				table
			])
		]);

		this.showBackendJob(data[2]);

		return this.root;
	},

	/* Show the last check the router itself ran (cron, `ubus call`), if any. */
	showBackendJob: function(job) {
		if (!job || !job.complete || !Array.isArray(job.results))
			return;

		job.results.forEach(this.showRow, this);

		var when = toDate(job.finishedAt);

		if (when)
			dom.content(this.checkedNode, [ _('Last check: %s (run on the router)').format(when.toLocaleString()) ]);
	},

	showRow: function(row) {
		var tr = this.rowNodes[row.name];

		if (!tr)
			return;

		tr.setAttribute('data-status', row.status);
		dom.content(tr.querySelector('.podman-status'),
			E('span', { 'class': 'podman-label podman-label-' + row.status }, [ statusText(row.status) ]));
		dom.content(tr.querySelector('.podman-details'), [ detailText(row) ]);
	},

	setChecking: function(checking) {
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
		var started = new Date();

		this.progress = { batchNum: 0, batchTotal: 0, checking: [], done: 0, total: this.containers.length };
		this.cancelled = false;
		this.containers.forEach(function(c) { this.showRow({ name: c.name, status: 'waiting' }); }, this);
		this.renderProgress();
		this.setChecking(true);

		return autoUpdate.checkForUpdates(this.containers, L.bind(this.handleProgress, this))
			.then(L.bind(function(rows) {
				var finished = new Date(),
				    failed = rows.filter(function(r) { return r.status == 'error'; }).length;

				rows.forEach(this.showRow, this);
				var took = Math.round((finished - started) / 1000);

				dom.content(this.checkedNode, [ (this.cancelled
					? _('Last check: %s (took %d s, cancelled)')
					: _('Last check: %s (took %d s)')).format(finished.toLocaleString(), took) ]);

				if (failed && !this.cancelled)
					notify(_('%d of %d containers could not be checked; see Details.')
						.format(failed, rows.length), 'warning');
			}, this))
			.catch(function(err) {
				notify(_('The update check failed: %s').format(err.message));
			})
			.then(L.bind(this.setChecking, this, false));
	},

	handleCancel: function(ev) {
		this.cancelled = true;
		this.cancelButton.disabled = true;
		dom.content(this.checkingNode, [ _('Cancelling…') ]);

		return autoUpdate.cancel().catch(function(err) {
			notify(_('Could not stop every pull: %s').format(err.message));
		});
	}
});
