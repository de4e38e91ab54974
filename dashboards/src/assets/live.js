(function () {
  'use strict';

  var L = {
    zh: {
      title: '家门口服务设施 · 实时使用情况', connecting: '连接中…', live: '实时', down: '连接中断，重连中…',
      loading: '加载中…', nosites: '暂无设施', loadfail: '数据加载失败，稍后重试',
      idle: '空闲', ok: '使用中', busy: '较满 (>80%)', over: '超员', stale: '无数据/设备离线',
      closed: '未开放', never: '从未上报', now: '刚刚', sec: '{n} 秒前', min: '{n} 分钟前',
      hour: '{n} 小时前', day: '{n} 天前', floor: '{n} 层', basement: '地下 {n} 层',
      alerts: '告警', ack: '确认', acked: '已确认（{w}）', ended: '已结束',
      k_over_capacity: '超员', k_device_offline: '设备离线', k_after_hours: '非开放时段使用', k_low_battery: '电量低',
      k_idle: '建而不用', k_door_drift: '门计数偏差', k_ingest_stalled: '数据接入中断', endedN: '已结束的告警（{n}）',
      device: '设备 {d}', all: '全部设施', since: '自 {t}',
      h_ok: '设备正常', h_offline: '设备离线', h_never: '设备未上报',
      last: '最后读数 {n} 人', overFor: '超员 {n} 分钟', idleFor: '已空闲 {n} 分钟', present: '有人', absent: '无人', lastp: '最后：{p}', sum: '在场 {n} 人 · {u}/{r} 间在用', people: '人', clock: '时间 {t}',
      cats: {}
    },
    en: {
      title: 'Doorstep service facilities · Live use', connecting: 'Connecting…', live: 'Live',
      down: 'Disconnected, retrying…', loading: 'Loading…', nosites: 'No facilities',
      loadfail: 'Could not load data, retrying', idle: 'Idle', ok: 'In use', busy: 'Busy (>80%)',
      over: 'Over capacity', stale: 'No data / device offline', closed: 'Closed', never: 'Never reported',
      now: 'just now', sec: '{n} s ago', min: '{n} min ago', hour: '{n} h ago', day: '{n} d ago',
      floor: 'Floor {n}', basement: 'B{n}',
      alerts: 'Alerts', ack: 'Acknowledge', acked: 'Acknowledged ({w})', ended: 'ended',
      k_over_capacity: 'Over capacity', k_device_offline: 'Device offline', k_after_hours: 'After-hours use', k_low_battery: 'Low battery',
      k_idle: 'Built but unused', k_door_drift: 'Door count drift', k_ingest_stalled: 'Ingest stalled', endedN: 'Ended alerts ({n})',
      device: 'device {d}', all: 'All sites', since: 'since {t}',
      h_ok: 'Devices OK', h_offline: 'Device offline', h_never: 'No report yet', last: 'Last reading {n}', overFor: 'Over capacity for {n} min', idleFor: 'Empty for {n} min', present: 'Occupied', absent: 'Empty',
      lastp: 'Last: {p}', sum: '{n} present · {u}/{r} rooms in use',
      people: 'people', clock: 'Time {t}',
      cats: {
        elderly_care: 'Elderly care', infant_care: 'Infant care', child_care: 'After-school care',
        meal_aid: 'Meal aid', housekeeping: 'Housekeeping', health: 'Health', fitness: 'Fitness',
        culture: 'Culture', children_play: 'Children\u2019s play', shared_space: 'Shared space', other: 'Other'
      }
    }
  };

  var lang = pickLang();
  var rooms = {};            // "site\u0000room" -> { site, data, el }
  var sites = {};            // site id -> { el, grid, sum, where, name, data }
  var sync = null;           // { server: ms, at: performance ms, speed }
  var POLL_MS = 30000;
  var main = document.getElementById('sites');

  function pickLang() {
    var q = /[?&]lang=([a-zA-Z-]+)/.exec(location.search);
    // Without ?lang, the server chose from Accept-Language.
    var l = q ? q[1] : (document.documentElement.getAttribute('lang') || 'zh');
    return l.toLowerCase().indexOf('en') === 0 ? 'en' : 'zh';
  }
  function t(key, args) {
    var s = L[lang][key];
    if (s === undefined) s = L.zh[key];
    if (args) for (var k in args) s = s.split('{' + k + '}').join(args[k]);
    return s;
  }
  function q(el, sel) { return el.querySelector(sel); }
  function key(site, room) { return site + '\u0000' + room; }
  function ms(text) { var v = text ? Date.parse(text) : NaN; return isNaN(v) ? null : v; }
  function serverNow() {
    if (!sync) return Date.now();
    return sync.server + (performance.now() - sync.at) * sync.speed;
  }

  // ---- drawing ----

  function makeSite(id) {
    var el = document.createElement('section');
    el.className = 'site';
    el.setAttribute('data-site', id);
    el.innerHTML = '<header><h2 class="site-name"></h2><span class="where"></span><span class="sum"></span></header>' +
      '<div class="grid"></div>';
    return { el: el, grid: q(el, '.grid'), name: q(el, '.site-name'), where: q(el, '.where'), sum: q(el, '.sum') };
  }

  function makeTile(site, room) {
    var el = document.createElement('article');
    el.className = 'tile';
    el.setAttribute('data-site', site);
    el.setAttribute('data-room', room);
    el.innerHTML = '<div class="head"><h3 class="name"></h3><span class="floor"></span></div>' +
      '<div class="cat"></div>' +
      '<div class="num"><span class="occ">—</span><span class="cap"></span></div>' +
      '<div class="bar"><div class="fill"></div></div>' +
      '<div class="status"></div><div class="ago"></div><div class="health"></div>';
    return el;
  }

  function level(r) {
    if (r.stale || r.occupancy == null) return 'stale';
    if (r.occupancy === 0) return 'idle';
    if (r.load == null) return 'ok';
    if (r.load > 1) return 'over';
    if (r.load > 0.8) return 'busy';
    return 'ok';
  }

  function catName(r) {
    if (!r.open_now || !r.category_now) return t('closed');
    if (lang === 'zh' && r.category_now_zh) return r.category_now_zh;
    return L[lang].cats[r.category_now] || r.category_now_zh || r.category_now;
  }

  function floorName(f) {
    if (f == null) return '';
    return f < 0 ? t('basement', { n: -f }) : t('floor', { n: f });
  }

  function minutesSince(text) {
    return Math.max(0, Math.floor((serverNow() - ms(text)) / 60000));
  }

  function ago(updated) {
    if (updated == null) return t('never');
    var s = Math.max(0, Math.floor((serverNow() - updated) / 1000));
    if (s < 5) return t('now');
    if (s < 60) return t('sec', { n: s });
    if (s < 3600) return t('min', { n: Math.floor(s / 60) });
    if (s < 86400) return t('hour', { n: Math.floor(s / 3600) });
    return t('day', { n: Math.floor(s / 86400) });
  }

  function paint(entry) {
    var r = entry.data, el = entry.el;
    var lv = level(r);
    el.setAttribute('data-level', lv);
    q(el, '.name').textContent = r.name;
    q(el, '.name').title = r.name;
    q(el, '.floor').textContent = floorName(r.floor);
    var cat = q(el, '.cat');
    cat.textContent = catName(r);
    cat.className = 'cat' + (r.open_now ? '' : ' closed');
    var occ = q(el, '.occ');
    if (r.presence_only) {
      // A presence sensor says whether anyone is there, not how many.
      occ.textContent = lv === 'stale' ? '—' : t(r.occupancy > 0 ? 'present' : 'absent');
      occ.className = 'occ word';
      q(el, '.cap').textContent = '';
    } else {
      occ.textContent = lv === 'stale' ? '—' : String(r.occupancy);
      occ.className = 'occ';
      q(el, '.cap').textContent = ' / ' + r.capacity + ' ' + t('people');
    }
    var w = 0;
    if (lv !== 'stale') w = r.load != null ? Math.min(1, r.load) : (r.occupancy > 0 ? 1 : 0);
    q(el, '.fill').style.width = (w * 100).toFixed(1) + '%';
    var status = '';
    if (lv === 'stale') {
      status = t('stale');
      if (r.last_occupancy != null) {
        status += ' · ' + (r.presence_only
          ? t('lastp', { p: t(r.last_occupancy > 0 ? 'present' : 'absent') })
          : t('last', { n: r.last_occupancy }));
      }
    } else if (r.over_capacity_since) {
      status = t('overFor', { n: minutesSince(r.over_capacity_since) });
    } else if (r.idle_since && r.open_now) {
      status = t('idleFor', { n: minutesSince(r.idle_since) });
    } else if (lv !== 'idle' && r.load != null) {
      status = Math.round(r.load * 100) + '%';
    }
    q(el, '.status').textContent = status;
    if (r.updated) el.setAttribute('data-updated', r.updated); else el.removeAttribute('data-updated');
    entry.updatedMs = ms(r.updated);
    entry.validMs = ms(r.valid_until);
    q(el, '.ago').textContent = ago(entry.updatedMs);
    var h = q(el, '.health');
    h.className = 'health ' + (r.health || '');
    h.textContent = t('h_' + (r.health || 'never')) +
      (r.devices && r.devices.length ? ' · ' + r.devices.map(function (d) { return d.id; }).join(', ') : '');
  }

  function paintSum(siteId) {
    var s = sites[siteId];
    if (!s) return;
    var n = 0, used = 0, total = 0;
    for (var k in rooms) {
      var e = rooms[k];
      if (e.site !== siteId) continue;
      total++;
      if (!e.data.stale && e.data.occupancy > 0) {
        if (!e.data.presence_only) n += e.data.occupancy;
        used++;
      }
    }
    s.sum.textContent = t('sum', { n: n, u: used, r: total });
  }

  function render(snap) {
    sync = { server: ms(snap.now) || Date.now(), at: performance.now(), speed: snap.clock_speed || 1 };
    var seenSites = {}, seenRooms = {};
    var empty = document.getElementById('empty');
    if (empty) empty.parentNode.removeChild(empty);
    (snap.sites || []).forEach(function (site) {
      seenSites[site.id] = true;
      var s = sites[site.id] || (sites[site.id] = makeSite(site.id));
      s.name.textContent = site.name;
      s.where.textContent = [site.city, site.district].filter(Boolean).join(' · ');
      main.appendChild(s.el);
      site.rooms.forEach(function (r) {
        var k = key(site.id, r.id);
        seenRooms[k] = true;
        var e = rooms[k] || (rooms[k] = { site: site.id, el: makeTile(site.id, r.id) });
        e.data = r;
        s.grid.appendChild(e.el);
        paint(e);
      });
    });
    for (var k in rooms) if (!seenRooms[k]) { rooms[k].el.remove(); delete rooms[k]; }
    for (var id in sites) if (!seenSites[id]) { sites[id].el.remove(); delete sites[id]; }
    for (id in sites) paintSum(id);
    if (!(snap.sites || []).length) showEmpty(t('nosites'));
    tickClock();
  }

  function showEmpty(text) {
    var p = document.getElementById('empty');
    if (!p) { p = document.createElement('p'); p.id = 'empty'; p.className = 'empty'; main.appendChild(p); }
    p.textContent = text;
  }

  // Every pushed change, newest last (the browser tests read it).
  var pushes = document.getElementById('pushes');
  function logPush(r) {
    var li = document.createElement('li');
    li.setAttribute('data-site', r.site_id);
    li.setAttribute('data-room', r.id);
    li.textContent = r.site_id + '/' + r.id + '=' + (r.occupancy == null ? '' : r.occupancy);
    pushes.appendChild(li);
    while (pushes.children.length > 50) pushes.removeChild(pushes.firstChild);
    document.body.setAttribute('data-pushes', String((+document.body.getAttribute('data-pushes') || 0) + 1));
  }

  // ---- alerts ----

  var canAck = document.body.getAttribute('data-can-ack') !== 'false';
  var alertData = [];
  function hhmm(text) {
    var d = new Date(ms(text) || 0);
    var p = function (n) { return (n < 10 ? '0' : '') + n; };
    return p(d.getHours()) + ':' + p(d.getMinutes());
  }
  function alertItem(a) {
    var li = document.createElement('li');
    li.setAttribute('data-alert', a.id);
    li.setAttribute('data-kind', a.kind);
    if (a.ended) li.className = 'ended'; else if (a.acked_by) li.className = 'acked';
    var kind = document.createElement('span'); kind.className = 'kind'; kind.textContent = t('k_' + a.kind);
    var place = [a.site_name, a.room_name].filter(function (x) { return x; });
    if (a.device_id) place.push(t('device', { d: a.device_id }));
    var where = document.createElement('span'); where.textContent = place.length ? place.join(' · ') : t('all');
    var what = document.createElement('span'); what.textContent = (lang === 'en' ? a.detail_en : a.detail_zh) + ' · ' + t('since', { t: hhmm(a.since) });
    li.appendChild(kind); li.appendChild(where); li.appendChild(what);
    if (a.acked_by) {
      var s = document.createElement('span'); s.textContent = t('acked', { w: a.acked_by }); li.appendChild(s);
    } else if (canAck && !a.ended) {
      var b = document.createElement('button'); b.type = 'button'; b.textContent = t('ack');
      b.onclick = function () { ackAlert(a.id); };
      li.appendChild(b);
    }
    return li;
  }
  var endedOpen = false;
  function paintAlerts() {
    var box = document.getElementById('alerts'), list = document.getElementById('alert-list');
    list.textContent = '';
    var active = alertData.filter(function (a) { return !a.ended; });
    var ended = alertData.filter(function (a) { return a.ended; }).slice(0, 20);
    box.hidden = active.length + ended.length === 0;
    active.forEach(function (a) { list.appendChild(alertItem(a)); });
    if (ended.length) {
      // Ended alerts stay folded away (one line on a phone) until opened.
      var li = document.createElement('li'); li.className = 'ended-group';
      var d = document.createElement('details'); d.open = endedOpen;
      d.ontoggle = function () { endedOpen = d.open; };
      var sum = document.createElement('summary'); sum.textContent = t('endedN', { n: ended.length });
      var ul = document.createElement('ul');
      ended.forEach(function (a) { ul.appendChild(alertItem(a)); });
      d.appendChild(sum); d.appendChild(ul); li.appendChild(d); list.appendChild(li);
    }
  }
  function loadAlerts() {
    var x = new XMLHttpRequest();
    x.open('GET', '/api/alerts');
    x.onload = function () {
      if (x.status !== 200) return;
      try { alertData = JSON.parse(x.responseText).alerts || []; } catch (err) { return; }
      paintAlerts();
    };
    x.send();
  }
  function ackAlert(id) {
    var x = new XMLHttpRequest();
    x.open('POST', '/api/alerts/' + id + '/ack');
    x.onload = loadAlerts;
    x.send();
  }
  var alertTimer = null;
  function soonAlerts() {
    if (alertTimer) return;
    alertTimer = setTimeout(function () { alertTimer = null; loadAlerts(); }, 1000);
  }

  function apply(r) {
    var e = rooms[key(r.site_id, r.id)];
    if (!e) { load(); return; }     // a room we do not know: the registry changed
    e.data = r;
    paint(e);
    paintSum(r.site_id);
    e.el.classList.add('bump');
    clearTimeout(e.bump);
    e.bump = setTimeout(function () { e.el.classList.remove('bump'); }, 600);
  }

  // ---- data ----

  var loading = false;
  function load() {
    if (loading) return;
    loading = true;
    var x = new XMLHttpRequest();
    x.open('GET', '/api/live');
    x.setRequestHeader('Accept', 'application/json');
    x.onload = function () {
      loading = false;
      if (x.status !== 200) { if (!sync) showEmpty(t('loadfail')); return; }
      try { render(JSON.parse(x.responseText)); } catch (err) { if (!sync) showEmpty(t('loadfail')); }
    };
    x.onerror = function () { loading = false; if (!sync) showEmpty(t('loadfail')); };
    x.send();
  }

  function setConn(state) {
    var c = document.getElementById('conn');
    c.className = 'conn' + (state === 'live' ? ' live' : state === 'down' ? ' down' : '');
    c.setAttribute('data-state', state);
    c.textContent = t(state === 'live' ? 'live' : state === 'down' ? 'down' : 'connecting');
  }

  function subscribe() {
    if (!window.EventSource) return;
    var opened = false;
    var es = new EventSource('/api/live/events');
    es.onopen = function () {
      // After a reconnect, changes may have been missed.
      if (opened) load();
      opened = true;
      setConn('live');
    };
    es.onerror = function () { setConn('down'); };
    es.onmessage = function (ev) {
      var r;
      try { r = JSON.parse(ev.data); } catch (err) { return; }
      if (r && r.site_id) { logPush(r); apply(r); soonAlerts(); }
    };
    es.addEventListener('resync', load);
  }

  // ---- time ----

  function tickClock() {
    if (!sync) return;
    var d = new Date(serverNow());
    var p = function (n) { return (n < 10 ? '0' : '') + n; };
    document.getElementById('now').textContent =
      t('clock', { t: p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) });
  }

  function tick() {
    var now = serverNow();
    for (var k in rooms) {
      var e = rooms[k];
      // Go stale on time rather than waiting for the next poll.
      if (!e.data.stale && e.validMs != null && now >= e.validMs) {
        e.data.stale = true; e.data.occupancy = null; e.data.load = null;
        paint(e); paintSum(e.site);
      } else {
        q(e.el, '.ago').textContent = ago(e.updatedMs);
      }
    }
    tickClock();
  }

  // ---- language ----

  function relabel() {
    document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
    document.title = t('title');
    document.getElementById('title').textContent = t('title');
    var labels = document.querySelectorAll('[data-l]');
    for (var i = 0; i < labels.length; i++) labels[i].textContent = t(labels[i].getAttribute('data-l'));
    var views = document.querySelectorAll('nav.views a[data-en]');
    for (var v = 0; v < views.length; v++) {
      views[v].textContent = views[v].getAttribute('data-' + lang);
      views[v].href = views[v].getAttribute('href').replace(/lang=[a-z]+/, 'lang=' + lang);
    }
    var links = document.querySelectorAll('.lang a');
    for (i = 0; i < links.length; i++) {
      links[i].className = links[i].getAttribute('data-lang') === lang ? 'on' : '';
    }
    var c = document.getElementById('conn');
    setConn(c.getAttribute('data-state') || 'connecting');
    for (var k in rooms) paint(rooms[k]);
    for (var id in sites) paintSum(id);
    var empty = document.getElementById('empty');
    if (empty && !sync) empty.textContent = t('loading');
    tickClock();
    paintAlerts();
  }

  document.querySelector('.lang').addEventListener('click', function (ev) {
    var a = ev.target.closest ? ev.target.closest('a[data-lang]') : null;
    if (!a) return;
    ev.preventDefault();
    lang = a.getAttribute('data-lang');
    if (history.replaceState) history.replaceState(null, '', '?lang=' + lang);
    relabel();
  });

  relabel();
  load();
  subscribe();
  setInterval(tick, 1000);
  setInterval(load, POLL_MS);
  loadAlerts();
  setInterval(loadAlerts, 10000);
})();
