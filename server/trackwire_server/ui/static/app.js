// Trackwire web UI: a hash-routed single page over the JSON API in routes.py.
// Every user-supplied string reaches the page as a text node (h() below) or
// through the escaping Markdown renderer; nothing else is parsed as HTML.
"use strict";
(function () {
  const C = window.TrackwireCharts;
  const main = document.getElementById("app");
  // Each route renders into a fresh container; a page still loading for an old route
  // keeps appending to its own detached container, never to the new page.
  let current = main;
  // Charts by name, and the live event source of the page: read by the tests and the benchmark.
  window.trackwireCharts = {};
  let liveSource = null;
  let pageGeneration = 0;

  // -- helpers ---------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "className") e.className = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  async function api(path, options) {
    const response = await fetch(path, await TrackwireAuth.withCsrf(options));
    if (response.status === 401) return TrackwireAuth.signIn();
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString();
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : "");
  function fmtDuration(start, end) {
    if (!start) return "";
    let s = Math.max(0, Math.round(((end || Date.now()) - start) / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const hh = Math.floor(s / 3600); s -= hh * 3600;
    const mm = Math.floor(s / 60); s -= mm * 60;
    return (d ? d + "d " : "") + (hh ? hh + "h " : "") + (mm ? mm + "m " : "") + s + "s";
  }
  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : +v.toPrecision(6) + "";
    return String(v);
  }
  const statusBadge = (s) => h("span", { className: "status " + s }, s);
  const backtick = (key) => "`" + key.replace(/`/g, "") + "`";
  function identifier(column) {
    const dot = column.indexOf(".");
    return column.slice(0, dot) + "." + backtick(column.slice(dot + 1));
  }
  function error(message) { return h("div", { className: "error" }, message); }
  const T = window.TrackwireTimes;
  const relativeTime = (ms) => T.element(ms);

  // "Experiments / <name> /" for the experiments of a page (their ids if they cannot be read).
  async function experimentCrumbs(experimentIds) {
    const ids = [...new Set(experimentIds)];
    const names = await Promise.all(ids.map((id) => api("/api/experiments/" + encodeURIComponent(id))
      .then((r) => r.experiment.name, () => "experiment " + id)));
    const links = ids.map((id, i) => [i ? ", " : "", h("a", { href: "#/experiments/" + encodeURIComponent(id), className: "experiment-crumb" }, names[i])]);
    return h("div", { className: "crumbs" }, h("a", { href: "#/" }, "Experiments"), " / ", links, " / ");
  }

  // Which runs logged each key once ({key: {run_id: true|false}}), for the first keys the
  // server looks at in one call; a key it did not look at is taken to have a history.
  const COUNTED_KEYS = 100;
  async function metricsLoggedOnce(runIds, keys) {
    if (!keys.length) return {};
    const r = await api("/api/metrics-logged-once?" + qs({ run_ids: runIds.join(","), keys: keys.slice(0, COUNTED_KEYS).join(",") }));
    return r.logged_once;
  }
  // A key every run that has it logged once: drawn as a value or bar, never as a lone dot.
  const loggedOnce = (once, key) => once[key] !== undefined && Object.keys(once[key]).length > 0 && Object.values(once[key]).every(Boolean);

  function stopLive() {
    if (liveSource) { liveSource.close(); liveSource = null; }
    window.trackwireLiveOpen = false;
  }
  // Opens one event stream for the runs; onPoints(event) gets each batch of new points.
  function startLive(runIds, onPoints) {
    stopLive();
    if (!runIds.length) return;
    liveSource = new EventSource("/api/live?" + qs({ run_ids: runIds.join(",") }));
    liveSource.onmessage = (e) => {
      const event = JSON.parse(e.data);
      if (event.run_id) onPoints(event);
      else if (event.overflowed) route(); // points were dropped: read the histories again
    };
    liveSource.addEventListener("end", () => stopLive());
    // EventSource reconnects by itself after a network error; points sent in between
    // were missed, so the page reads the histories again.
    let opened = 0;
    // Open means live: the server answers once its watch is registered (tests wait on it).
    liveSource.onopen = () => { window.trackwireLiveOpen = true; if (++opened > 1) route(); };
  }

  // A live chart holds at most this many points; past it, it reads the downsampled history again.
  const LIVE_POINTS_CAP = 20000;

  // Appends live points to a history, keeping it sorted by step (points arrive in write order).
  function appendPoints(hh, event) {
    for (let i = 0; i < event.steps.length; i++) {
      const step = event.steps[i];
      let j = hh.steps.length;
      while (j > 0 && hh.steps[j - 1] > step) j--;
      if (j === hh.steps.length) { hh.steps.push(step); hh.values.push(event.values[i]); hh.timestamps.push(event.timestamps[i]); }
      else { hh.steps.splice(j, 0, step); hh.values.splice(j, 0, event.values[i]); hh.timestamps.splice(j, 0, event.timestamps[i]); }
    }
  }

  // fn at most every `ms` milliseconds, the last call always honoured.
  function throttled(fn, ms) {
    let timer = null;
    return () => { if (timer === null) timer = setTimeout(() => { timer = null; fn(); }, ms || 100); };
  }

  function route() {
    stopLive();
    pageGeneration++;
    for (const chart of Object.values(window.trackwireCharts)) chart.destroy && chart.destroy();
    window.trackwireCharts = {};
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    current = h("div");
    main.replaceChildren(current);
    // The hash whose page has finished rendering: tests and the benchmark wait for it.
    const rendering = location.hash;
    window.trackwireRendered = null;
    let page;
    if (parts[0] === "experiments" && parts[1]) page = experimentPage(parts[1], params);
    else if (parts[0] === "runs" && parts[1]) page = runPage(parts[1]);
    else if (parts[0] === "models" && parts[1]) page = modelPage(parts[1]);
    else if (parts[0] === "models") page = modelsPage(params);
    else if (parts[0] === "compare") page = comparePage((params.get("runs") || "").split(",").filter(Boolean));
    else page = experimentsPage(params);
    const done = () => {
      if (location.hash !== rendering) return;
      window.trackwireRenderedAt = performance.now();
      window.trackwireRendered = rendering;
    };
    const container = current;
    // Then what the session adds (auth.js): the Access panel of an experiment or a model.
    page.then(() => TrackwireAuth.pageExtras(container, parts)).then(done, (e) => { container.append(error(e.message)); done(); });
  }
  window.addEventListener("hashchange", route);

  // -- experiments list --------------------------------------------------------

  async function experimentsPage(params) {
    const app = current;
    const q = params.get("q") || "";
    const input = h("input", { type: "search", id: "experiment-search", placeholder: "Search experiments by name", value: q });
    const body = h("tbody");
    const form = h("form", { className: "toolbar", onsubmit: (e) => { e.preventDefault(); location.hash = "#/?" + qs({ q: input.value }); } }, input, h("button", { type: "submit" }, "Search"));
    app.append(h("h1", {}, "Experiments"), form,
      h("div", { className: "table-wrap" }, h("table", { className: "grid", id: "experiments" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "ID"), h("th", {}, "Runs"), h("th", {}, "Last update"), h("th", {}, "Created"))), body)));
    const { experiments } = await api("/api/experiments?" + qs({ q }));
    for (const e of experiments) {
      body.append(h("tr", {},
        h("td", {}, h("a", { href: "#/experiments/" + encodeURIComponent(e.experiment_id), className: "experiment-link" }, e.name)),
        h("td", {}, e.experiment_id), h("td", { className: "num" }, e.run_count),
        h("td", { className: "updated" }, relativeTime(e.update_time)), h("td", { className: "created" }, relativeTime(e.create_time))));
    }
    if (!experiments.length) body.append(h("tr", {}, h("td", { colspan: 5, className: "muted" }, "No experiment matches.")));
  }

  // -- experiment: the runs table ---------------------------------------------

  const selections = new Map(); // experiment id -> Set of run ids (kept across pages)

  async function experimentPage(experimentId, params) {
    const app = current;
    const filter = params.get("filter") || "";
    const orderBy = params.get("order_by") || "";
    const pageToken = params.get("page_token") || "";
    const pageNumber = +(params.get("page") || 1);
    const selected = selections.get(experimentId) || new Set();
    selections.set(experimentId, selected);
    const go = (changes) => {
      const next = Object.assign({ filter, order_by: orderBy }, changes);
      location.hash = "#/experiments/" + encodeURIComponent(experimentId) + "?" + qs(next);
    };
    // The experiment and the first page of runs load together.
    const searched = api("/api/search-runs?" + qs({ experiment_ids: experimentId, filter, order_by: orderBy, page_token: pageToken, page_size: 100 }))
      .then((r) => ({ r }), (e) => ({ e }));
    const { experiment } = await api("/api/experiments/" + encodeURIComponent(experimentId));
    const filterInput = h("input", { type: "text", id: "run-filter", className: "filter", value: filter, placeholder: "metrics.accuracy > 0.8 AND params.model_type = 'rf'" });
    const compareButton = h("button", { type: "button", id: "compare-button", className: "primary", onclick: () => { location.hash = "#/compare?" + qs({ runs: [...selected].join(",") }); } });
    const updateCompare = () => { compareButton.textContent = "Compare (" + selected.size + ")"; compareButton.disabled = selected.size < 2 || selected.size > 20; };
    updateCompare();
    const clearButton = h("button", { type: "button", onclick: () => { selected.clear(); route(); } }, "Clear selection");
    const errorBox = h("div", { id: "filter-error" });
    app.append(
      h("div", { className: "crumbs" }, h("a", { href: "#/" }, "Experiments"), " / "),
      h("h1", { id: "experiment-name" }, experiment.name),
      h("form", { className: "toolbar", onsubmit: (e) => { e.preventDefault(); go({ filter: filterInput.value }); } },
        filterInput, h("button", { type: "submit", id: "run-search" }, "Search"), compareButton, clearButton),
      errorBox);
    const { r: result, e: searchError } = await searched;
    if (searchError) {
      errorBox.append(error(searchError.message));
      return;
    }
    const t = result.table;
    const all = Object.keys(t.columns);
    const stored = JSON.parse(localStorage.getItem("trackwire.columns." + experimentId) || "null");
    const defaults = [...all.filter((c) => c.startsWith("metrics.")).slice(0, 8), ...all.filter((c) => c.startsWith("params.")).slice(0, 8)];
    let chosen = stored || defaults;
    const [sortColumn, sortDir] = orderBy ? orderBy.split(/ (?=ASC$|DESC$)/) : ["", ""];

    // Columns picker.
    const panel = h("div", { className: "panel", hidden: true, id: "columns-panel" },
      all.filter((c) => !c.startsWith("tags.trackwire.")).map((c) => h("label", {}, h("input", {
        type: "checkbox", value: c, checked: chosen.includes(c),
        onchange: (e) => {
          chosen = e.target.checked ? [...chosen, c] : chosen.filter((x) => x !== c);
          localStorage.setItem("trackwire.columns." + experimentId, JSON.stringify(chosen));
          drawTable();
        },
      }), " ", c)));
    const picker = h("div", { className: "columns-picker" }, h("button", { id: "columns-button", onclick: () => { panel.hidden = !panel.hidden; } }, "Columns"), panel);
    const pager = h("span", { className: "muted", id: "run-count" },
      result.total_count + " runs" + (result.total_count > t.run_ids.length ? " · page " + pageNumber : ""));
    const prev = h("button", { id: "prev-page", disabled: pageNumber <= 1, onclick: () => history.back() }, "‹ Prev");
    const next = h("button", { id: "next-page", disabled: !result.next_page_token, onclick: () => go({ page_token: result.next_page_token, page: pageNumber + 1 }) }, "Next ›");
    app.append(h("div", { className: "toolbar" }, picker, pager, prev, next));
    const wrap = h("div", { className: "table-wrap" });
    app.append(wrap);

    function sortHeader(label, column) {
      const cls = ["sortable", column === sortColumn ? (sortDir === "DESC" ? "sorted-desc" : "sorted-asc") : ""].join(" ");
      return h("th", {
        className: cls, "data-column": column, title: "Sort by " + label,
        onclick: () => go({ order_by: column + (column === sortColumn && sortDir !== "DESC" ? " DESC" : column === sortColumn ? " ASC" : " DESC") }),
      }, label);
    }

    function drawTable() {
      // Children right under their parent when both are on this page.
      const n = t.run_ids.length;
      const parents = t.columns["tags.trackwire.parentRunId"] || [];
      const index = new Map(t.run_ids.map((id, i) => [id, i]));
      const children = new Map();
      const order = [];
      for (let i = 0; i < n; i++) {
        const p = parents[i];
        if (p && index.has(p)) { if (!children.has(p)) children.set(p, []); children.get(p).push(i); }
      }
      const visit = (i, depth) => { order.push([i, depth]); for (const c of children.get(t.run_ids[i]) || []) visit(c, depth + 1); };
      for (let i = 0; i < n; i++) if (!(parents[i] && index.has(parents[i]))) visit(i, 0);
      const head = h("tr", {}, h("th", {}, ""), sortHeader("Run name", "attributes.run_name"), sortHeader("Status", "attributes.status"),
        sortHeader("Started", "attributes.start_time"), h("th", {}, "Duration"),
        chosen.filter((c) => t.columns[c]).map((c) => sortHeader(c, identifier(c))));
      const rows = order.map(([i, depth]) => {
        const id = t.run_ids[i];
        const box = h("input", { type: "checkbox", className: "run-select", "data-run-id": id, checked: selected.has(id),
          onchange: (e) => { e.target.checked ? selected.add(id) : selected.delete(id); updateCompare(); } });
        return h("tr", { className: depth ? "child" : "", "data-run-id": id },
          h("td", {}, box),
          h("td", { className: "name" }, h("a", { href: "#/runs/" + encodeURIComponent(id), className: "run-link" }, t.run_names[i] || id)),
          h("td", {}, statusBadge(t.statuses[i])), h("td", { className: "started" }, relativeTime(t.start_times[i])),
          h("td", {}, fmtDuration(t.start_times[i], t.end_times[i])),
          chosen.filter((c) => t.columns[c]).map((c) => {
            const v = t.columns[c][i];
            return h("td", { className: c.startsWith("metrics.") ? "num" : "", title: v === null ? "" : String(v) }, fmtValue(v));
          }));
      });
      wrap.replaceChildren(h("table", { className: "grid", id: "runs" }, h("thead", {}, head), h("tbody", {}, rows)));
    }
    drawTable();
    // The distribution of a metric over every run the filter matches (one projected search).
    const metricColumns = all.filter((c) => c.startsWith("metrics."));
    if (metricColumns.length) {
      const distSelect = h("select", { id: "distribution-metric" }, metricColumns.map((c) => h("option", { value: c }, c.slice(8))));
      const distBox = h("div", { id: "distribution", className: "card" });
      const drawDistribution = async () => {
        const column = distSelect.value;
        try {
          const r = await api("/api/search-runs?" + qs({ experiment_ids: experimentId, filter, select: column, page_size: 50000 }));
          if (distSelect.value === column) C.histogram(distBox, r.table.columns[column] || [], column, 20);
        } catch (e) { distBox.replaceChildren(error(e.message)); }
      };
      distSelect.onchange = drawDistribution;
      app.append(h("h2", {}, "Distribution"), h("div", { className: "chart-controls" }, h("label", {}, "Metric ", distSelect)), distBox);
      drawDistribution();
    }
  }

  // -- compare ----------------------------------------------------------------

  async function comparePage(runIds) {
    const app = current;
    if (runIds.length < 2 || runIds.length > 20) throw new Error("Select 2 to 20 runs to compare.");
    const { runs } = await api("/api/runs?" + qs({ run_ids: runIds.join(",") }));
    const name = (r) => r.run_name || r.run_id;
    const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
    const readHistories = (key) => api("/api/metric-histories?" + qs({ run_ids: runIds.join(","), key, max_points: 2000 }));
    // The first key is read while the server tells which keys were logged once: it is the
    // default curve when it has a history, and one point per run to read when not.
    let prefetched = metricKeys.length ? { key: metricKeys[0], result: readHistories(metricKeys[0]).catch(() => null) } : null;
    const [crumbs, once] = await Promise.all([experimentCrumbs(runs.map((r) => r.experiment_id)), metricsLoggedOnce(runIds, metricKeys)]);
    app.append(crumbs, h("h1", {}, "Comparing " + runs.length + " runs"));

    function sideBySide(id, title, keys, value) {
      const rows = keys.map((k) => {
        const values = runs.map((r) => value(r, k));
        const differs = new Set(values.map((v) => JSON.stringify(v === undefined ? null : v))).size > 1;
        return h("tr", { className: differs ? "diff" : "", "data-key": k }, h("td", {}, k), values.map((v) => h("td", { className: typeof v === "number" ? "num" : "" }, fmtValue(v))));
      });
      return [h("h2", {}, title), h("div", { className: "table-wrap" }, h("table", { className: "grid", id },
        h("thead", {}, h("tr", {}, h("th", {}, ""), runs.map((r) => h("th", {}, h("a", { href: "#/runs/" + encodeURIComponent(r.run_id) }, name(r)))))),
        h("tbody", {}, rows)))];
    }
    const union = (f) => [...new Set(runs.flatMap((r) => Object.keys(f(r))))].sort();
    const paramKeys = union((r) => r.params);
    const onlyDiff = h("input", { type: "checkbox", id: "only-differences", onchange: (e) => { for (const tr of app.querySelectorAll("#compare-params tbody tr, #compare-metrics tbody tr")) tr.hidden = e.target.checked && !tr.classList.contains("diff"); } });
    app.append(h("label", {}, onlyDiff, " Only differences"));
    app.append(...sideBySide("compare-info", "Runs", ["status", "start time", "duration"], (r, k) => (k === "status" ? r.status : k === "start time" ? fmtTime(r.start_time) : fmtDuration(r.start_time, r.end_time))));
    app.append(...sideBySide("compare-params", "Parameters", paramKeys, (r, k) => r.params[k]));
    app.append(...sideBySide("compare-metrics", "Metrics (latest)", metricKeys, (r, k) => (r.metrics[k] ? r.metrics[k].value : undefined)));

    // Metrics logged once per run: a bar per run (a curve of one point is a lone dot).
    const onceKeys = metricKeys.filter((k) => loggedOnce(once, k));
    const historyKeys = metricKeys.filter((k) => !loggedOnce(once, k));
    if (onceKeys.length) {
      const barCards = h("div", { className: "cards", id: "compare-bars" });
      app.append(h("h2", {}, "Values (logged once)"), barCards);
      for (const k of onceKeys.slice(0, 24)) {
        const el = h("div", { className: "bars-chart" });
        barCards.append(h("div", { className: "card", "data-metric": k }, h("h3", {}, k), el));
        C.bars(el, runs.map((r, i) => ({ label: name(r), value: r.metrics[k] ? r.metrics[k].value : null, color: C.color(i) })));
      }
    }

    // Overlaid curves, of a metric with a history unless one is picked.
    app.append(h("h2", {}, "Curves"));
    const metricSelect = h("select", { id: "chart-metric" },
      historyKeys.length ? null : h("option", { value: "" }, "—"),
      historyKeys.map((k) => h("option", { value: k }, k)),
      onceKeys.length ? h("optgroup", { label: "Logged once" }, onceKeys.map((k) => h("option", { value: k }, k))) : null);
    const xSelect = h("select", { id: "chart-x" }, h("option", { value: "step" }, "Step"), h("option", { value: "wall" }, "Wall time"), h("option", { value: "relative" }, "Relative time"));
    const logBox = h("input", { type: "checkbox", id: "chart-log" });
    const smoothRange = h("input", { type: "range", id: "chart-smoothing", min: 0, max: 0.99, step: 0.01, value: 0 });
    const chartBox = h("div", { id: "compare-chart", className: "card" });
    app.append(h("div", { className: "chart-controls" }, h("label", {}, "Metric ", metricSelect), h("label", {}, "X axis ", xSelect),
      h("label", {}, logBox, " Log scale"), h("label", {}, "Smoothing ", smoothRange)), chartBox);
    let histories = null;
    const generation = pageGeneration;
    function drawCurves() {
      if (window.trackwireCharts.compare) window.trackwireCharts.compare.destroy();
      chartBox.replaceChildren();
      const byRun = new Map(histories.map((hh) => [hh.run_id, hh]));
      const series = runs.map((r, i) => {
        const hh = byRun.get(r.run_id) || { steps: [], timestamps: [], values: [] };
        return { label: name(r), x: C.xs(hh, xSelect.value), y: hh.values, color: C.color(i) };
      });
      window.trackwireCharts.compare = C.lineChart(chartBox, series, { mode: xSelect.value, log: logBox.checked, smoothing: +smoothRange.value });
    }
    async function loadCurves() {
      if (!metricSelect.value) {
        if (window.trackwireCharts.compare) { window.trackwireCharts.compare.destroy(); delete window.trackwireCharts.compare; }
        chartBox.replaceChildren(h("p", { className: "muted" }, metricKeys.length ? "No metric has a history: the values logged once are above." : "No metrics."));
        return;
      }
      const key = metricSelect.value;
      const early = prefetched && prefetched.key === key ? await prefetched.result : null;
      prefetched = null;
      const result = early || await readHistories(key);
      if (generation !== pageGeneration || key !== metricSelect.value) return;
      histories = result.histories;
      drawCurves();
    }
    metricSelect.onchange = loadCurves; xSelect.onchange = drawCurves; logBox.onchange = drawCurves; smoothRange.oninput = drawCurves;
    await loadCurves();
    const running = runs.filter((r) => r.status === "RUNNING").map((r) => r.run_id);
    const redrawCurves = throttled(drawCurves);
    startLive(running, (event) => {
      if (!histories || event.key !== metricSelect.value) return;
      const hh = histories.find((x) => x.run_id === event.run_id);
      if (!hh) return;
      appendPoints(hh, event);
      if (hh.steps.length > LIVE_POINTS_CAP) loadCurves(); // downsampled again by the server
      else redrawCurves();
    });

    // Scatter of two metrics or params, coloured by a param.
    const dims = [...metricKeys.map((k) => "metrics." + k), ...paramKeys.map((k) => "params." + k)];
    const valueOf = (r, d) => {
      if (d.startsWith("metrics.")) { const m = r.metrics[d.slice(8)]; return m ? (typeof m.value === "number" ? m.value : null) : null; }
      const v = r.params[d.slice(7)]; if (v === undefined) return null;
      return v !== "" && !isNaN(+v) ? +v : v;
    };
    const pick = (id, preferred) => h("select", { id }, dims.map((d) => h("option", { value: d, selected: d === preferred }, d)));
    const sx = pick("scatter-x", dims[0]), sy = pick("scatter-y", dims[1] || dims[0]);
    const sc = h("select", { id: "scatter-color" }, h("option", { value: "" }, "(none)"), paramKeys.map((k) => h("option", { value: "params." + k }, "params." + k)));
    const scatterBox = h("div", { id: "scatter", className: "card" });
    const drawScatter = () => C.scatter(scatterBox, runs.map((r) => ({ label: name(r), x: valueOf(r, sx.value), y: valueOf(r, sy.value), group: sc.value ? valueOf(r, sc.value) : "all" })), { x: sx.value, y: sy.value, group: sc.value });
    sx.onchange = sy.onchange = sc.onchange = drawScatter;
    app.append(h("h2", {}, "Scatter"), h("div", { className: "chart-controls" }, h("label", {}, "X ", sx), h("label", {}, "Y ", sy), h("label", {}, "Colour by ", sc)), scatterBox);
    if (dims.length) drawScatter();

    // Parallel coordinates: the params that differ, to a metric.
    const target = h("select", { id: "parallel-target" }, metricKeys.map((k) => h("option", { value: "metrics." + k }, "metrics." + k)));
    const parBox = h("div", { id: "parallel", className: "card" });
    const drawParallel = () => {
      const varying = paramKeys.filter((k) => new Set(runs.map((r) => r.params[k])).size > 1).map((k) => "params." + k);
      const axes = [...varying.slice(0, 8), target.value].filter(Boolean);
      C.parallel(parBox, runs.map((r) => ({ label: name(r), values: Object.fromEntries(axes.map((d) => [d, valueOf(r, d)])), colorValue: valueOf(r, target.value) })), axes, target.value);
    };
    target.onchange = drawParallel;
    app.append(h("h2", {}, "Parallel coordinates"), h("div", { className: "chart-controls" }, h("label", {}, "Metric ", target)), parBox);
    if (metricKeys.length) drawParallel();
  }

  // -- run page ---------------------------------------------------------------

  const NOTE_TAG = "trackwire.note.content";

  async function runPage(runId) {
    const app = current;
    const { run } = await api("/api/runs/" + encodeURIComponent(runId));
    // Writing the note needs USE on the experiment (the server refuses it anyway).
    const mayWrite = TrackwireAuth.allows({ experiments: run.experiment_id }, "USE");
    const generation = pageGeneration;
    const metrics = Object.entries(run.metrics).sort(([a], [b]) => a.localeCompare(b));
    const [crumbs, once] = await Promise.all([experimentCrumbs([run.experiment_id]), metricsLoggedOnce([runId], metrics.map(([k]) => k))]);
    app.append(crumbs, h("h1", { id: "run-name" }, run.run_name || run.run_id));
    const kv = (pairs) => h("dl", { className: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    app.append(h("div", { className: "card", id: "run-info" }, kv([
      ["Run ID", run.run_id], ["Status", statusBadge(run.status)], ["Started", fmtTime(run.start_time)],
      ["Duration", fmtDuration(run.start_time, run.end_time)], ["User", run.user_id],
      ["Parent run", run.parent_run_id ? h("a", { href: "#/runs/" + encodeURIComponent(run.parent_run_id) }, run.parent_run_id) : ""],
      ["Artifact URI", run.artifact_uri]])));

    // Note.
    const noteView = h("div", { id: "note-view" });
    const showNote = (text) => { noteView.innerHTML = text ? TrackwireMarkdown.render(text) : '<p class="muted">No note.</p>'; };
    let noteText = run.tags[NOTE_TAG] || "";
    showNote(noteText);
    const editor = h("textarea", { id: "note-editor", hidden: true });
    const noteError = h("div");
    const save = h("button", { id: "note-save", className: "primary", hidden: true, onclick: async () => {
      try {
        await api("/api/runs/" + encodeURIComponent(runId) + "/note", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ content: editor.value }) });
        noteText = editor.value; showNote(noteText); editor.hidden = save.hidden = true; edit.hidden = false; noteError.replaceChildren();
      } catch (e) { noteError.replaceChildren(error(e.message)); }
    } }, "Save");
    const edit = h("button", { id: "note-edit", onclick: () => { editor.value = noteText; editor.hidden = save.hidden = false; edit.hidden = true; } }, "Edit note");
    app.append(h("h2", {}, "Note"), h("div", { className: "note" }, noteView, editor, noteError, h("div", { className: "toolbar" }, edit, save)));
    if (!(await mayWrite)) edit.remove();

    const table = (id, rows, heads) => h("div", { className: "table-wrap" }, h("table", { className: "grid", id }, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))), h("tbody", {}, rows)));
    const params = Object.entries(run.params).sort(([a], [b]) => a.localeCompare(b));
    app.append(h("h2", {}, "Parameters"), table("run-params", params.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v))), ["Key", "Value"]));
    const latestRow = (k, m) => h("tr", { "data-key": k }, h("td", {}, k), h("td", { className: "num latest" }, fmtValue(m.value)), h("td", { className: "num step" }, m.step));
    const metricsTable = table("run-metrics", metrics.map(([k, m]) => latestRow(k, m)), ["Key", "Latest", "Step"]);
    app.append(h("h2", {}, "Metrics"), metricsTable);
    // Live points move the latest values (the latest is the point with the highest step).
    const latest = Object.fromEntries(metrics);
    const updateLatest = (event) => {
      const n = event.steps.length - 1;
      let best = 0;
      for (let i = 1; i <= n; i++) if (event.steps[i] >= event.steps[best]) best = i;
      const point = { value: event.values[best] === null ? "NaN" : event.values[best], step: event.steps[best] };
      const known = latest[event.key];
      if (known && known.step > point.step) return;
      latest[event.key] = point;
      const row = metricsTable.querySelector('tr[data-key="' + CSS.escape(event.key) + '"]');
      if (row) row.replaceWith(latestRow(event.key, point));
      else metricsTable.querySelector("tbody").append(latestRow(event.key, point));
    };

    // A metric logged once is a value; a metric with a history is a curve (one card each,
    // downsampled by the server). A live metric moves from values to curves at its second point.
    const live = run.status === "RUNNING";
    const points = {}; // key -> its number of points, 2 standing for "a history"
    for (const [k] of metrics) points[k] = loggedOnce(once, k) ? 1 : 2;
    const valueCards = h("div", { className: "cards values", id: "run-values" });
    const valuesSection = h("div", { hidden: true }, h("h2", {}, "Values (logged once)"), valueCards);
    const valueCard = (k, m) => h("div", { className: "card value-card", "data-metric": k },
      h("h3", {}, k), h("div", { className: "value" }, fmtValue(m.value)), h("div", { className: "muted" }, "step " + m.step));
    function showValue(key, m) {
      const card = valueCard(key, m);
      const old = valueCards.querySelector('[data-metric="' + CSS.escape(key) + '"]');
      if (old) old.replaceWith(card); else valueCards.append(card);
      valuesSection.hidden = false;
    }
    function dropValue(key) {
      const old = valueCards.querySelector('[data-metric="' + CSS.escape(key) + '"]');
      if (old) old.remove();
      valuesSection.hidden = !valueCards.children.length;
    }
    for (const [k, m] of metrics) if (points[k] <= 1) showValue(k, m);
    app.append(valuesSection);
    const cards = h("div", { className: "cards", id: "run-charts" });
    const noCurves = h("p", { className: "muted", id: "no-curves" }, "No metric has a history" + (live ? " yet." : "."));
    app.append(h("h2", {}, live ? [h("span", { className: "live-dot" }), "Curves (live)"] : "Curves"), noCurves, cards);
    const histories = {};
    function drawMetric(key) {
      const hh = histories[key];
      noCurves.hidden = true;
      let card = cards.querySelector('[data-metric="' + CSS.escape(key) + '"]');
      if (!card) { card = h("div", { className: "card", "data-metric": key }, h("h3", {}, key), h("div", { className: "chart" })); cards.append(card); }
      const el = card.querySelector(".chart");
      const old = window.trackwireCharts["metric:" + key];
      const data = [hh.steps.slice(), hh.values.slice()];
      if (old) { old.setData(data); return; }
      el.replaceChildren();
      window.trackwireCharts["metric:" + key] = C.lineChart(el, [{ label: key, x: hh.steps, y: hh.values }], { mode: "step", height: 200 });
    }
    const charted = metrics.filter(([k]) => points[k] > 1).slice(0, 24);
    await Promise.all(charted.map(async ([key]) => {
      const r = await api("/api/metric-histories?" + qs({ run_ids: runId, key, max_points: 1000 }));
      if (generation !== pageGeneration) return;
      histories[key] = r.histories[0];
    }));
    for (const [key] of charted) if (histories[key]) drawMetric(key);
    if (live) {
      const redraws = {};
      const reloading = {}; // key -> live events that came while its history was read
      const reload = async (key) => {
        reloading[key] = [];
        const r = await api("/api/metric-histories?" + qs({ run_ids: runId, key, max_points: 1000 }));
        if (generation !== pageGeneration) return;
        histories[key] = r.histories[0];
        for (const event of reloading[key]) appendPoints(histories[key], event);
        delete reloading[key];
        dropValue(key);
        drawMetric(key);
      };
      startLive([runId], (event) => {
        updateLatest(event);
        points[event.key] = (points[event.key] || 0) + event.steps.length;
        if (reloading[event.key]) { reloading[event.key].push(event); return; }
        if (!histories[event.key]) {
          if (points[event.key] <= 1) showValue(event.key, latest[event.key]);
          else reload(event.key); // its whole history, the point shown as a value included
          return;
        }
        const hh = histories[event.key];
        appendPoints(hh, event);
        if (hh.steps.length > LIVE_POINTS_CAP) { reload(event.key); return; }
        (redraws[event.key] || (redraws[event.key] = throttled(() => drawMetric(event.key))))();
      });
    }

    // Tags (the note and the run name are shown above).
    const tags = Object.entries(run.tags).filter(([k]) => k !== NOTE_TAG).sort(([a], [b]) => a.localeCompare(b));
    app.append(h("h2", {}, "Tags"), table("run-tags", tags.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v))), ["Key", "Value"]));

    // Artifacts.
    const tree = h("div", { className: "artifact-tree", id: "artifact-tree" });
    const preview = h("div", { className: "preview", id: "artifact-preview" }, h("p", { className: "muted" }, "Select a file to preview it."));
    app.append(h("h2", {}, "Artifacts"), h("div", { className: "artifacts" }, tree, preview));
    const artifactUrl = (path, extra) => "/api/runs/" + encodeURIComponent(runId) + "/artifact?" + qs(Object.assign({ path }, extra || {}));
    async function listInto(container, path, depth) {
      const { files } = await api("/api/runs/" + encodeURIComponent(runId) + "/artifacts?" + qs({ path }));
      if (!files.length && depth === 0) container.append(h("p", { className: "muted" }, "No artifacts."));
      for (const f of files) {
        const label = f.path.split("/").pop();
        const link = h("a", { href: "#", className: f.is_dir ? "dir" : "file artifact-link", "data-path": f.path, style: "padding-left:" + (4 + depth * 14) + "px" }, label);
        const children = h("div", { hidden: true });
        link.onclick = async (e) => {
          e.preventDefault();
          if (f.is_dir) {
            if (!children.dataset.loaded) { children.dataset.loaded = "1"; await listInto(children, f.path, depth + 1); }
            children.hidden = !children.hidden;
          } else {
            for (const a of tree.querySelectorAll("a.selected")) a.classList.remove("selected");
            link.classList.add("selected");
            await showPreview(f);
          }
        };
        container.append(link, children);
      }
    }
    async function showPreview(f) {
      const name = f.path.split("/").pop();
      const ext = name.includes(".") ? name.split(".").pop().toLowerCase() : "";
      const header = h("div", { className: "toolbar" }, h("b", {}, f.path), h("span", { className: "muted" }, f.file_size + " bytes"),
        h("a", { href: artifactUrl(f.path, { download: "1" }), id: "artifact-download", download: name }, "Download"));
      preview.replaceChildren(header);
      if (["png", "jpg", "jpeg", "gif", "webp", "bmp", "svg"].includes(ext)) {
        preview.append(h("img", { src: artifactUrl(f.path), alt: f.path, id: "preview-image" }));
        return;
      }
      const textLike = ["csv", "tsv", "json", "yaml", "yml", "txt", "log", "md", "py", "mlmodel", ""].includes(ext) || name === "MLmodel";
      if (!textLike) { preview.append(h("p", { className: "muted" }, "No preview for this file type.")); return; }
      const response = await fetch(artifactUrl(f.path, { preview: "1" }));
      if (!response.ok) { preview.append(error((await response.json().catch(() => ({}))).error || response.statusText)); return; }
      const text = await response.text();
      const truncated = f.file_size > text.length * 1.01 + 16;
      if (truncated) preview.append(h("p", { className: "muted" }, "Showing the first part of the file."));
      if (ext === "csv" || ext === "tsv") { preview.append(csvTable(text, ext === "tsv" ? "\t" : ",")); return; }
      if (ext === "json") {
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as is */ }
        preview.append(h("pre", { id: "preview-text" }, shown)); return;
      }
      preview.append(h("pre", { id: "preview-text" }, text));
    }
    await listInto(tree, "", 0);
  }

  // -- registry -----------------------------------------------------------------

  const STAGES = ["None", "Staging", "Production", "Archived"];

  async function modelsPage(params) {
    const app = current;
    const q = params.get("q") || "";
    const input = h("input", { type: "search", id: "model-search", placeholder: "Search models by name", value: q });
    const body = h("tbody");
    app.append(h("h1", {}, "Registered models"),
      h("form", { className: "toolbar", onsubmit: (e) => { e.preventDefault(); location.hash = "#/models?" + qs({ q: input.value }); } }, input, h("button", { type: "submit" }, "Search")),
      h("div", { className: "table-wrap" }, h("table", { className: "grid", id: "models" },
        h("thead", {}, h("tr", {}, ["Name", "Latest versions", "Aliases", "Last update", "Description"].map((x) => h("th", {}, x)))), body)));
    const { models } = await api("/api/models?" + qs({ q }));
    for (const m of models) {
      body.append(h("tr", { "data-model": m.name },
        h("td", {}, h("a", { href: "#/models/" + encodeURIComponent(m.name), className: "model-link" }, m.name)),
        h("td", {}, m.latest_versions.map((v) => h("span", { className: "stage " + v.current_stage }, "v" + v.version + " " + v.current_stage))),
        h("td", {}, m.aliases.map((a) => h("span", { className: "alias" }, "@" + a.alias + " → v" + a.version))),
        h("td", {}, fmtTime(m.update_time)), h("td", {}, m.description)));
    }
    if (!models.length) body.append(h("tr", {}, h("td", { colspan: 5, className: "muted" }, "No registered model matches.")));
  }

  async function modelPage(name) {
    const app = current;
    const { model, versions } = await api("/api/models/" + encodeURIComponent(name));
    // Changing stages needs EDIT on the model (the server refuses it anyway).
    const mayEdit = await TrackwireAuth.allows({ models: name }, "EDIT");
    app.append(h("div", { className: "crumbs" }, h("a", { href: "#/models" }, "Models"), " / "),
      h("h1", { id: "model-name" }, model.name),
      model.description ? h("p", { id: "model-description" }, model.description) : null);
    const tags = Object.entries(model.tags);
    if (tags.length) app.append(h("dl", { className: "kv" }, tags.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    const stageError = h("div", { id: "stage-error" });
    const rows = versions.map((v) => {
      const select = h("select", { className: "stage-select" }, STAGES.map((s) => h("option", { value: s, selected: s === v.current_stage }, s)));
      const archive = h("input", { type: "checkbox", className: "archive-existing" });
      const apply = h("button", { className: "stage-apply", onclick: async () => {
        try {
          await api("/api/models/" + encodeURIComponent(name) + "/versions/" + encodeURIComponent(v.version) + "/stage",
            { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ stage: select.value, archive_existing_versions: archive.checked }) });
          route();
        } catch (e) { stageError.replaceChildren(error(e.message)); }
      } }, "Apply");
      return h("tr", { "data-version": v.version },
        h("td", {}, "v" + v.version),
        h("td", { className: "current-stage" }, h("span", { className: "stage " + v.current_stage }, v.current_stage)),
        h("td", {}, v.aliases.map((a) => h("span", { className: "alias" }, "@" + a))),
        h("td", {}, v.run_id ? h("a", { href: "#/runs/" + encodeURIComponent(v.run_id), className: "source-run" }, v.run_id.slice(0, 12)) : ""),
        h("td", { title: v.source }, v.source),
        h("td", {}, fmtTime(v.create_time)), h("td", {}, v.description),
        h("td", { className: "actions" }, mayEdit ? [select, " ", h("label", { title: "Archive the other versions in that stage" }, archive, " archive others"), " ", apply] : h("span", { className: "muted" }, "read only")));
    });
    app.append(h("h2", {}, "Versions"), stageError, h("div", { className: "table-wrap" }, h("table", { className: "grid", id: "versions" },
      h("thead", {}, h("tr", {}, ["Version", "Stage", "Aliases", "Source run", "Source", "Created", "Description", "Change stage"].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows))));
  }

  // RFC 4180 CSV, enough for previews: quoted fields, doubled quotes, CRLF.
  function parseCsv(text, sep) {
    const rows = []; let row = [], field = "", quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false; }
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === sep) { row.push(field); field = ""; }
      else if (c === "\n") { row.push(field.replace(/\r$/, "")); rows.push(row); row = []; field = ""; if (rows.length > 1000) return rows; }
      else field += c;
    }
    if (field || row.length) { row.push(field); rows.push(row); }
    return rows;
  }
  function csvTable(text, sep) {
    const rows = parseCsv(text, sep);
    const [head, ...body] = rows;
    return h("div", { className: "table-wrap" }, h("table", { className: "grid csv-preview", id: "preview-csv" },
      h("thead", {}, h("tr", {}, (head || []).map((c) => h("th", {}, c)))),
      h("tbody", {}, body.slice(0, 500).map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
  }

  route();
})();
