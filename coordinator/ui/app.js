/* Ferry's Migration page: plain JavaScript, no framework, no build step. It talks to the
 * coordinator's API (docs/api.md, docs/console.md) with the session cookie (HttpOnly: this
 * script never sees it) and sends the session's CSRF token with every command. */
'use strict';

(function () {
  var POLL_MS = 2000;
  var session = null;            /* the answer of /v1/session: user, role, apps, csrf */
  var migrations = [];           /* the last GET /v1/migrations */
  var selected = new Set();      /* ids of the selected migrations */
  var openId = null;             /* the migration shown in detail */
  var detail = { mig: null, app: null, history: [], audit: [] };
  var sort = { key: 'id', dir: 1 };
  var timer = null;
  var polling = false;
  var busy = false;              /* a poll is under way */

  var LABELS = {
    'replicate': 'Replicate data and files',
    'stop': 'Stop replication',
    'interrupt': 'Interrupt',
    'test-start': 'Activate test app',
    'test-stop': 'Stop test app',
    'migrate': 'Migrate',
    'rollback': 'Rollback',
    'replay': 'Replay failed step'
  };
  var VERB_ORDER = ['replicate', 'stop', 'interrupt', 'test-start', 'test-stop', 'replay',
                    'migrate', 'rollback'];
  var STATES = ['new', 'replicating', 'stopping', 'stopped', 'testing', 'cutover', 'migrated',
                'rolling_back', 'rolled_back', 'failed'];

  function $(id) { return document.getElementById(id); }

  /* h('tag.class', {attr: v, onclick: fn}, child...): an element; text goes in as text. */
  function h(spec, attrs) {
    var parts = spec.split('.');
    var el = document.createElement(parts[0]);
    if (parts.length > 1) el.className = parts.slice(1).join(' ');
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else if (k === 'text') el.textContent = v;
        else if (k in el && k !== 'list' && k.indexOf('-') < 0 && k !== 'role') el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /* ---------- formatting ---------- */
  function num(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function dur(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return ms + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    var m = Math.floor(s / 60), r = Math.round(s % 60);
    if (m < 60) return m + ' min' + (r ? ' ' + r + ' s' : '');
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function bytes(b) {
    if (b === null || b === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  function pad(n) { return n < 10 ? '0' + n : '' + n; }
  function time(ms) {
    if (!ms) return '–';
    var d = new Date(ms), now = new Date();
    var t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return t;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t;
  }
  function pct(p) { return p === null || p === undefined ? '–' : (Math.round(p * 10) / 10) + ' %'; }
  function stateText(m) { return m.state + (m.phase ? ' / ' + m.phase : ''); }
  function shortId(s) { return s ? String(s).slice(0, 8) : '–'; }
  function filesOf(m) { return m.files || {}; }

  /* ---------- messages ---------- */
  function say(msg) { $('status').textContent = msg; }
  function alertMsg(msg) {
    var a = $('alert');
    a.textContent = msg || '';
    a.hidden = !msg;
  }

  /* ---------- the API ---------- */
  function api(method, path, body) {
    var opts = { method: method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') {
      opts.headers['Content-Type'] = 'application/json';
      if (session && session.csrf) opts.headers['X-CSRF-Token'] = session.csrf;
      opts.body = JSON.stringify(body || {});
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        var res = { status: r.status, ok: r.ok, data: data };
        if (!r.ok) {
          res.code = data && data.error ? data.error.code : 'http_' + r.status;
          res.message = data && data.error && data.error.message ? data.error.message
            : 'HTTP ' + r.status;
        }
        return res;
      });
    }, function (e) {
      return { status: 0, ok: false, code: 'network', message: 'cannot reach the coordinator: ' + e.message };
    });
  }
  function enc(s) { return encodeURIComponent(s); }

  /* ---------- login and session ---------- */
  function showLogin(msg) {
    stopPolling();
    session = null;
    migrations = [];
    selected.clear();
    closeDetail(true);
    $('app-view').hidden = true;
    $('who').hidden = true;
    $('login-view').hidden = false;
    var le = $('login-error');
    le.textContent = msg || '';
    le.hidden = !msg;
    alertMsg('');
    $('token').focus();
  }
  function showApp(s) {
    session = s;
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('who').hidden = false;
    $('whoami').textContent = s.user;
    $('role').textContent = s.role + (s.role === 'operator' && s.apps ? ' of ' + s.apps.join(', ') : '');
    $('token').value = '';
    renderHead();
    startPolling();
    var m = /^#\/m\/(.+)$/.exec(location.hash);
    if (m) openDetail(decodeURIComponent(m[1]), false);
  }
  function onLogin(ev) {
    ev.preventDefault();
    var token = $('token').value.trim();
    if (!token) { showLogin('Enter your token.'); return; }
    $('login-button').disabled = true;
    api('POST', '/v1/session', { token: token }).then(function (r) {
      $('login-button').disabled = false;
      if (r.ok && r.data) {
        say('Logged in as ' + r.data.user + ' (' + r.data.role + ').');
        showApp(r.data);
      } else {
        showLogin(r.status === 401 ? 'Wrong or expired token: ' + r.message : r.message);
      }
    });
  }
  function onLogout() {
    api('DELETE', '/v1/session').then(function (r) {
      showLogin('');
      say(r.ok ? 'Logged out.' : 'Logged out here (' + r.message + ').');
    });
  }
  function expired() { showLogin('Your session ended: log in again.'); }

  /* ---------- polling ---------- */
  function startPolling() {
    polling = true;
    poll();
  }
  function stopPolling() {
    polling = false;
    if (timer) clearTimeout(timer);
    timer = null;
  }
  function schedule() {
    if (timer) clearTimeout(timer);
    timer = polling ? setTimeout(poll, POLL_MS) : null;
  }
  function poll() {
    if (!polling) return;
    if (document.hidden) { $('live').textContent = 'paused'; timer = null; return; }
    if (busy) { schedule(); return; }
    busy = true;
    var jobs = [api('GET', '/v1/migrations').then(function (r) {
      if (r.status === 401) return expired();
      if (!r.ok) { $('live').textContent = 'update failed: ' + r.message; return; }
      migrations = (r.data && r.data.migrations) || [];
      $('live').textContent = 'live · ' + time(Date.now());
      renderList();
    })];
    if (openId) jobs.push(loadDetail());
    Promise.all(jobs).then(function () { busy = false; schedule(); },
                           function () { busy = false; schedule(); });
  }
  document.addEventListener('visibilitychange', function () {
    if (!polling) return;
    if (document.hidden) { if (timer) clearTimeout(timer); timer = null; $('live').textContent = 'paused'; }
    else poll();
  });

  /* ---------- the list ---------- */
  var COLS = [
    { key: 'sel', label: '', sortable: false },
    { key: 'id', label: 'Migration', get: function (m) { return m.id; } },
    { key: 'app', label: 'App', get: function (m) { return m.app; } },
    { key: 'envs', label: 'Source → target', get: function (m) { return (m.source && m.source.env) + '>' + (m.target && m.target.env); } },
    { key: 'state', label: 'State / phase', get: function (m) { return stateText(m); } },
    { key: 'files', label: 'Files', get: function (m) { return filesOf(m).percent || 0; } },
    { key: 'rows', label: 'Rows', get: function (m) { return m.rows || 0; } },
    { key: 'last', label: 'Last durations', title: 'the last dump-restore and file sync; sorted by the longer (the downtime)',
      get: function (m) { return Math.max((m.last && m.last.dump_restore_ms) || 0, (m.last && m.last.file_sync_ms) || 0); } },
    { key: 'updated', label: 'Updated', get: function (m) { return m.updated_at || 0; } }
  ];
  function renderHead() {
    var tr = $('migs-head');
    clear(tr);
    COLS.forEach(function (c) {
      if (c.key === 'sel') {
        tr.appendChild(h('th.sel', { scope: 'col' },
          h('input', { type: 'checkbox', id: 'sel-all', 'aria-label': 'Select every migration shown',
                       'data-testid': 'select-all', onchange: onSelectAll })));
        return;
      }
      var th = h('th', { scope: 'col', 'data-col': c.key });
      if (sort.key === c.key) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      else th.setAttribute('aria-sort', 'none');
      th.appendChild(h('button.sort', { type: 'button', 'data-testid': 'sort-' + c.key, title: c.title,
        onclick: function () {
          if (sort.key === c.key) sort.dir = -sort.dir; else { sort.key = c.key; sort.dir = 1; }
          renderHead();
          renderList();
        } }, c.label, h('span.arrow', { 'aria-hidden': 'true',
          text: sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : '' })));
      tr.appendChild(th);
    });
  }
  function visible() {
    var st = $('f-state').value, env = $('f-env').value, q = $('f-app').value.trim().toLowerCase();
    var col = COLS.filter(function (c) { return c.key === sort.key; })[0];
    return migrations.filter(function (m) {
      return (!st || m.state === st) && (!env || m.env === env) &&
        (!q || m.app.toLowerCase().indexOf(q) >= 0);
    }).sort(function (a, b) {
      var x = col.get(a), y = col.get(b);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (!c) c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      return c * sort.dir;
    });
  }
  function syncSelect(sel, values, counts) {
    var cur = sel.value;
    var want = [''].concat(values);
    var have = Array.prototype.map.call(sel.options, function (o) { return o.value; });
    var labels = want.map(function (v) { return v ? v + (counts ? ' (' + (counts[v] || 0) + ')' : '') : 'all'; });
    var same = have.length === want.length && have.every(function (v, i) {
      return v === want[i] && sel.options[i].textContent === labels[i];
    });
    if (same) return;
    clear(sel);
    want.forEach(function (v, i) { sel.appendChild(h('option', { value: v, text: labels[i] })); });
    sel.value = want.indexOf(cur) >= 0 ? cur : '';
  }
  function renderSummary(counts) {
    var box = $('summary');
    var sig = JSON.stringify(counts) + '|' + $('f-state').value;
    if (box.dataset.sig === sig) return;
    box.dataset.sig = sig;
    clear(box);
    box.appendChild(h('span.total', { 'data-testid': 'count-all' }, migrations.length + ' migrations'));
    STATES.concat(Object.keys(counts).filter(function (s) { return STATES.indexOf(s) < 0; }))
      .forEach(function (s) {
        if (!counts[s]) return;
        var on = $('f-state').value === s;
        box.appendChild(h('button.chip.st-' + s, { type: 'button', 'data-testid': 'count-' + s,
          'aria-pressed': on ? 'true' : 'false', title: on ? 'Show every state' : 'Show only ' + s,
          onclick: function () { $('f-state').value = on ? '' : s; renderList(); } },
          h('span.n', { text: counts[s] }), ' ' + s.replace('_', ' ')));
      });
  }
  function filesCell(m) {
    var f = filesOf(m);
    var wrap = h('div.files');
    var p = h('progress', { max: 100, value: Math.min(100, f.percent || 0),
      'aria-label': 'files of ' + m.id });
    wrap.appendChild(p);
    wrap.appendChild(h('span.pct', { 'data-testid': 'files-' + m.id,
      text: pct(f.percent || 0) }));
    wrap.appendChild(h('span.small', { text: num(f.done || 0) + ' / ' + num(f.total || 0) }));
    return wrap;
  }
  var rowCache = new Map();
  function rowSig(m) {
    return JSON.stringify([m.state, m.phase, m.files, m.rows, m.last, m.updated_at, m.source,
                           m.target, m.error ? m.error.message : null, m.id === openId,
                           selected.has(m.id)]);
  }
  function buildRow(m) {
    var tr = h('tr', { tabindex: 0, 'data-testid': 'row-' + m.id, 'data-id': m.id,
      'aria-selected': m.id === openId ? 'true' : 'false' });
    if (m.id === openId) tr.className = 'open';
    var cb = h('input', { type: 'checkbox', 'aria-label': 'Select ' + m.id,
      'data-testid': 'select-' + m.id, checked: selected.has(m.id) });
    cb.addEventListener('click', function (e) { e.stopPropagation(); });
    cb.addEventListener('change', function () {
      if (cb.checked) selected.add(m.id); else selected.delete(m.id);
      renderBulk();
    });
    tr.appendChild(h('td.sel', null, cb));
    tr.appendChild(h('td.id', null, h('span.mono', { text: m.id }),
      m.error ? h('span.errdot', { title: m.error.message, 'aria-label': 'has an error' }, '!') : null));
    tr.appendChild(h('td', { text: m.app }));
    tr.appendChild(h('td.envs', null,
      h('span', { text: (m.source && m.source.env) + ' → ' + (m.target && m.target.env) }),
      h('span.small.mono', { title: 'source ' + (m.source && m.source.id) + ', target ' + (m.target && m.target.id),
        text: shortId(m.source && m.source.id) + ' → ' + shortId(m.target && m.target.id) })));
    tr.appendChild(h('td', null, h('span.badge.st-' + m.state, { 'data-testid': 'state-' + m.id,
      text: m.state }), m.phase ? h('span.small', { text: m.phase }) : null));
    tr.appendChild(h('td', null, filesCell(m)));
    tr.appendChild(h('td.num', { text: num(m.rows) }));
    tr.appendChild(h('td.num.last', null,
      h('span', { title: 'last dump-restore', text: 'DB ' + dur(m.last && m.last.dump_restore_ms) }),
      h('span', { title: 'last file sync', text: 'files ' + dur(m.last && m.last.file_sync_ms) })));
    tr.appendChild(h('td.num', { text: time(m.updated_at) }));
    tr.addEventListener('click', function () { openDetail(m.id, true); });
    tr.addEventListener('keydown', function (e) {
      if ((e.key === 'Enter' || e.key === ' ') && e.target === tr) {
        e.preventDefault();
        openDetail(m.id, true);
      }
    });
    return tr;
  }
  function renderList() {
    var counts = {}, envs = {};
    migrations.forEach(function (m) { counts[m.state] = (counts[m.state] || 0) + 1; envs[m.env] = 1; });
    syncSelect($('f-state'), STATES.filter(function (s) { return counts[s]; })
      .concat(Object.keys(counts).filter(function (s) { return STATES.indexOf(s) < 0; })), counts);
    syncSelect($('f-env'), Object.keys(envs).sort(), null);
    renderSummary(counts);
    var known = new Set(migrations.map(function (m) { return m.id; }));
    selected.forEach(function (id) { if (!known.has(id)) selected.delete(id); });

    var rows = visible();
    var body = $('migs-body');
    var focusedId = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.closest('tr').dataset.id : null;
    var focusedCb = focusedId && document.activeElement.tagName === 'INPUT';
    var trs = rows.map(function (m) {
      var sig = rowSig(m), c = rowCache.get(m.id);
      if (!c || c.sig !== sig) { c = { sig: sig, tr: buildRow(m) }; rowCache.set(m.id, c); }
      return c.tr;
    });
    var cur = Array.prototype.slice.call(body.children);
    var same = cur.length === trs.length && cur.every(function (x, i) { return x === trs[i]; });
    if (!same) {
      clear(body);
      trs.forEach(function (tr) { body.appendChild(tr); });
    }
    rowCache.forEach(function (v, k) { if (!known.has(k)) rowCache.delete(k); });
    if (focusedId && (!document.activeElement || !body.contains(document.activeElement))) {
      var c = rowCache.get(focusedId);
      if (c && body.contains(c.tr)) {
        (focusedCb ? c.tr.querySelector('input') : c.tr).focus({ preventScroll: true });
      }
    }
    $('empty').hidden = rows.length > 0;
    var all = $('sel-all');
    if (all) {
      var n = rows.filter(function (m) { return selected.has(m.id); }).length;
      all.checked = rows.length > 0 && n === rows.length;
      all.indeterminate = n > 0 && n < rows.length;
    }
    renderBulk();
  }
  function onSelectAll(e) {
    visible().forEach(function (m) { if (e.target.checked) selected.add(m.id); else selected.delete(m.id); });
    renderList();
  }

  /* ---------- bulk commands ---------- */
  function renderBulk() {
    var mayAny = {};
    migrations.forEach(function (m) { (m.actions || []).forEach(function (a) { mayAny[a] = 1; }); });
    var bar = $('bulk');
    var shown = 0;
    Array.prototype.forEach.call(bar.querySelectorAll('button[data-bulk]'), function (b) {
      var v = b.dataset.bulk;
      b.hidden = !mayAny[v];
      if (!b.hidden) shown++;
      b.disabled = !Array.from(selected).some(function (id) {
        var m = byId(id);
        return m && (m.actions || []).indexOf(v) >= 0;
      });
    });
    bar.hidden = shown === 0;
    $('migs').classList.toggle('no-select', shown === 0); /* no command: no selection either */
    $('bulk-count').textContent = selected.size + ' selected';
  }
  function byId(id) { return migrations.filter(function (m) { return m.id === id; })[0]; }
  function onBulk(verb) {
    var chosen = Array.from(selected).map(byId).filter(Boolean);
    var ok = chosen.filter(function (m) { return (m.actions || []).indexOf(verb) >= 0; });
    var skipped = chosen.filter(function (m) { return ok.indexOf(m) < 0; });
    /* one request per app (migrate) or per migration (replicate and stop name the env) */
    var targets = [];
    if (verb === 'migrate') {
      var apps = {};
      ok.forEach(function (m) { if (!apps[m.app]) { apps[m.app] = 1; targets.push({ app: m.app, label: m.app }); } });
    } else {
      ok.forEach(function (m) { targets.push({ app: m.app, env: m.env, label: m.id }); });
    }
    if (!targets.length) { alertMsg('None of the selected migrations allows ' + LABELS[verb] + ' now.'); return; }
    var run = function () {
      var list = $('bulk-results');
      clear(list);
      skipped.forEach(function (m) {
        list.appendChild(h('li.skip', { text: m.id + ': skipped (' + LABELS[verb] + ' is not allowed now)' }));
      });
      say(LABELS[verb] + ': sending ' + targets.length + ' request(s)…');
      var done = 0, failed = 0;
      return targets.reduce(function (p, t) {
        return p.then(function () {
          var body = t.env ? { env: t.env } : {};
          return api('POST', '/v1/apps/' + enc(t.app) + '/' + verb, body).then(function (r) {
            if (r.status === 401) { expired(); throw new Error('session'); }
            done++;
            if (!r.ok) failed++;
            list.appendChild(h(r.ok ? 'li.ok' : 'li.fail', { 'data-testid': 'bulk-result-' + t.label },
              t.label + ': ' + (r.ok ? 'accepted' : r.status + ' ' + r.message)));
          });
        });
      }, Promise.resolve()).then(function () {
        say(LABELS[verb] + ': ' + (done - failed) + ' accepted, ' + failed + ' refused' +
            (skipped.length ? ', ' + skipped.length + ' skipped' : '') + '.');
        poll();
      }, function () {});
    };
    if (verb === 'migrate') {
      confirmDialog('Migrate ' + targets.length + ' app(s)?', migrateWarning(null, targets.map(function (t) { return t.app; })),
        'Migrate ' + targets.length + ' app(s)', run);
    } else run();
  }

  /* ---------- the detail ---------- */
  function openDetail(id, focus) {
    if (openId !== id) detail = { mig: null, app: null, history: [], audit: [] };
    openId = id;
    if (location.hash !== '#/m/' + id) history.replaceState(null, '', '#/m/' + enc(id));
    $('detail').hidden = false;
    $('app-view').classList.add('with-detail');
    $('detail-title').textContent = id;
    clear($('detail-body'));
    $('detail-body').appendChild(h('p.small', { text: 'Loading…' }));
    renderList();
    loadDetail().then(function () { if (focus) $('detail-title').focus(); });
  }
  function closeDetail(quiet) {
    var was = openId;
    openId = null;
    $('detail').hidden = true;
    $('app-view').classList.remove('with-detail');
    if (location.hash) history.replaceState(null, '', location.pathname);
    if (!quiet) {
      renderList();
      var c = was && rowCache.get(was);
      if (c) c.tr.focus();
    }
  }
  function loadDetail() {
    var id = openId;
    return api('GET', '/v1/migrations/' + enc(id)).then(function (r) {
      if (id !== openId) return;
      if (r.status === 401) return expired();
      if (!r.ok) {
        clear($('detail-body'));
        $('detail-body').appendChild(h('p.alert', { text: r.message }));
        return;
      }
      var m = r.data;
      return Promise.all([
        api('GET', '/v1/apps/' + enc(m.app)),
        api('GET', '/v1/migrations/' + enc(id) + '/history?count=50'),
        api('GET', '/v1/audit?app=' + enc(m.app) + '&count=50')
      ]).then(function (rs) {
        if (id !== openId) return;
        if (rs.some(function (x) { return x.status === 401; })) return expired();
        detail.mig = m;
        detail.app = rs[0].ok ? rs[0].data : detail.app;
        detail.history = rs[1].ok && rs[1].data ? rs[1].data.history || [] : detail.history;
        detail.audit = rs[2].ok && rs[2].data ? rs[2].data.audit || [] : detail.audit;
        detail.auditError = rs[2].ok ? null : rs[2].message;
        renderDetail();
      });
    });
  }

  /* A section of the detail, rebuilt only when its data changed (so a focused button stays). */
  function section(key, data, build) {
    var body = $('detail-body');
    var el = body.querySelector('[data-sec="' + key + '"]');
    var sig = JSON.stringify(data);
    if (el && el.dataset.sig === sig) return el;
    var fresh = build();
    if (!fresh) fresh = h('div', { hidden: true });
    fresh.setAttribute('data-sec', key);
    fresh.dataset.sig = sig;
    var hadFocus = el && el.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    var openDetails = el ? Array.prototype.map.call(el.querySelectorAll('details'), function (d) { return d.open; }) : null;
    if (el) body.replaceChild(fresh, el); else body.appendChild(fresh);
    if (openDetails) {
      Array.prototype.forEach.call(fresh.querySelectorAll('details'), function (d, i) {
        if (i < openDetails.length) d.open = openDetails[i];
      });
    }
    if (hadFocus) {
      var f = fresh.querySelector('[data-testid="' + hadFocus + '"]');
      if (f) f.focus();
    }
    return fresh;
  }
  function dl(pairs) {
    var d = h('dl.kv');
    pairs.forEach(function (p) {
      if (!p) return;
      d.appendChild(h('dt', { text: p[0] }));
      d.appendChild(h('dd', p[2] ? { 'data-testid': p[2] } : null, p[1]));
    });
    return d;
  }
  function renderDetail() {
    var m = detail.mig;
    var body = $('detail-body');
    var loading = body.querySelector('p.small:not([data-sec])');
    if (loading && !body.querySelector('[data-sec]')) clear(body);
    $('detail-title').textContent = m.id;

    section('head', [m.state, m.phase, m.files, m.rows, m.pass, m.reached_100, m.target_incomplete,
                     m.source, m.target, m.updated_at], function () {
      var f = filesOf(m);
      return h('div.sec', null,
        h('p.statusline', null, h('span.badge.big.st-' + m.state, { 'data-testid': 'state', text: m.state }),
          m.phase ? h('span.phase', { 'data-testid': 'phase', text: m.phase }) : null,
          m.reached_100 ? h('span.tag.good', { text: 'reached 100 %' }) : h('span.tag', { text: 'never at 100 %' }),
          m.target_incomplete ? h('span.tag.bad', { text: 'v4 data incomplete' }) : null),
        h('div.bigprogress', null,
          h('label', { 'for': 'files-bar' }, 'Files replicated'),
          h('progress', { id: 'files-bar', max: 100, value: Math.min(100, f.percent || 0), 'data-testid': 'files-bar' }),
          h('span.pct', { 'data-testid': 'files-percent', text: pct(f.percent || 0) }),
          h('span.small', { 'data-testid': 'files-count',
            text: num(f.done || 0) + ' / ' + num(f.total || 0) + ' files, ' + bytes(f.bytes_done || 0) + ' / ' + bytes(f.bytes_total || 0) })),
        dl([
          ['Source (v3)', (m.source && m.source.env) + ' · ' + (m.source && m.source.id || '–')],
          ['Target (v4)', (m.target && m.target.env) + ' · ' + (m.target && m.target.id || '–')],
          ['Rows', num(m.rows), 'rows'],
          ['File passes', num(m.pass)],
          ['Updated', time(m.updated_at)]
        ]));
    });

    section('actions', [m.actions, m.id, m.env, m.app], function () {
      var acts = (m.actions || []).slice().sort(function (a, b) { return VERB_ORDER.indexOf(a) - VERB_ORDER.indexOf(b); });
      if (!acts.length) {
        return h('div.sec.actions', { 'data-testid': 'actions' },
          h('p.small', { text: session && session.role === 'viewer' ? 'You may read only (viewer).'
            : 'No command is possible for you now.' }));
      }
      return h('div.sec.actions', { 'data-testid': 'actions', role: 'group', 'aria-label': 'Commands' },
        acts.map(function (v) {
          return h('button' + (v === 'migrate' || v === 'rollback' || v === 'interrupt' ? '.danger' : '.cmd'),
            { type: 'button', 'data-testid': 'action-' + v, onclick: function () { onAction(m, v); } },
            LABELS[v] || v);
        }));
    });

    section('error', [m.error, m.replayable, m.state, m.target_incomplete, (m.actions || []).indexOf('replay') >= 0], function () {
      if (!m.error) return null;
      var hint = errorHint(m);
      return h('div.sec.error', { 'data-testid': 'error', role: 'note' },
        h('h3', { text: 'Error' + (m.error.step ? ' in step ' + m.error.step : '') }),
        h('p.msg', { 'data-testid': 'error-message', text: m.error.message }),
        h('p.small', { text: (m.error.name || 'error') + (m.error.code !== null && m.error.code !== undefined ? ' (' + m.error.code + ')' : '') +
          ' at ' + time(m.error.at) }),
        h('p.hint', { 'data-testid': 'error-hint', text: hint }),
        m.replayable && (m.actions || []).indexOf('replay') >= 0
          ? h('button.cmd', { type: 'button', 'data-testid': 'error-replay', onclick: function () { onAction(m, 'replay'); } }, LABELS.replay)
          : null);
    });

    var active = (m.active_steps || []).map(function (s) {
      return [s.id, s.kind, s.purpose, s.state, s.attempt, s.worker, s.progress];
    });
    section('active', active, function () {
      var steps = m.active_steps || [];
      return h('div.sec', { 'data-testid': 'active-steps' },
        h('h3', { text: 'Active steps' }),
        steps.length ? steps.map(stepCard) : h('p.small', { text: 'None running.' }));
    });

    section('timing', [m.last, m.verified, m.cutover, m.state], function () { return timingSection(m); });
    section('database', [m.database], function () { return databaseSection(m); });

    var envs = detail.app && detail.app.migrations ? detail.app.migrations.map(function (x) {
      return [x.id, x.env, x.state, x.phase, filesOf(x).percent, x.error ? 1 : 0];
    }) : [];
    section('envs', [envs, m.id], function () {
      var list = (detail.app && detail.app.migrations) || [];
      return h('details.sec', { open: true, 'data-testid': 'environments' },
        h('summary', null, h('h3', { text: 'Environments of ' + m.app + ' (' + list.length + ')' })),
        h('table.small-table', null,
          h('thead', null, h('tr', null, ['Environment', 'State / phase', 'Files', 'Rows'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
          h('tbody', null, list.map(function (x) {
            return h('tr', x.id === m.id ? { 'aria-current': 'true', className: 'open' } : null,
              h('td', null, x.id === m.id ? h('strong', { text: x.env })
                : h('button.link', { type: 'button', onclick: function () { openDetail(x.id, true); } }, x.env)),
              h('td', null, h('span.badge.st-' + x.state, { text: x.state }), x.phase ? ' ' + x.phase : ''),
              h('td.num', { text: pct(filesOf(x).percent || 0) }),
              h('td.num', { text: num(x.rows) }));
          }))));
    });

    var steps = (m.steps || []).map(function (s) { return [s.id, s.state, s.attempt, s.duration_ms, s.error && s.error.message]; });
    section('steps', steps, function () {
      var list = (m.steps || []).slice().reverse();
      return h('details.sec', { 'data-testid': 'steps' },
        h('summary', null, h('h3', { text: 'Steps (' + list.length + ')' })),
        h('table.small-table', null,
          h('thead', null, h('tr', null, ['Step', 'Purpose', 'State', 'Try', 'Took', 'Finished'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
          h('tbody', null, list.map(function (s) {
            return h('tr', null,
              h('td.mono', { text: s.id }),
              h('td', { text: s.purpose || s.kind }),
              h('td', null, h('span.badge.st-' + s.state, { text: s.state }),
                s.error && s.error.message ? h('div.small.errtext', { text: s.error.message }) : null),
              h('td.num', { text: s.attempt }),
              h('td.num', { text: dur(s.duration_ms) }),
              h('td.num', { text: time(s.finished_at) }));
          }))));
    });

    section('history', detail.history.map(function (e) { return e.id; }), function () {
      var list = detail.history.slice().reverse();
      return h('details.sec', { 'data-testid': 'history' },
        h('summary', null, h('h3', { text: 'History (last ' + list.length + ')' })),
        h('table.small-table', null,
          h('thead', null, h('tr', null, ['When', 'What', 'Change', 'By'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
          h('tbody', null, list.map(function (e) {
            return h('tr', null,
              h('td.num', { text: time(e.at) }),
              h('td', { text: (e.entity || '') + (e.what ? ' ' + e.what : '') }),
              h('td', { text: (e.from || '·') + ' → ' + (e.to || '·') }),
              h('td.small', { text: e.actor || '' }));
          }))));
    });

    section('audit', [detail.audit.map(function (e) { return e.id; }), detail.auditError], function () {
      var list = detail.audit.slice().reverse();
      return h('details.sec', { open: true, 'data-testid': 'audit' },
        h('summary', null, h('h3', { text: 'Audit trail of ' + m.app + ' (last ' + list.length + ')' })),
        detail.auditError ? h('p.small', { text: 'Audit not available: ' + detail.auditError }) : null,
        h('table.small-table', null,
          h('thead', null, h('tr', null, ['When', 'Who (from)', 'Did', 'Outcome'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
          h('tbody', null, list.map(function (e) {
            return h('tr', null,
              h('td.num', { text: time(e.at) }),
              h('td', null, e.user + (e.role ? ' (' + e.role + ')' : ''), h('div.small', { text: e.from || '' })),
              h('td', { text: (e.action || e.method + ' ' + e.path) + (e.env ? ' ' + e.env : '') }),
              h('td', null, h('span' + (e.status >= 400 ? '.bad' : '.good'), { text: String(e.status) }), ' ', e.outcome || ''));
          }))));
    });
  }
  function stepCard(s) {
    var p = s.progress || {};
    var bars = [];
    if (p.total) {
      bars.push(h('div.bar', null,
        h('progress', { max: p.total, value: Math.min(p.total, p.done || 0), 'aria-label': s.id + ' ' + (p.unit || 'done') }),
        h('span.small', { text: num(p.done) + ' / ' + num(p.total) + ' ' + (p.unit || '') + ' (' + pct(100 * (p.done || 0) / p.total) + ')' })));
    } else if (s.state === 'running') {
      bars.push(h('div.bar', null, h('progress', { 'aria-label': s.id + ' running' }),
        h('span.small', { text: p.done ? num(p.done) + ' ' + (p.unit || '') : 'working…' })));
    }
    if (p.bytes_total) {
      bars.push(h('div.bar', null,
        h('progress', { max: p.bytes_total, value: Math.min(p.bytes_total, p.bytes_done || 0), 'aria-label': s.id + ' bytes' }),
        h('span.small', { text: bytes(p.bytes_done) + ' / ' + bytes(p.bytes_total) })));
    }
    return h('div.step', { 'data-testid': 'step-' + s.id },
      h('div.steph', null, h('span.mono', { text: s.id }), ' ', h('strong', { text: s.purpose || s.kind }),
        ' ', h('span.badge.st-' + s.state, { text: s.state }),
        s.attempt > 1 ? h('span.small', { text: ' try ' + s.attempt }) : null),
      bars,
      p.rows ? h('div.small', { text: num(p.rows) + ' rows' }) : null,
      p.detail ? h('div.small.detailtext', { text: p.detail }) : null,
      s.worker ? h('div.small', { text: 'on ' + s.worker }) : null);
  }
  function timingSection(m) {
    var last = m.last || {}, cut = m.cutover || {};
    var ver = m.verified && (m.verified.dump_restore_ms !== null || m.verified.file_sync_ms !== null) ? m.verified : null;
    var est = ver ? Math.max(ver.dump_restore_ms || 0, ver.file_sync_ms || 0) : null;
    var rough = Math.max(last.dump_restore_ms || 0, last.file_sync_ms || 0) || null;
    return h('div.sec', { 'data-testid': 'timing' },
      h('h3', { text: 'Durations and the final migration\u2019s downtime' }),
      dl([
        ['Last dump-restore', dur(last.dump_restore_ms) + (last.dump_restore_at ? ' (at ' + time(last.dump_restore_at) + ')' : ''), 'last-dr'],
        ['Last file sync', dur(last.file_sync_ms) + (last.file_sync_at ? ' (at ' + time(last.file_sync_at) + ')' : ''), 'last-fs'],
        ['Verified (stop/cutover)', ver ? 'dump-restore ' + dur(ver.dump_restore_ms) + ', file sync ' + dur(ver.file_sync_ms) : 'none yet'],
        ['Expected downtime', est !== null ? dur(est) + ' (the longer verified duration: both run in parallel)'
          : (rough ? 'about ' + dur(rough) + ' (unverified: stop replication once for a better figure)' : 'unknown yet'), 'downtime-estimate'],
        ['Cutover time limit', dur(cut.limit_ms), 'cutover-limit'],
        cut.time_left_ms !== null && cut.time_left_ms !== undefined ? ['Time left (cutover)', dur(cut.time_left_ms)] : null,
        ['Last downtime measured', dur(cut.downtime_ms)],
        cut.migrate_after && cut.migrate_after > Date.now() ? ['Migrate from', time(cut.migrate_after) + ' (the names\u2019 old DNS TTL must expire)'] : null
      ]));
  }
  function databaseSection(m) {
    var d = m.database || {};
    var st = d.stream;
    return h('div.sec', { 'data-testid': 'database' },
      h('h3', { text: 'Database' }),
      dl([
        ['Method', (d.method || 'not decided yet') + (d.method_spec ? ' (spec: ' + d.method_spec + ')' : ''), 'db-method'],
        d.why ? ['Why', d.why] : null,
        ['Replication slot', d.slot || 'none'],
        d.slot_error ? ['Slot error', d.slot_error] : null,
        st ? ['Stream', (st.step || '') + ': lag ' + dur(st.lag_ms) + ', ' + bytes(st.lag_bytes) + '; slot keeps ' + bytes(st.slot_wal_bytes) + '; ' + num(st.changes) + ' changes'] : null
      ]));
  }
  var NAME_HINTS = {
    'timeout': 'The step ran out of time. Replicating again brings the data back to 100 % so the next try fits its time limit.',
    'unavailable': 'A service (database, storage, DNS or the platform) could not be reached. Check it is up, then try again.',
    'authentication failed': 'Credentials were refused: check the secrets the spec names.',
    'permission denied': 'Access was refused: check the permissions of the accounts the spec names.',
    'not found': 'Something the spec names does not exist (app, environment, bucket, database or DNS zone).',
    'no space': 'The target ran out of space: make room, then try again.',
    'conflict': 'The platform was not in the state Ferry expected; the message says what. Fix it, then try again.',
    'cancelled': 'Replication was interrupted: the v4 data is incomplete and probably inconsistent. Replicate data and files again before testing or migrating.'
  };
  function errorHint(m) {
    var e = m.error || {};
    if (m.replayable) {
      return 'The step failed after its retries. Fix the cause, then replay the failed step: the migration continues where it stopped.' +
        (NAME_HINTS[e.name] && e.name !== 'cancelled' ? ' ' + NAME_HINTS[e.name] : '') +
        ((m.actions || []).indexOf('replay') < 0 ? ' (You may not replay it: ask an operator of ' + m.app + '.)' : '');
    }
    if (m.state === 'rolled_back') {
      return 'Renaming or restarting failed, so the changes were rolled back (document §4.7.2): the v3 app serves again under its names. Fix the cause, replicate again, then migrate.';
    }
    if (m.state === 'failed' && e.name === 'cancelled') return NAME_HINTS.cancelled;
    if (m.state === 'failed' && m.target_incomplete) {
      return 'The v4 data is incomplete. It is safe to replicate again to bring it back to 100 %.';
    }
    if (m.state === 'failed') {
      return 'If this happened during the final migration: nothing was renamed and the v3 app was restarted (§4.7.1). It is safe to replicate again to bring the data back to 100 %, then migrate. ' +
        (NAME_HINTS[e.name] || '');
    }
    if (m.state === 'replicating' || m.state === 'stopped' || m.state === 'new' || m.state === 'migrated') {
      if (/running/i.test(e.message || '')) {
        return 'You cannot replicate data into an app that is running: stop the v4 app, then press Replicate data and files again.';
      }
    }
    return NAME_HINTS[e.name] || 'Look at the message; replicate again once the cause is fixed.';
  }

  /* ---------- commands ---------- */
  function migrateWarning(m, apps) {
    var c = m && m.cutover ? m.cutover : null;
    var ver = m && m.verified && (m.verified.dump_restore_ms !== null || m.verified.file_sync_ms !== null) ? m.verified : null;
    var est = ver ? Math.max(ver.dump_restore_ms || 0, ver.file_sync_ms || 0) : null;
    return [
      h('p', { text: 'The final migration of ' + (apps ? apps.join(', ') : m.app) + ':' }),
      h('ol', null, [
        'stops the app on v4, then the app on v3;',
        'replicates the production environment until it reaches 100 %;',
        'renames the v3 names of every environment to <app>-v3 and gives the v4 app the app\u2019s own names;',
        'restarts both apps.'
      ].map(function (t) { return h('li', { text: t }); })),
      h('p', { text: 'The app is down meanwhile. ' + (m ? 'Expected downtime: ' + (est !== null ? dur(est) : 'unknown (no verified duration yet: stop replication once first)') +
        '; the time limit is ' + dur(c && c.limit_ms) + '. ' : '') +
        'Only production data is checked: review the other environments yourself.' })
    ];
  }
  var CONFIRM = {
    'interrupt': function (m) {
      return ['Interrupt replication of ' + m.id + '?', [
        h('p', { text: 'Replication stops as soon as possible, leaving the v4 database in an incomplete and probably inconsistent state. The migration will show as failed.' }),
        h('p', { text: 'Stop replication without Interrupt instead to stop once all the data is replicated.' })
      ], 'Interrupt'];
    },
    'migrate': function (m) { return ['Migrate ' + m.app + ' to v4?', migrateWarning(m), 'Migrate']; },
    'rollback': function (m) {
      return ['Roll ' + m.app + ' back to v3?', [
        h('p', { text: 'Stops both apps, gives the v4 app its -v4 names back, gives the v3 app its names back and restarts the v3 app.' }),
        h('p.warn', { text: 'This will not copy any new data from the v4 environment back to v3. Any data added to the v4 database since the migration is effectively lost.' })
      ], 'Rollback'];
    }
  };
  function onAction(m, verb) {
    var body, path = verb;
    if (verb === 'interrupt') { path = 'stop'; body = { env: m.env, interrupt: true }; }
    else if (verb === 'rollback') body = { confirm: true };
    else if (verb === 'migrate') body = {};
    else body = { env: m.env };
    var send = function () {
      alertMsg('');
      say(LABELS[verb] + ' ' + m.id + '…');
      return api('POST', '/v1/apps/' + enc(m.app) + '/' + path, body).then(function (r) {
        if (r.status === 401) return expired();
        if (r.ok) say(LABELS[verb] + ' ' + m.id + ': accepted.');
        else { say(''); alertMsg(LABELS[verb] + ' ' + m.id + ' refused (' + r.status + ' ' + r.code + '): ' + r.message); }
        poll();
      });
    };
    if (CONFIRM[verb]) {
      var c = CONFIRM[verb](m);
      confirmDialog(c[0], c[1], c[2], send);
    } else send();
  }
  var pendingConfirm = null;
  function confirmDialog(title, content, okLabel, fn) {
    var d = $('confirm');
    $('confirm-title').textContent = title;
    var t = $('confirm-text');
    clear(t);
    append(t, content);
    $('confirm-ok').textContent = okLabel;
    pendingConfirm = fn;
    d.returnFocus = document.activeElement;
    d.showModal();
    $('confirm-cancel').focus();
  }
  function endConfirm(go) {
    var d = $('confirm');
    var fn = pendingConfirm;
    pendingConfirm = null;
    if (d.open) d.close();
    if (d.returnFocus && document.contains(d.returnFocus)) d.returnFocus.focus();
    if (go && fn) fn();
  }

  /* ---------- wiring ---------- */
  function init() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    $('detail-close').addEventListener('click', function () { closeDetail(false); });
    $('confirm-ok').addEventListener('click', function () { endConfirm(true); });
    $('confirm-cancel').addEventListener('click', function () { endConfirm(false); });
    $('confirm').addEventListener('cancel', function (e) { e.preventDefault(); endConfirm(false); });
    ['f-state', 'f-env'].forEach(function (id) { $(id).addEventListener('change', renderList); });
    $('f-app').addEventListener('input', renderList);
    Array.prototype.forEach.call(document.querySelectorAll('button[data-bulk]'), function (b) {
      b.addEventListener('click', function () { onBulk(b.dataset.bulk); });
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && openId && !$('confirm').open) closeDetail(false);
    });
    api('GET', '/v1/session').then(function (r) {
      if (r.ok && r.data && r.data.user) showApp(r.data);
      else showLogin('');
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
