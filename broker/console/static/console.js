// The kzoo console's only script: the theme toggle, and the live updates.
// The server sends "event: version" on /events when the cluster view or
// the gathered figures change; the page then fetches itself again with
// X-Console-Fragment: 1 (the server answers main's inner HTML only), swaps
// <main id="main"> and records the version in body's data-version.
// No inline script anywhere, so the Content-Security-Policy allows only
// this file.
(function () {
  'use strict';
  var root = document.documentElement;
  var key = 'kzoo-console-theme';

  // The chosen theme applies before the body is drawn: this file is
  // loaded, not deferred, from the head.
  try {
    var stored = window.localStorage.getItem(key);
    if (stored === 'dark' || stored === 'light') {
      root.setAttribute('data-theme', stored);
    }
  } catch (e) { /* storage off: follow prefers-color-scheme */ }

  function theme() {
    var t = root.getAttribute('data-theme');
    if (t) {
      return t;
    }
    var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
    return dark ? 'dark' : 'light';
  }

  function setupToggle() {
    var button = document.getElementById('theme-toggle');
    if (!button) {
      return;
    }
    button.addEventListener('click', function () {
      var next = theme() === 'dark' ? 'light' : 'dark';
      root.setAttribute('data-theme', next);
      try { window.localStorage.setItem(key, next); } catch (e) { /* not kept */ }
    });
  }

  var fetching = false;
  var wanted = 0;

  function shown() {
    return parseInt(document.body.getAttribute('data-version') || '0', 10);
  }

  // editing is true while the user types in a field of main, which the
  // swap would take away; the update waits for the field to lose focus.
  function editing(main) {
    var el = document.activeElement;
    return el && el !== document.body && main.contains(el) &&
      (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT');
  }

  function refresh() {
    var main = document.getElementById('main');
    if (fetching || !main || wanted <= shown()) {
      return;
    }
    if (editing(main)) {
      document.activeElement.addEventListener('blur', refresh, { once: true });
      return;
    }
    fetching = true;
    var version = wanted;
    window.fetch(window.location.href, {
      headers: { 'X-Console-Fragment': '1' },
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (resp) {
      var type = resp.headers.get('Content-Type') || '';
      if (type.indexOf('text/html') !== 0) {
        throw new Error('not a page: ' + resp.status);
      }
      return resp.text();
    }).then(function (html) {
      main.innerHTML = html;
      document.body.setAttribute('data-version', String(version));
    }).catch(function () {
      /* keep what is shown; the next version tries again */
    }).then(function () {
      fetching = false;
      refresh(); // a newer version may have come meanwhile
    });
  }

  function setLive(text, cls) {
    var el = document.getElementById('live');
    if (el) {
      el.textContent = text;
      el.className = 'live ' + cls;
    }
  }

  function setupLive() {
    if (document.body.getAttribute('data-live') !== 'true' || !window.EventSource) {
      return;
    }
    var source = new window.EventSource('/events');
    source.addEventListener('open', function () { setLive('live', 'on'); });
    source.addEventListener('error', function () {
      // EventSource reconnects by itself unless the server refused it.
      setLive(source.readyState === window.EventSource.CLOSED ? 'not live' : 'reconnecting', 'off');
    });
    source.addEventListener('version', function (ev) {
      var v = parseInt(ev.data, 10);
      if (!isNaN(v) && v > wanted) {
        wanted = v;
        refresh();
      }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setupToggle();
    setupLive();
  });
}());
