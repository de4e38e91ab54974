// The server-rendered pages' one script: tables sort by a click on a header
// (numbers as numbers, "—" last), without a reload. On a phone the tables
// are cards without headers and keep the server's order.
(function () {
  'use strict';
  function value(td) {
    var text = (td && td.textContent || '').trim();
    if (text === '' || text === '—') return null;
    var n = text.replace(/[,\s%]/g, '').match(/^-?\d+(\.\d+)?/);
    return n ? parseFloat(n[0]) : text;
  }
  function compare(a, b) {
    if (a === null) return b === null ? 0 : 1;
    if (b === null) return -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), document.documentElement.lang || 'zh-CN');
  }
  function sortable(table) {
    var heads = table.querySelectorAll('thead th');
    var body = table.tBodies[0];
    if (!body) return;
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.textContent.trim()) return;
      th.className += ' sortable';
      th.tabIndex = 0;
      th.setAttribute('aria-sort', 'none');
      function sort() {
        var down = th.getAttribute('aria-sort') === 'ascending';
        Array.prototype.forEach.call(heads, function (h) { if (h.hasAttribute('aria-sort')) h.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a.cells[col]), y = value(b.cells[col]);
          // Missing values stay last either way.
          if (x === null || y === null) return compare(x, y);
          return down ? compare(y, x) : compare(x, y);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('.scroll table'), sortable);
})();
