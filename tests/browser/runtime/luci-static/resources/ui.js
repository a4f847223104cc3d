'use strict';
'require baseclass';
'require dom';

/*
 * Stand-in for the parts of LuCI's ui.js our pages use: notifications at
 * the top of the page and button handlers that disable the button while
 * the returned promise runs.
 */

return baseclass.extend({
	addNotification: function(title, children /*, ...classes */) {
		var classes = Array.prototype.slice.call(arguments, 2),
		    box = E('div', { 'class': 'alert-message fade-in ' + classes.join(' ') }, [
			E('div', { 'class': 'alert-body' }, [
				title ? E('h4', {}, [ title ]) : '',
				children
			]),
			E('button', {
				'class': 'btn',
				'click': function(ev) { box.parentNode.removeChild(box); }
			}, [ _('Dismiss') ])
		]);

		var main = document.getElementById('maincontent');

		main.insertBefore(box, main.firstChild);

		return box;
	},

	createHandlerFn: function(ctx, fn /*, ...args */) {
		var args = Array.prototype.slice.call(arguments, 2);

		if (typeof(fn) == 'string')
			fn = ctx[fn];

		return function(ev) {
			var button = ev.currentTarget;

			button.classList.add('spinning');
			button.disabled = true;

			return Promise.resolve(fn.apply(ctx, args.concat([ ev ]))).finally(function() {
				button.classList.remove('spinning');
				button.disabled = false;
			});
		};
	}
});
