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

  // The width an SVG may take in `el`: its content box (a card's padding excluded).
  function innerWidth(el, fallback) {
    if (!el.clientWidth) return fallback;
    const style = getComputedStyle(el);
    return el.clientWidth - parseFloat(style.paddingLeft || 0) - parseFloat(style.paddingRight || 0);
  }

  // About `count` round tick values (1, 2 or 5 times a power of ten apart) within [min, max].
  function niceTicks(min, max, count) {
    const raw = (max - min) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    const step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
    const ticks = [];
    for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
    return ticks;
  }

  // An axis for values that may be numbers or strings (categories). With `padded`, the data
  // keep a margin from both ends (no point sits on the frame) and ticks are round numbers.
  function scale(values, lo, hi, padded) {
    const nums = values.filter((v) => v !== null && v !== undefined);
    const numeric = nums.every((v) => typeof v === "number" || (v !== "" && !isNaN(+v)));
    if (numeric) {
      const n = nums.map(Number).filter(isFinite);
      let min = n.length ? Math.min(...n) : 0, max = n.length ? Math.max(...n) : 1;
      if (min === max) { const d = Math.abs(min) / 10 || 1; min -= d; max += d; }
      if (padded) { const pad = (max - min) * 0.08; min -= pad; max += pad; }
      const f = (v) => lo + ((Number(v) - min) / (max - min)) * (hi - lo);
      f.ticks = padded ? niceTicks(min, max, 5) : [min, (min + max) / 2, max]; f.numeric = true; f.domain = [min, max]; return f;
    }
    const cats = [...new Set(nums.map(String))].sort();
    if (padded) {
      const f = (v) => lo + ((cats.indexOf(String(v)) + 0.5) * (hi - lo)) / cats.length;
      f.ticks = cats; f.numeric = false; return f;
    }
    const step = cats.length > 1 ? (hi - lo) / (cats.length - 1) : 0;
    const f = (v) => (cats.length > 1 ? lo + cats.indexOf(String(v)) * step : (lo + hi) / 2);
    f.ticks = cats; f.numeric = false; return f;
  }

  // points: [{label, x, y, group}]; groups get colours. The plot area is framed; both ranges
  // are padded so points stay inside it, and the y title runs up the left edge, clear of ticks.
  function scatter(el, points, labels) {
    el.replaceChildren();
    const usable = points.filter((p) => p.x !== null && p.y !== null && p.x !== undefined && p.y !== undefined);
    const H = 320, R = 20, T = 14, B = 44, W = Math.max(360, innerWidth(el, 600));
    const sy0 = scale(usable.map((p) => p.y), H - B, T, true);
    const widest = Math.max(0, ...sy0.ticks.map((t) => fmt(t).length));
    const L = 30 + Math.min(widest, 24) * 6.5; // room for the y tick labels and the y title
    const sx = scale(usable.map((p) => p.x), L, W - R, true), sy = sy0;
    const svg = svgEl("svg", { width: W, height: H, class: "scatter" });
    svg.append(svgEl("rect", { x: L, y: T, width: W - R - L, height: H - B - T, fill: "none", stroke: "#ccc", class: "plot-area" }));
    for (const t of sx.ticks) {
      svg.append(svgEl("line", { x1: sx(t), y1: T, x2: sx(t), y2: H - B, stroke: "#eee" }));
      svg.append(text(sx(t), H - B + 14, fmt(t), { "text-anchor": "middle", class: "tick x-tick" }));
    }
    for (const t of sy.ticks) {
      svg.append(svgEl("line", { x1: L, y1: sy(t), x2: W - R, y2: sy(t), stroke: "#eee" }));
      svg.append(text(L - 5, sy(t) + 4, fmt(t), { "text-anchor": "end", class: "tick y-tick" }));
    }
    const ym = (T + H - B) / 2;
    svg.append(text((L + W - R) / 2, H - 8, labels.x, { "text-anchor": "middle", class: "axis-title x-title" }),
      text(14, ym, labels.y, { "text-anchor": "middle", transform: "rotate(-90 14 " + ym + ")", class: "axis-title y-title" }));
    const groups = [...new Set(usable.map((p) => String(p.group)))].sort();
    for (const p of usable) {
      const c = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: 5, fill: color(groups.indexOf(String(p.group))), "fill-opacity": 0.8, class: "point" });
      const title = svgEl("title"); title.textContent = p.label + " (" + fmt(p.x) + ", " + fmt(p.y) + ")";
      c.append(title); svg.append(c);
    }
    el.append(svg, legend(groups, labels.group));
  }

  // Horizontal bars, one per item [{label, value, color}]: a metric logged once per run. Bars
  // start at zero; a value that is not a number (NaN) gets its text and no bar.
  function bars(el, items) {
    el.replaceChildren();
    const row = 24, T = 4, W = Math.max(280, innerWidth(el, 400));
    const short = (s) => (s.length > 24 ? s.slice(0, 23) + "…" : s);
    const labelW = 16 + Math.min(24, Math.max(1, ...items.map((it) => short(it.label).length))) * 6.5;
    const nums = items.map((it) => it.value).filter((v) => typeof v === "number" && isFinite(v));
    const lo = Math.min(0, ...nums), hi = Math.max(0, ...nums);
    const x0 = labelW, x1 = W - 64;
    const x = (v) => x0 + ((v - lo) / (hi - lo || 1)) * (x1 - x0);
    const H = T * 2 + items.length * row;
    const svg = svgEl("svg", { width: W, height: H, class: "bars" });
    items.forEach((it, i) => {
      const y = T + i * row;
      const label = text(labelW - 8, y + row / 2 + 4, short(it.label), { "text-anchor": "end", class: "bar-label" });
      const full = svgEl("title"); full.textContent = it.label; label.append(full);
      svg.append(label);
      const finite = typeof it.value === "number" && isFinite(it.value);
      let end = x(0);
      if (finite) {
        const a = x(Math.min(0, it.value)), b = x(Math.max(0, it.value));
        const bar = svgEl("rect", { x: a, y: y + 4, width: Math.max(1, b - a), height: row - 8, fill: it.color || color(i), "fill-opacity": 0.85, class: "bar", "data-value": it.value });
        const title = svgEl("title"); title.textContent = it.label + ": " + fmt(it.value); bar.append(title);
        svg.append(bar);
        end = b;
      }
      svg.append(text(end + 6, y + row / 2 + 4, it.value === null || it.value === undefined ? "—" : fmt(it.value), { class: "bar-value" }));
    });
    svg.append(svgEl("line", { x1: x(0), y1: T, x2: x(0), y2: H - T, stroke: "#999" }));
    el.append(svg);
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
    const W = Math.max(400, innerWidth(el, 700)), H = 320, T = 24, B = 30, L = 50, R = 50;
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
    const W = Math.max(360, innerWidth(el, 600)), H = 220, L = 44, R = 12, T = 12, B = 36;
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

  window.TrackwireCharts = { lineChart, join, smooth, xs, scatter, bars, parallel, histogram, color };
})();
