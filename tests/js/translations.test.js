'use strict';
/* po/templates/podman-updates.pot holds exactly the strings our LuCI files translate. */

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const SOURCES = [
	'files/www/luci-static/resources/podman/auto-update.js',
	'files/www/luci-static/resources/podman/last-check.js',
	'files/www/luci-static/resources/view/podman/overview.js'
];
const MENU = 'files/usr/share/luci/menu.d/luci-app-podman-updates.json';
const POT = 'po/templates/podman-updates.pot';

/* _('text') calls with a single-quoted literal, as LuCI's i18n scanner finds them. */
function translatedStrings(source) {
	const found = [];
	const call = /\b_\('((?:\\.|[^'\\])*)'\)/g;
	let m;
	while ((m = call.exec(source)) !== null)
		found.push(m[1].replace(/\\(.)/g, '$1'));
	return found;
}

function potMsgids(text) {
	const ids = [];
	const entry = /^msgid "((?:\\.|[^"\\])*)"$/gm;
	let m;
	while ((m = entry.exec(text)) !== null)
		if (m[1] !== '')
			ids.push(m[1].replace(/\\(.)/g, '$1'));
	return ids;
}

test('every translated string of the page is in the template and nothing else', () => {
	const used = new Set();
	for (const file of SOURCES)
		translatedStrings(fs.readFileSync(path.join(ROOT, file), 'utf8')).forEach((s) => used.add(s));
	for (const node of Object.values(JSON.parse(fs.readFileSync(path.join(ROOT, MENU), 'utf8'))))
		used.add(node.title);

	const template = potMsgids(fs.readFileSync(path.join(ROOT, POT), 'utf8'));
	const missing = [...used].filter((s) => !template.includes(s));
	const unused = template.filter((s) => !used.has(s));

	assert.equal(new Set(template).size, template.length, 'duplicate msgid in the template');
	assert.deepEqual(missing, [], `add to ${POT}:\n` +
		missing.map((s) => `msgid ${JSON.stringify(s)}\nmsgstr ""\n`).join('\n'));
	assert.deepEqual(unused, [], `no longer used, remove from ${POT}`);
});

test('the scanner finds strings the way the template needs them', () => {
	assert.deepEqual(translatedStrings("_('a'); x(_('it\\'s %d')); _(\"no\")"), ['a', "it's %d"]);
	assert.deepEqual(potMsgids('msgid ""\nmsgstr ""\n\nmsgid "a \\"b\\""\nmsgstr ""\n'), ['a "b"']);
});
