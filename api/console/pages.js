// The console's pages: each renders into <section id="page"> from the data module's answers
// and marks the section with data-state = ready | forbidden | unavailable | error.
"use strict";
(function () {
  const { query, subscribe, staffNames } = window.SiyuData;
  const C = window.SiyuCharts;
  const KPIS = ["friendsNew", "friendsNet", "gmvFen", "ordersPaid", "messagesSent",
                "firstResponseMedianS", "conversionRate", "momentsPosts", "followUps"];
  const LINEAGE = new Set(["friendsNew", "friendsDeletedByCustomer", "friendsDeletedByStaff",
    "friendsNet", "messagesReceived", "messagesSent", "ordersPaid", "gmvFen", "refunds",
    "refundFen", "momentsPosts", "greetingsSent", "followUps", "sensitiveWordHits",
    "firstResponses"]);
  const TOUCHPOINTS = [["miniProgram", "小程序 mini-program"], ["groups", "社群 groups"],
    ["members", "会员 members"], ["wecomFriends", "企微 WeCom"], ["personalWechat", "个微 personal WeChat"],
    ["total", "合计 total"]];

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v; else if (k.startsWith("on")) node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function table(headers, rows, attrs) {
    return h("table", attrs, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
             h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
  }

  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
  }

  function ago(days) {
    const d = new Date(`${today()}T12:00:00+08:00`);
    d.setUTCDate(d.getUTCDate() - days);
    return d.toISOString().slice(0, 10);
  }

  function pct(v) { return v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`; }
  function yuan(fen) { return fen === null || fen === undefined ? "–" : `¥${C.fmt(fen / 100)}`; }

  function lineageLink(kpi, value, selection, period) {
    const text = kpi.endsWith("Fen") ? yuan(value) : C.fmt(value);
    if (!LINEAGE.has(kpi)) return text;
    const params = new URLSearchParams({ kpi, kind: period.kind, start: period.start, ...selection });
    return h("a", { class: "figure", href: `#lineage?${params}`, title: "溯源 open the events" }, text);
  }

  // A staff member by name (the id in the title and data-staff-id); by short id when the
  // server gave no name to this reader.
  function nameOf(names, id) { return names.get(id) || id.slice(0, 8); }
  function staffCell(names, id) {
    return h("span", { class: "staff", title: id, "data-staff-id": id }, nameOf(names, id));
  }

  function state(root, value) { root.dataset.state = value; }

  function failed(root, error) {
    const codes = error.codes || [];
    if (codes.includes("FORBIDDEN")) {
      state(root, "forbidden");
      root.append(h("p", { class: "notice forbidden", "data-code": "FORBIDDEN" },
                    "无权查看 Your role may not see this page. ", h("span", { class: "muted" }, error.message)));
    } else if (codes.includes("GRAPHQL_VALIDATION_FAILED")) {
      state(root, "unavailable");
      root.append(h("p", { class: "notice", "data-code": "UNAVAILABLE" },
                    "Not available on this server yet: ", h("span", { class: "muted" }, error.message)));
    } else if (codes.includes("UNAUTHENTICATED")) {
      state(root, "error");
      root.append(h("p", { class: "notice forbidden", "data-code": "UNAUTHENTICATED" },
                    "The token was refused: sign out and enter a valid one."));
    } else {
      state(root, "error");
      root.append(h("p", { class: "notice", "data-code": codes[0] || "ERROR" }, error.message));
    }
  }

  // Controls that write their values into the hash (the page re-renders from it).
  function controls(page, params, fields) {
    const form = h("form", { class: "controls", onsubmit: (e) => {
      e.preventDefault();
      const next = new URLSearchParams();
      for (const [k, v] of new FormData(form).entries()) if (v) next.set(k, v);
      location.hash = `${page}?${next}`;
    } });
    for (const [name, label, options] of fields) {
      const value = params.get(name) || "";
      const input = options
        ? h("select", { name }, options.map(([v, t]) => h("option", { value: v, ...(v === value ? { selected: "" } : {}) }, t)))
        : h("input", { name, value, type: name === "start" || name === "from" || name === "to" ? "date" : "text" });
      form.append(h("label", {}, `${label} `, input));
    }
    form.append(h("button", { type: "submit" }, "Show"));
    return form;
  }

  const PERIOD = [["kind", "period", [["DAY", "day"], ["WEEK", "week"], ["MONTH", "month"], ["QUARTER", "quarter"]]],
                  ["start", "holding"]];
  const DEPARTMENT = ["department", "department", [["", "(all)"], ["front_office", "front_office"],
                      ["middle_office", "middle_office"], ["back_office", "back_office"]]];

  function period(params, kind) {
    return { kind: params.get("kind") || kind, start: params.get("start") || today() };
  }

  const pages = {};

  pages.leaderboard = async (root, params) => {
    const kpi = params.get("kpi") || "friendsNew";
    const p = period(params, "DAY");
    const department = params.get("department") || null;
    root.append(h("h2", {}, "排行榜 Live leaderboard"),
                controls("leaderboard", params, [["kpi", "KPI", KPIS.map((k) => [k, k])], ...PERIOD, DEPARTMENT]));
    const live = h("div", { id: "board" }, h("p", { class: "muted" }, "connecting…"));
    root.append(live);
    root.dataset.updates = "0";
    const names = await staffNames();
    return subscribe("leaderboard", { kpi, period: p, department }, (data) => {
      const board = data.leaderboardChanged;
      root.dataset.updates = String(Number(root.dataset.updates) + 1);
      state(root, "ready");
      live.replaceChildren(
        h("p", { class: "muted" }, `${board.firstDay} – ${board.lastDay} · updated ${board.computedAt} · update #${root.dataset.updates}`),
        C.bars(board.entries.map((e) => ({ label: `#${e.rank} ${nameOf(names, e.staffId)}`, value: e.value || 0 })), kpi),
        table(["rank", "staff", kpi, "target"], board.entries.map((e) => [
          e.rank, staffCell(names, e.staffId), lineageLink(kpi, e.value, { staffId: e.staffId }, p),
          e.achievement ? `${pct(e.achievement.ratio)} ${e.achievement.grade || ""}` : "–"]),
          { class: "leaderboard" }));
    }, (error) => { live.replaceChildren(); failed(root, error); });
  };

  pages.overview = async (root, params) => {
    const p = period(params, "MONTH");
    const department = params.get("department") || null;
    root.append(h("h2", {}, "总览 Manager overview"), controls("overview", params, [...PERIOD, DEPARTMENT]));
    const [answer, names] = await Promise.all([query("overview", { period: p, department }), staffNames()]);
    const o = answer.managerOverview;
    const sel = o.department ? { department: o.department } : null;
    const figure = (kpi, v) => (sel ? lineageLink(kpi, v, sel, p) : (kpi.endsWith("Fen") ? yuan(v) : C.fmt(v)));
    root.append(
      h("p", { class: "muted" }, `${o.department || "company"} · ${o.firstDay} – ${o.lastDay}`),
      h("div", { class: "tiles" },
        h("div", { class: "tile" }, "GMV", h("b", {}, figure("gmvFen", o.gmvFen))),
        h("div", { class: "tile" }, "orders", h("b", {}, figure("ordersPaid", o.ordersPaid))),
        h("div", { class: "tile" }, "ROI (short)", h("b", {}, C.fmt(o.roi))),
        h("div", { class: "tile" }, "ROI (long)", h("b", {}, C.fmt(o.longTermRoi))),
        h("div", { class: "tile" }, "acquired", h("b", {}, C.fmt(o.acquiredCustomers)))),
      h("h3", {}, "私域用户 Private-domain users by touchpoint (end of each day)"),
      C.line(o.usersDaily.map((d) => d.day.slice(5)),
             TOUCHPOINTS.filter(([k]) => o.usersDaily.some((d) => d[k] !== null))
               .map(([k, name]) => ({ name, values: o.usersDaily.map((d) => d[k]) })), "users by touchpoint"),
      h("h3", {}, "留存 Retention of new WeCom friends per channel"),
      table(["channel", "new", "7-day", "30-day"], o.retentionByChannel.map((c) => [
        c.channel, c.friendsNew, pct(c.retention7D), pct(c.retention30D)])),
      h("h3", {}, "岗位 KPIs per role, with targets"));
    for (const role of o.roles) {
      root.append(h("h3", {}, role.role), role.members.length === 0 ? h("p", { class: "muted" }, "nobody") :
        table(["staff", ...role.kpis], role.members.map((m) => [staffCell(names, m.staffId), ...m.kpis.map((k) => h("span", {},
          lineageLink(k.name, k.value, { staffId: m.staffId }, p),
          k.target === null ? "" : ` / ${C.fmt(k.target)} (${pct(k.achievement && k.achievement.ratio)})`))]),
          { class: "role" }));
    }
    state(root, "ready");
  };

  window.SiyuPages = { pages, h, table, failed, state, controls, period, today, ago, pct, yuan, lineageLink, staffCell, PERIOD, DEPARTMENT };
})();
