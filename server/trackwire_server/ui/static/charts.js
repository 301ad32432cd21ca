// Charts: overlaid metric curves (uPlot), a scatter and parallel coordinates (SVG).
"use strict";
(function () {
  const PALETTE = ["#2a6df4", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#2e86ab", "#c0392b",
    "#27ae60", "#d35400", "#7f8c8d", "#1abc9c", "#9b59b6", "#34495e", "#e67e22", "#16a085",
    "#f1c40f", "#2c3e50", "#e84393", "#00b894", "#6c5ce7"];
  const color = (i) => PALETTE[i % PALETTE.length];

  // Exponential moving average with TensorBoard's debiasing; weight 0 = raw.
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (v === null || !isFinite(v)) return v;
      last = last * weight + (1 - weight) * v; n++;
      return last / (1 - Math.pow(weight, n));
    });
  }

  // x of one history under an x-axis mode: "step", "wall" (seconds), "relative" (seconds).
  function xs(h, mode) {
    if (mode === "step") return h.steps;
    if (mode === "wall") return h.timestamps.map((t) => t / 1000);
    const t0 = h.timestamps.length ? Math.min(...h.timestamps.slice(0, 1000)) : 0;
    return h.timestamps.map((t) => (t - t0) / 1000);
  }

  // Aligns series with different x onto one sorted x array (null where a series has no point).
  function join(series) {
    if (series.length === 1) {
      const s = series[0];
      const order = s.x.map((_, i) => i).sort((a, b) => s.x[a] - s.x[b]);
      return [order.map((i) => s.x[i]), order.map((i) => s.y[i])];
    }
    const all = new Set();
    for (const s of series) for (const x of s.x) all.add(x);
    const x = Float64Array.from(all).sort();
    const index = new Map();
    x.forEach((v, i) => index.set(v, i));
    const ys = series.map((s) => {
      const y = new Array(x.length).fill(null);
      for (let i = 0; i < s.x.length; i++) y[index.get(s.x[i])] = s.y[i];
      return y;
    });
    return [Array.from(x), ...ys];
  }

  // A uPlot line chart of several series [{label, x, y}] in `el`.
  function lineChart(el, series, opts) {
    opts = opts || {};
    const width = Math.max(300, el.clientWidth || 600);
    const data = join(series.map((s) => ({ x: s.x, y: smooth(s.y, opts.smoothing || 0) })));
    const chart = new uPlot({
      width, height: opts.height || 260,
      scales: { x: { time: opts.mode === "wall" }, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ label: opts.mode === "step" || !opts.mode ? "step" : opts.mode === "wall" ? "" : "seconds" }, {}],
      series: [{ label: opts.mode === "wall" ? "time" : opts.mode === "relative" ? "seconds" : "step" },
        ...series.map((s, i) => ({ label: s.label, stroke: s.color || color(i), width: 1.5, spanGaps: true }))],
      legend: { live: true },
    }, data, el);
    chart._trackwire = { series, opts };
    return chart;
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function text(x, y, s, attrs) { const t = svgEl("text", Object.assign({ x, y }, attrs || {})); t.textContent = s; return t; }
  function fmt(v) { return typeof v === "number" ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : +v.toPrecision(4) + "") : String(v); }

  // An axis for values that may be numbers or strings (categories).
  function scale(values, lo, hi) {
    const nums = values.filter((v) => v !== null && v !== undefined);
    const numeric = nums.every((v) => typeof v === "number" || (v !== "" && !isNaN(+v)));
    if (numeric) {
      const n = nums.map(Number);
      let min = Math.min(...n), max = Math.max(...n);
      if (min === max) { min -= 1; max += 1; }
      const f = (v) => lo + ((Number(v) - min) / (max - min)) * (hi - lo);
      f.ticks = [min, (min + max) / 2, max]; f.numeric = true; return f;
    }
    const cats = [...new Set(nums.map(String))].sort();
    const step = cats.length > 1 ? (hi - lo) / (cats.length - 1) : 0;
    const f = (v) => (cats.length > 1 ? lo + cats.indexOf(String(v)) * step : (lo + hi) / 2);
    f.ticks = cats; f.numeric = false; return f;
  }

  // points: [{label, x, y, group}]; groups get colours.
  function scatter(el, points, labels) {
    el.replaceChildren();
    const W = Math.max(360, el.clientWidth || 600), H = 320, L = 60, R = 16, T = 12, B = 40;
    const svg = svgEl("svg", { width: W, height: H, class: "scatter" });
    const usable = points.filter((p) => p.x !== null && p.y !== null && p.x !== undefined && p.y !== undefined);
    const sx = scale(usable.map((p) => p.x), L, W - R), sy = scale(usable.map((p) => p.y), H - B, T);
    svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }), svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
    for (const t of sx.ticks) svg.append(text(sx(t), H - B + 14, fmt(t), { "text-anchor": "middle" }));
    for (const t of sy.ticks) svg.append(text(L - 4, sy(t) + 4, fmt(t), { "text-anchor": "end" }));
    svg.append(text((L + W - R) / 2, H - 6, labels.x, { "text-anchor": "middle" }), text(4, T + 8, labels.y));
    const groups = [...new Set(usable.map((p) => String(p.group)))].sort();
    for (const p of usable) {
      const c = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: 5, fill: color(groups.indexOf(String(p.group))), "fill-opacity": 0.8, class: "point" });
      const title = svgEl("title"); title.textContent = p.label + " (" + fmt(p.x) + ", " + fmt(p.y) + ")";
      c.append(title); svg.append(c);
    }
    el.append(svg, legend(groups, labels.group));
  }

  function legend(groups, title) {
    const div = document.createElement("div"); div.className = "legend";
    if (title) { const b = document.createElement("b"); b.textContent = title + ": "; div.append(b); }
    groups.forEach((g, i) => {
      const s = document.createElement("span"); const sw = document.createElement("i");
      sw.style.background = color(i); s.append(sw, document.createTextNode(g)); div.append(s);
    });
    return div;
  }

  // rows: [{label, values: {dim: v}, colorValue}]; dims: names, the last one the target.
  function parallel(el, rows, dims, colorTitle) {
    el.replaceChildren();
    const W = Math.max(400, el.clientWidth || 700), H = 320, T = 24, B = 30, L = 50, R = 50;
    const svg = svgEl("svg", { width: W, height: H, class: "parcoords" });
    const gap = dims.length > 1 ? (W - L - R) / (dims.length - 1) : 0;
    const scales = dims.map((d) => scale(rows.map((r) => r.values[d]), H - B, T));
    const groups = [...new Set(rows.map((r) => String(r.colorValue)))].sort();
    const numericColor = rows.every((r) => typeof r.colorValue === "number");
    const cmin = Math.min(...rows.map((r) => r.colorValue)), cmax = Math.max(...rows.map((r) => r.colorValue));
    for (const r of rows) {
      const pts = dims.map((d, i) => (r.values[d] === null || r.values[d] === undefined ? null : [L + i * gap, scales[i](r.values[d])])).filter(Boolean);
      let stroke = color(groups.indexOf(String(r.colorValue)));
      if (numericColor && cmax > cmin) { const t = (r.colorValue - cmin) / (cmax - cmin); stroke = "hsl(" + Math.round(240 - 240 * t) + ",70%,45%)"; }
      const line = svgEl("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke, "stroke-width": 1.5, "stroke-opacity": 0.8, class: "pc-line" });
      const title = svgEl("title"); title.textContent = r.label; line.append(title); svg.append(line);
    }
    dims.forEach((d, i) => {
      const x = L + i * gap;
      svg.append(svgEl("line", { x1: x, y1: T, x2: x, y2: H - B, stroke: "#555" }));
      svg.append(text(x, H - 10, d, { "text-anchor": "middle" }));
      for (const t of scales[i].ticks) svg.append(text(x + 3, scales[i](t) + 3, fmt(t)));
    });
    el.append(svg);
    if (!numericColor) el.append(legend(groups, colorTitle));
  }

  // A histogram of numbers in `bins` equal-width bins (SVG bars).
  function histogram(el, values, label, bins) {
    el.replaceChildren();
    const nums = values.filter((v) => typeof v === "number" && isFinite(v));
    const W = Math.max(360, el.clientWidth || 600), H = 220, L = 44, R = 12, T = 12, B = 36;
    const svg = svgEl("svg", { width: W, height: H, class: "histogram" });
    if (!nums.length) { el.textContent = "No values."; return; }
    let min = Math.min(...nums), max = Math.max(...nums);
    if (min === max) { min -= 0.5; max += 0.5; }
    bins = bins || 20;
    const counts = new Array(bins).fill(0);
    for (const v of nums) counts[Math.min(bins - 1, Math.floor(((v - min) / (max - min)) * bins))]++;
    const top = Math.max(...counts), bw = (W - L - R) / bins;
    counts.forEach((c, i) => {
      const hgt = ((H - T - B) * c) / top;
      const bar = svgEl("rect", { x: L + i * bw + 1, y: H - B - hgt, width: Math.max(1, bw - 2), height: hgt, fill: color(0), class: "bar", "data-count": c });
      const title = svgEl("title"); title.textContent = fmt(min + (i * (max - min)) / bins) + " – " + fmt(min + ((i + 1) * (max - min)) / bins) + ": " + c;
      bar.append(title); svg.append(bar);
    });
    svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
    svg.append(text(L, H - B + 14, fmt(min), { "text-anchor": "start" }), text(W - R, H - B + 14, fmt(max), { "text-anchor": "end" }));
    svg.append(text(L - 4, T + 8, String(top), { "text-anchor": "end" }), text(L - 4, H - B, "0", { "text-anchor": "end" }));
    svg.append(text((L + W - R) / 2, H - 6, label + " (" + nums.length + " runs)", { "text-anchor": "middle" }));
    el.append(svg);
  }

  window.TrackwireCharts = { lineChart, join, smooth, xs, scatter, parallel, histogram, color };
})();
