// The status page: fetches GET /api/status every few seconds and redraws the tiles, the tables and the SVG chart
// of queue depth and workers over the last hour. No page reload, no library, no network beyond this server.
"use strict";

(function () {
  const root = document.getElementById("status-root");
  if (!root) return;
  const api = root.dataset.api;
  const refreshMs = Number(root.dataset.refreshSeconds) * 1000;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  // The plot area inside the SVG's 720x280 viewBox: room for both y axes and the time labels.
  const box = { left: 48, right: 672, top: 12, bottom: 244 };
  const SPANS = [[5, 1], [10, 2], [15, 3], [30, 5], [60, 10]]; // [minutes shown, minutes between grid lines]
  const TICKS = 4;
  const select = $("window-minutes");
  const asked = new URLSearchParams(location.search).get("minutes");
  if (asked && [...select.options].some((option) => option.value === asked)) select.value = asked;

  const count = (n) => (n === null || n === undefined ? "—" : String(n));
  const duration = (s) => (s === null || s === undefined ? "—" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`);
  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const setText = (id, text) => { $(id).textContent = text; };

  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // An axis maximum of TICKS round steps (1 to 8 × 10^n, at least 1): every tick label is a whole number, and the
  // highest point fills most of the height.
  function axisMax(value) {
    const rough = Math.max(1, value / TICKS);
    const magnitude = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 3, 4, 5, 6, 8, 10].map((f) => f * magnitude).find((s) => s >= rough);
    return step * TICKS;
  }

  function drawFigures(data) {
    const q = data.queue, f = data.fleet, r = data.requests;
    setText("queue-waiting", count(q.waiting));
    setText("queue-in-flight", count(q.in_flight));
    setText("queue-dead-letters", count(q.dead_letters));
    setText("queue-note", q.available ? "" : q.error);
    setText("fleet-running", count(f.running));
    setText("fleet-pending", count(f.pending));
    const fresh = f.reported && !f.stale;
    setText("fleet-note", fresh
      ? `${f.provider} autoscaler (${f.policy || "?"}): desired ${f.desired}, reported ${Math.round(f.age_seconds)} s ago`
        + (f.service_seconds === null ? "" : `; believes ${f.service_seconds} s per image, boot ${f.boot_seconds} s, `
          + `${f.arrival_rate} arriving per second: ${f.reason}`)
      : f.message);
    $("fleet-note").classList.toggle("warn", !fresh);
    setText("throughput", r.throughput_per_minute.toFixed(1));
    const minutes = data.window.minutes;
    document.querySelectorAll(".window-label").forEach((label) => {
      label.textContent = `${minutes} minute${minutes === 1 ? "" : "s"}`;
    });
    document.querySelectorAll("#latency-table tr[data-latency]").forEach((row) => {
      const p = r[row.dataset.latency];
      row.querySelector('[data-field="count"]').textContent = count(p.count);
      ["p50", "p95", "p99"].forEach((key) => { row.querySelector(`[data-field="${key}"]`).textContent = duration(p[key]); });
    });
    setText("finished-summary", `Finished in the window: ${r.done} done, ${r.failed} failed, ${r.expired} expired.`);
    setText("latency-note", r.latency_capped ? `Percentiles from the newest ${r.latency_rows} of ${r.done} results.` : "");
    ["queued", "running", "done", "failed", "expired"].forEach((status) => setText(`count-${status}`, count(r.by_status[status])));
  }

  function drawChart(data) {
    const chart = $("fleet-chart");
    const points = data.chart.points;
    // The time axis spans the samples there are (a fleet that started two minutes ago is not a sliver at the right
    // edge of an hour), rounded up to a readable span, at most the hour the API sends.
    const t1 = Date.parse(data.generated_at);
    const age = points.length ? (t1 - Date.parse(points[0].time)) / 60000 : 60;
    const [spanMinutes, stepMinutes] = SPANS.find(([span]) => span >= age) || SPANS[SPANS.length - 1];
    const t0 = Math.max(Date.parse(data.chart.since), t1 - spanMinutes * 60000);
    const x = (iso) => box.left + ((Date.parse(iso) - t0) / Math.max(1, t1 - t0)) * (box.right - box.left);
    const y = (value, max) => box.bottom - (value / max) * (box.bottom - box.top);
    const queueMax = axisMax(Math.max(0, ...points.map((p) => p.visible + p.in_flight)));
    const fleetMax = axisMax(Math.max(0, ...points.map((p) => p.running + p.pending)));
    // Queue depth on the left axis (messages), the fleet on the right (workers): their scales differ by far.
    const series = {
      queue: [(p) => p.visible + p.in_flight, queueMax],
      fleet: [(p) => p.running + p.pending, fleetMax],
      running: [(p) => p.running, fleetMax],
    };
    Object.entries(series).forEach(([name, [value, max]]) => {
      const coordinates = points.map((p) => `${x(p.time).toFixed(1)},${y(value(p), max).toFixed(1)}`);
      chart.querySelector(`polyline[data-series="${name}"]`).setAttribute("points", coordinates.join(" "));
    });

    const grid = chart.querySelector(".grid-lines"), labels = chart.querySelector(".labels");
    grid.replaceChildren();
    labels.replaceChildren();
    for (let i = 0; i <= TICKS; i++) {
      const gy = box.bottom - (i / TICKS) * (box.bottom - box.top);
      grid.append(svg("line", { x1: box.left, x2: box.right, y1: gy, y2: gy, class: i ? "grid" : "axis" }));
      labels.append(svg("text", { x: box.left - 6, y: gy + 4, "text-anchor": "end" }, String((queueMax * i) / TICKS)));
      labels.append(svg("text", { x: box.right + 6, y: gy + 4 }, String((fleetMax * i) / TICKS)));
    }
    for (let minutesAgo = spanMinutes; minutesAgo >= 0; minutesAgo -= stepMinutes) {
      const at = new Date(t1 - minutesAgo * 60000).toISOString();
      grid.append(svg("line", { x1: x(at), x2: x(at), y1: box.top, y2: box.bottom, class: "grid" }));
      const label = minutesAgo ? `-${minutesAgo} min` : "now";
      labels.append(svg("text", { x: x(at), y: box.bottom + 16, "text-anchor": "middle" }, label));
    }
    labels.append(svg("text", { x: 4, y: box.bottom + 32 }, "messages"));
    labels.append(svg("text", { x: 716, y: box.bottom + 32, "text-anchor": "end" }, "workers"));

    const markers = chart.querySelector(".markers");
    markers.replaceChildren();
    data.chart.markers.forEach((m) => {
      const mark = svg("line", { x1: x(m.time), x2: x(m.time), y1: box.bottom - 10, y2: box.bottom,
                                 class: `marker marker-${m.action}`, "data-marker": m.action });
      mark.append(svg("title", {}, `${m.action} ${m.count} at ${clock(m.time)}`));
      markers.append(mark);
    });

    const empty = chart.querySelector(".empty");
    empty.textContent = points.length ? ""
      : data.fleet.reported ? "No autoscaler samples in the last hour." : "No autoscaler has reported yet.";
    const last = points[points.length - 1];
    $("chart-desc").textContent = last
      ? `${points.length} samples; latest at ${clock(last.time)}: ${last.visible + last.in_flight} messages, ` +
        `${last.running} workers running, ${last.pending} pending.`
      : empty.textContent;
  }

  // One refresh chain at a time: a change of window (or the tab showing again) starts a new chain; an older one
  // whose answer arrives late neither draws over the newer figures nor schedules another refresh.
  let timer = null, chain = 0;

  async function refresh(mine) {
    const error = $("refresh-error");
    try {
      const response = await fetch(`${api}?minutes=${encodeURIComponent(select.value)}`,
        { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      if (mine !== chain) return;
      drawFigures(body);
      drawChart(body);
      error.hidden = true;
      const stamp = $("last-refresh");
      stamp.dateTime = body.generated_at;
      stamp.textContent = clock(body.generated_at);
      stamp.dataset.refreshes = String(Number(stamp.dataset.refreshes) + 1);
    } catch (exc) {
      // The last figures stay on screen: say they are old rather than blank them.
      error.textContent = `Refresh failed (${exc.message}); the figures below are from the last successful one.`;
      error.hidden = false;
    }
  }

  async function loop() {
    clearTimeout(timer);
    const mine = ++chain;
    if (!document.hidden) await refresh(mine); // a hidden tab asks nothing; it catches up when shown again
    if (mine === chain) timer = setTimeout(loop, refreshMs);
  }

  select.addEventListener("change", loop);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) loop(); });
  loop();
})();
