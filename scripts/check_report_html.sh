#!/usr/bin/env bash
# Open a study's report.html in headless Chromium, count the images that actually decoded, and
# save a screenshot next to it. Exits non-zero when any image fails to show.
#   scripts/check_report_html.sh runs/table2/report/report.html
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
report=$(realpath "$1")
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || { echo "check_report_html: error: chromium not found (apt-get install chromium)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$report" "$work/report.html"
cat > "$work/probe.html" <<'HTML'
<html><body><iframe id="r" src="report.html" style="width:1200px;height:800px"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById("r").onload = function () {
  var doc = this.contentDocument, imgs = doc.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.getElementById("out").textContent = "IMAGES " + ok + "/" + imgs.length + " TABLES " + doc.querySelectorAll("table").length;
};
</script></body></html>
HTML
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --allow-file-access-from-files --user-data-dir="$work/profile")
line=$("$chrome" "${flags[@]}" --virtual-time-budget=5000 --dump-dom "file://$work/probe.html" 2>/dev/null | grep -o 'IMAGES [0-9]*/[0-9]* TABLES [0-9]*' || true)
"$chrome" "${flags[@]}" --window-size=1200,2400 --screenshot="${report%.html}.screenshot.png" "file://$report" >/dev/null 2>&1 || true
echo "${line:-IMAGES ?/? (the page did not load)}  screenshot: ${report%.html}.screenshot.png"
read -r _ counts _ _ <<<"${line:-IMAGES 0/1 TABLES 0}"
[ "${counts%/*}" = "${counts#*/}" ] && [ "${counts#*/}" != "0" ]
