# The status page: static HTML that fetches /api/status and /api/readings.
HTML = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>M-Bus gateway</title>
<style>body{font:14px sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.failing{color:#b00}
.ok{color:#070}.warn{background:#fdd;padding:.5em}pre{font-size:12px}</style></head>
<body><h1 id="t">M-Bus gateway</h1><div id="safe"></div><p id="sys"></p>
<table><thead><tr><th>meter</th><th>state</th><th>reads ok</th><th>errors</th>
<th>last reading</th><th>values</th><th>last error</th></tr></thead><tbody id="m"></tbody></table>
<p>JSON: <a href="/api/status">status</a> <a href="/api/readings">readings</a>
<a href="/api/config">config</a> <a href="/api/logs">logs</a></p>
<script>
function e(s){return String(s).replace(/[&<>"]/g,function(c){return "&#"+c.charCodeAt(0)+";"})}
function vals(r){if(!r)return "";return r.telegram.records.slice(0,4).map(function(x){
 return e(x.quantity+" "+x.value+" "+x.unit)}).join("<br>")}
async function tick(){try{
 var s=await (await fetch("/api/status")).json(),r=await (await fetch("/api/readings")).json();
 document.getElementById("t").textContent="M-Bus gateway "+s.name;
 document.getElementById("safe").innerHTML=s.safe_mode?'<p class="warn">Safe mode: '+
  e(s.safe_mode.reason)+"<br>"+s.safe_mode.errors.map(e).join("<br>")+"</p>":"";
 document.getElementById("sys").textContent="up "+s.uptime_s+" s, time "+(s.time||"not set")+
  ", network "+(s.network.up?"up":"down")+", free heap "+s.heap_free+" bytes";
 var h="";for(var n in s.meters){var m=s.meters[n],x=r[n];
  h+="<tr><td>"+e(n)+'</td><td class="'+m.state+'">'+m.state+"</td><td>"+m.ok+"</td><td>"+m.errors+
  "</td><td>"+(x?e(x.time||("uptime "+x.uptime_s+" s")):"")+"</td><td>"+vals(x)+"</td><td>"+
  (m.last_error?e(m.last_error.error):"")+"</td></tr>"}
 document.getElementById("m").innerHTML=h}catch(err){}}
tick();setInterval(tick,5000);
</script></body></html>
"""
