// SPDX-License-Identifier: Apache-2.0
// statuspage.ts: the read-only status page the metrics listener serves: one self-contained HTML document (inline CSS/JS, canvas chart, no CDN).

/** The tab's icon: two arrows fanning out (one VIP, several reals), served at /favicon.svg. */
export const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f5fa8"/>' +
  '<path d="M3 8h4M7 8l5-4M7 8l5 4M7 8h5" stroke="#fff" stroke-width="1.6" fill="none" stroke-linecap="round"/></svg>\n';

/** The page starts its chart from the daemon's history (/api/history), then polls /api/status every second. */
export function statusPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xlvs director status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/svg+xml" href="favicon.svg">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
#meta{color:#555;margin-bottom:1em}
#bgp{margin:-.7em 0 1em}
table{border-collapse:collapse;margin-bottom:1.5em;background:#fff}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.svc td{font-weight:bold;background:#eef3fb}
.up{color:#11772b}.down{color:#b3261e}
#chart{background:#fff;border:1px solid #ccc}
#legend span{display:inline-block;margin-right:1em}
#legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.note{color:#666;font-size:.9em}
#role{display:inline-block;margin-left:.6em;padding:.05em .5em;border-radius:.3em;font-size:.8em;color:#fff;background:#777;vertical-align:middle}
#role.master{background:#11772b}#role.backup{background:#1f5fa8}#role.fault{background:#b3261e}
</style></head>
<body>
<h1>xlvs director <span id="host"></span><span id="role" hidden></span></h1>
<div id="meta">loading&hellip;</div>
<div id="bgp"></div>
<table id="svc"><thead><tr><th>Service / real</th><th>Scheduler</th><th>Weight</th><th>Health</th><th>MAC</th><th>Active</th><th>Inactive</th><th>Conn/s</th><th>Pkt/s</th><th>Byte/s</th><th>Conns</th><th>Packets</th><th>Bytes</th></tr></thead><tbody></tbody></table>
<h2 style="font-size:1.1em">Packets/s per real (last 2 minutes)</h2>
<canvas id="chart" width="900" height="240"></canvas>
<div id="legend"></div>
<p class="note" id="notes"></p>
<script>
"use strict";
var HIST = 120, hist = {}, colors = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#17becf"];
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;","\\"":"&quot;"}[c];});}
function cell(v){return "<td>"+esc(v)+"</td>";}
function renderDirector(d){
  var role = document.getElementById("role");
  if (!d) { role.hidden = true; return; }
  document.getElementById("host").textContent = d.host;
  document.title = "xlvs " + d.host + " (" + d.vrrp.role + ")";
  role.hidden = false;
  role.className = d.vrrp.role;
  role.textContent = d.vrrp.role.toUpperCase();
  var from = {vips: "the VIPs held", notify: "keepalived's notify calls", none: "no signal yet"}[d.vrrp.source];
  role.title = "VRRP role from " + from + (d.vrrp.note ? ": " + d.vrrp.note : "");
}
function render(st){
  var rows = [], keys = {};
  renderDirector(st.director);
  st.services.forEach(function(s){
    // As serviceName (src/core/net/label.ts) writes it, so the history's keys match: an IPv6 VIP in brackets.
    var name = s.protocol.toUpperCase()+" "+(s.vip.indexOf(":") >= 0 ? "["+s.vip+"]" : s.vip)+":"+s.port;
    var act = 0, inact = 0;
    s.reals.forEach(function(r){ act += r.activeConns || 0; inact += r.inactiveConns || 0; });
    var flags = (s.schedFlags || []).concat(s.persistence ? ["persistent " + s.persistence.timeout + " s"] : []);
    rows.push('<tr class="svc">'+cell(name)+cell(s.scheduler + (flags.length ? " (" + flags.join(", ") + ")" : ""))+cell("")+cell("")+cell("")+cell(act)+cell(inact)+cell(s.rate.cps)+cell(s.rate.inpps)+cell(s.rate.inbps)+cell(s.stats.conns)+cell(s.stats.packets)+cell(s.stats.bytes)+"</tr>");
    if (s.arpClaims && s.arpClaims.length) rows.push('<tr><td colspan="13" class="down">ARP guard: also answering for '+esc(s.vip)+": "+esc(s.arpClaims.map(function(c){ return c.mac+(c.real?" ("+c.real+")":""); }).join(", "))+"</td></tr>");
    s.reals.forEach(function(r){
      var h = r.health === "down" ? "down" + (r.healthDetail ? " (" + r.healthDetail.detail + ")" : "") : !r.mac ? "no MAC" : !r.schedulable ? "drained" : r.health === "unchecked" ? "unchecked" : "up";
      var w = r.effectiveWeight !== undefined ? r.effectiveWeight + " / " + r.weight : r.weight;
      rows.push("<tr>"+cell("\\u2192 "+r.address)+cell("")+cell(w)+'<td class="'+(h==="up"||h==="unchecked"?"up":"down")+'">'+esc(h)+"</td>"+cell(r.mac||"-")+cell(r.activeConns == null ? "-" : r.activeConns)+cell(r.inactiveConns == null ? "-" : r.inactiveConns)+cell(r.rate.cps)+cell(r.rate.inpps)+cell(r.rate.inbps)+cell(r.stats.conns)+cell(r.stats.packets)+cell(r.stats.bytes)+"</tr>");
      var k = name+" \\u2192 "+r.address; keys[k] = 1;
      (hist[k] = hist[k] || []).push(r.rate.inpps);
      if (hist[k].length > HIST) hist[k].shift();
    });
  });
  Object.keys(hist).forEach(function(k){ if (!keys[k]) delete hist[k]; });
  document.querySelector("#svc tbody").innerHTML = rows.join("") || '<tr><td colspan="13">no services configured</td></tr>';
  var v = st.verdicts;
  document.getElementById("meta").textContent = "updated "+new Date(st.time).toISOString().slice(11,19)+" UTC \\u00b7 connection table "+st.connTable.entries+" / "+st.connTable.capacity+" \\u00b7 forwarded "+(v.tx_new+v.tx_existing+(v.tx_stateless||0)+(v.tx_icmp||0))+" \\u00b7 dropped "+(v.drop_no_real+v.aborted)+" \\u00b7 passed "+(v.pass_not_ipv4+v.pass_malformed+v.pass_fragment+v.pass_no_service);
  document.getElementById("notes").textContent = "Connection states are inferred from client-to-server packets only (in direct routing the replies bypass the director), as IPVS does. The connection-table count is the last sweep's.";
  var b = st.bgp;
  document.getElementById("bgp").textContent = !b ? "" : "BGP (table "+b.table+"): "+(b.drained ? "drained" : "not drained")+" \\u00b7 "+
    b.vips.map(function(x){ return x.vip+" "+(x.announced ? "announced" : "withdrawn ("+x.reason+")"); }).join(", ");
  draw();
}
function draw(){
  var c = document.getElementById("chart"), g = c.getContext("2d"), W = c.width, H = c.height, L = 50, B = 20;
  g.fillStyle = "#fff"; g.fillRect(0,0,W,H);
  var ks = Object.keys(hist), top = 1;
  ks.forEach(function(k){ hist[k].forEach(function(x){ if (x > top) top = x; }); });
  // Round ticks: a step of 1, 2 or 5 times a power of ten, the axis ending on the first tick above the data.
  var raw = top/4, p = Math.pow(10, Math.floor(Math.log(raw)/Math.LN10)), step = [1,2,5,10].map(function(m){ return m*p; }).filter(function(x){ return x >= raw; })[0];
  var n = Math.ceil(top/step), max = n*step, ticks = [];
  g.strokeStyle = "#ddd"; g.fillStyle = "#555"; g.font = "11px sans-serif"; g.lineWidth = 1;
  for (var i = 0; i <= n; i++) {
    var y = H-B-(H-B-10)*i/n, t = Math.round(step*i*1e6)/1e6;
    g.beginPath(); g.moveTo(L,y); g.lineTo(W-5,y); g.stroke();
    g.fillText(t >= 1e6 ? (t/1e6)+"M" : t >= 1e3 ? (t/1e3)+"k" : String(t), 4, y+4);
    ticks.push(t);
  }
  c.dataset.ticks = ticks.join(",");
  var legend = [];
  ks.forEach(function(k, n){
    var a = hist[k], col = colors[n % colors.length];
    g.strokeStyle = col; g.lineWidth = 2; g.beginPath();
    a.forEach(function(x, j){
      var px = L+(W-5-L)*(HIST-a.length+j)/(HIST-1), py = H-B-(H-B-10)*x/max;
      if (j) g.lineTo(px,py); else g.moveTo(px,py);
    });
    g.stroke();
    legend.push('<span><i style="background:'+col+'"></i>'+esc(k)+"</span>");
  });
  document.getElementById("legend").innerHTML = legend.join("");
}
function poll(){
  fetch("api/status",{cache:"no-store"}).then(function(r){ return r.json(); }).then(render, function(e){
    document.getElementById("meta").textContent = "cannot reach the daemon: "+e;
  }).finally(function(){ setTimeout(poll, 1000); });
}
// The daemon's own history first, so the chart shows the last two minutes at once.
fetch("api/history",{cache:"no-store"}).then(function(r){ return r.json(); }).then(function(h){
  Object.keys(h.series).forEach(function(k){ hist[k] = h.series[k].map(function(x){ return x || 0; }).slice(-HIST); });
}, function(){}).finally(poll);
</script>
</body></html>
`;
}
