// The status page's script: every few seconds it reads stats.json,
// refreshes the figures and tables the server rendered, and draws the
// last hour's samples with uPlot. Text goes into the page through
// textContent only: torrent names come from .torrent files.
"use strict";
(function () {
  var refreshMS = 5000;
  var charts = {};

  function chart(id, names, colors, data) {
    var el = document.getElementById(id);
    var points = data[0].length;
    el.setAttribute("data-points", String(points));
    if (charts[id]) {
      charts[id].setData(data);
      return;
    }
    var series = [{}];
    for (var i = 0; i < names.length; i++) {
      series.push({ label: names[i], stroke: colors[i], width: 2 });
    }
    charts[id] = new uPlot({ width: Math.max(300, el.clientWidth || 600), height: 220, series: series,
      axes: [{}, { size: 60 }] }, data, el);
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      td.textContent = String(c);
      tr.appendChild(td);
    });
    return tr;
  }

  function fillTop(table, tops) {
    var body = table.tBodies[0];
    body.replaceChildren();
    tops.forEach(function (t) {
      var tr = row([t.name || t.info_hash, t.mode, t.seeders, t.leechers, t.completed]);
      tr.cells[0].title = t.info_hash;
      body.appendChild(tr);
    });
    if (tops.length === 0) {
      var tr = row(["no torrent with peers"]);
      tr.cells[0].colSpan = 5;
      body.appendChild(tr);
    }
  }

  function render(s) {
    setText("version", s.version);
    setText("uptime", String(Math.round(s.uptime_seconds)));
    setText("db-size", String(s.database.size_bytes));
    var f = s.last_flush;
    setText("flush", (f ? "last flush " + f.at + ", " + f.took_ms.toFixed(1) + " ms, " + f.bytes +
      " swarm bytes, " + f.torrents + " torrents" : "no flush yet") + " · flush failures " + s.flush_failures);
    var c = s.cluster;
    if (c && document.getElementById("cluster")) {
      var live = c.nodes_seen.filter(function (p) { return p.live; }).map(function (p) { return p.name; });
      var silent = c.nodes_seen.filter(function (p) { return !p.live; }).map(function (p) {
        return p.name + " silent since " + p.last_seen.replace(/\.\d+/, "");
      });
      var names = live.concat(silent);
      setText("cluster", "cluster node " + c.node_name + " · nodes seen " + c.nodes_live + " live (" +
        (names.length ? names.join(", ") : "none") + ") · changes sent " + c.changes_sent + " (" +
        c.changes_sent_per_second.toFixed(1) + "/s), applied " + c.changes_applied + " (" +
        c.changes_applied_per_second.toFixed(1) + "/s) · lag p50 " + c.lag_p50_ms.toFixed(1) + " ms, max " +
        c.lag_max_ms.toFixed(1) + " ms · lost batches " + c.batches_lost);
    }
    var modes = document.getElementById("modes").tBodies[0];
    modes.replaceChildren();
    Object.keys(s.modes).sort().forEach(function (name) {
      var m = s.modes[name], t = m.torrents;
      modes.appendChild(row([name, t.imported + t.dir + t.organic, t.imported, t.dir, t.organic, m.seeders, m.leechers]));
    });
    var tops = document.querySelectorAll("table.top");
    fillTop(tops[0], s.top_leechers);
    fillTop(tops[1], s.top_seeders);
    var h = s.history;
    chart("chart-proto", ["http", "udp"], ["#1f77b4", "#ff7f0e"], [h.time, h.http_per_second, h.udp_per_second]);
    chart("chart-mode", ["small", "large", "surge"], ["#2ca02c", "#9467bd", "#d62728"],
      [h.time, h.small_per_second, h.large_per_second, h.surge_per_second]);
    chart("chart-swarm", ["peers", "torrents"], ["#17becf", "#8c564b"], [h.time, h.peers, h.torrents]);
    document.body.setAttribute("data-refreshed", new Date().toISOString());
  }

  function refresh() {
    fetch("stats.json", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(render)
      .catch(function (e) { setText("summary", "cannot read stats.json: " + e); })
      .finally(function () { setTimeout(refresh, refreshMS); });
  }
  refresh();
})();
