// Sorting and filtering of the report's tables: plain JavaScript, no library, no server.
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent : v;
  }
  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    var nx = a !== "" && !isNaN(x), ny = b !== "" && !isNaN(y);
    if (nx && ny) { return x - y; }
    if (nx !== ny) { return nx ? -1 : 1; }  // numbers before text and blanks
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function sortable(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, index) {
      th.addEventListener("click", function () {
        var descending = th.classList.contains("asc");
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(descending ? "desc" : "asc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var c = compare(key(r.cells[index]), key(s.cells[index]));
          return descending ? -c : c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
  function filterable(table) {
    var selects = document.querySelectorAll("#filters select");
    var search = document.getElementById("search");
    var shown = document.getElementById("shown");
    function apply() {
      var wanted = Array.prototype.map.call(selects, function (s) {
        return [parseInt(s.getAttribute("data-column"), 10), s.value];
      });
      var text = search.value.toLowerCase();
      var count = 0, rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i], ok = true;
        for (var j = 0; j < wanted.length && ok; j++) {
          ok = wanted[j][1] === "" || row.cells[wanted[j][0]].textContent === wanted[j][1];
        }
        if (ok && text) { ok = row.textContent.toLowerCase().indexOf(text) >= 0; }
        row.hidden = !ok;
        count += ok ? 1 : 0;
      }
      shown.textContent = "showing " + count + " of " + rows.length + " runs";
    }
    Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", apply); });
    search.addEventListener("input", apply);
    apply();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.data"), sortable);
  var runs = document.getElementById("run-table");
  if (runs) { filterable(runs); }
}());
