// Hand-written SVG charts: a line chart, a horizontal bar chart, a heatmap. No library.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(width, height, label) {
    return el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
                       "aria-label": label });
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString("zh-CN")
                                   : String(Math.round(value * 100) / 100);
  }

  // series: [{name, values: [number|null]}] over the same labels.
  function line(labels, series, title) {
    const W = 720, H = 260, L = 50, R = 10, T = 10, B = 40;
    const root = svg(W, H, title);
    root.classList.add("chart", "line-chart");
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const max = Math.max(1, ...all);
    const x = (i) => L + (labels.length < 2 ? 0 : (i * (W - L - R)) / (labels.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (let k = 0; k <= 4; k += 1) {
      const v = (max * k) / 4;
      root.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e7eb" }));
      root.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    const step = Math.max(1, Math.ceil(labels.length / 8));
    labels.forEach((label, i) => {
      if (i % step === 0) root.append(el("text", { x: x(i), y: H - B + 16, "text-anchor": "middle" }, label));
    });
    series.forEach((s, n) => {
      const points = s.values.map((v, i) => (v === null || v === undefined ? null : `${x(i)},${y(v)}`));
      const d = points.filter(Boolean).map((p, i) => (i ? "L" : "M") + p).join(" ");
      if (d) root.append(el("path", { d, fill: "none", stroke: COLORS[n % COLORS.length],
                                      "stroke-width": 2, "data-series": s.name }));
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const dot = el("circle", { cx: x(i), cy: y(v), r: 2.5, fill: COLORS[n % COLORS.length] });
        dot.append(el("title", {}, `${s.name} ${labels[i]}: ${fmt(v)}`));
        root.append(dot);
      });
    });
    const wrap = document.createElement("div");
    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s, n) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = COLORS[n % COLORS.length];
      item.append(swatch, s.name);
      legend.append(item);
    });
    wrap.append(root, legend);
    return wrap;
  }

  // items: [{label, value}]
  function bars(items, title) {
    const W = 720, row = 22, L = 180, R = 70;
    const H = Math.max(row, items.length * row) + 4;
    const root = svg(W, H, title);
    root.classList.add("chart", "bar-chart");
    const max = Math.max(1, ...items.map((i) => Math.abs(i.value || 0)));
    items.forEach((item, n) => {
      const width = ((W - L - R) * Math.abs(item.value || 0)) / max;
      root.append(el("text", { x: L - 6, y: n * row + 15, "text-anchor": "end" }, item.label));
      const bar = el("rect", { x: L, y: n * row + 4, width: Math.max(width, 1), height: row - 8,
                               fill: item.value < 0 ? "#d62728" : "#1f77b4" });
      bar.append(el("title", {}, `${item.label}: ${fmt(item.value)}`));
      root.append(bar);
      root.append(el("text", { x: L + width + 6, y: n * row + 15 }, fmt(item.value)));
    });
    return root;
  }

  // rows: [{label, cells: [number 0..1 | null]}], columns: [label]
  function heatmap(rows, columns, title) {
    const cell = 44, L = 110, T = 22;
    const W = L + columns.length * cell + 4, H = T + rows.length * cell / 1.6 + 4;
    const root = svg(W, H, title);
    root.classList.add("chart", "heatmap");
    columns.forEach((c, i) => root.append(el("text", { x: L + i * cell + cell / 2, y: 14,
                                                        "text-anchor": "middle" }, c)));
    rows.forEach((r, j) => {
      const y = T + (j * cell) / 1.6;
      root.append(el("text", { x: L - 6, y: y + 17, "text-anchor": "end" }, r.label));
      r.cells.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const rect = el("rect", { x: L + i * cell, y, width: cell - 2, height: cell / 1.6 - 2,
                                  fill: `rgba(31,119,180,${0.1 + 0.9 * Math.min(1, v)})` });
        rect.append(el("title", {}, `${r.label} ${columns[i]}: ${Math.round(v * 1000) / 10}%`));
        root.append(rect);
        root.append(el("text", { x: L + i * cell + cell / 2 - 1, y: y + 17, "text-anchor": "middle" },
                       `${Math.round(v * 100)}%`));
      });
    });
    return root;
  }

  window.SiyuCharts = { line, bars, heatmap, fmt };
})();
