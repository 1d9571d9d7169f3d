// The report pages: an activity's KPI tree, the funnel, a cohort heatmap, segment size over
// time, a campaign report, and a figure's lineage.
"use strict";
(function () {
  const { query } = window.SiyuData;
  const C = window.SiyuCharts;
  const { pages, h, table, state, controls, period, today, ago, pct, yuan, staffCell, PERIOD, DEPARTMENT } = window.SiyuPages;

  function picker(page, params, name, label, items) {
    return controls(page, params, [[name, label, [["", "(choose)"], ...items]]]);
  }

  pages.activity = async (root, params) => {
    root.append(h("h2", {}, "活动 Activity KPI tree"));
    const list = (await query("activities")).activities.edges.map((e) => e.node);
    root.append(picker("activity", params, "id", "activity", list.map((a) => [a.id, `${a.name} (${a.kind})`])));
    const id = params.get("id") || (list[0] && list[0].id);
    if (!id) { root.append(h("p", { class: "muted" }, "No activity planned yet.")); state(root, "ready"); return; }
    const a = (await query("activity", { id })).activity;
    const t = a.figures.total;
    root.append(
      h("h3", {}, a.name),
      h("div", { class: "tiles activity-tree" },
        h("div", { class: "tile" }, "① achievement", h("b", {}, pct(t.achievementRate))),
        h("div", { class: "tile" }, "② GMV", h("b", {}, yuan(t.gmvFen)), h("span", { class: "muted" }, ` of ${yuan(t.targetGmvFen)}`)),
        h("div", { class: "tile" }, "③ users", h("b", {}, C.fmt(t.users))),
        h("div", { class: "tile" }, "× conversion", h("b", {}, pct(t.conversion))),
        h("div", { class: "tile" }, "× AOV", h("b", {}, yuan(t.aovFen)))),
      h("h3", {}, "④ journey"),
      C.bars(t.journey.map((s) => ({ label: `${s.step} ${pct(s.rateFromPrevious)}`, value: s.customers })), "journey"),
      t.contributions.length ? table(["factor", "actual", "target", "gap (fen)"],
        t.contributions.map((c) => [c.factor, C.fmt(c.actual), C.fmt(c.target), C.fmt(c.gapFen)])) : "",
      h("h3", {}, "per channel"),
      table(["channel", "users", "buyers", "GMV", "conversion"], a.figures.byChannel.map((s) => [
        s.key, s.tree.users, s.tree.buyers, yuan(s.tree.gmvFen), pct(s.tree.conversion)])),
      h("h3", {}, "per day"),
      C.line(a.figures.byDay.map((s) => s.key.slice(5)), [
        { name: "users", values: a.figures.byDay.map((s) => s.tree.users) },
        { name: "buyers", values: a.figures.byDay.map((s) => s.tree.buyers) }], "activity by day"));
    state(root, "ready");
  };

  pages.funnel = async (root, params) => {
    const from = params.get("from") || ago(30), to = params.get("to") || today();
    root.append(h("h2", {}, "漏斗 AARRR funnel"),
                controls("funnel", params, [["from", "from"], ["to", "to"], ["channel", "channel"]]));
    const f = (await query("funnel", { from, to, channel: params.get("channel") || null })).funnel;
    const t = f.total;
    root.append(
      C.bars([["acquired", t.acquired, null], ["activated", t.activated, t.activationRate],
              ["retained", t.retained, t.retentionRate], ["paying", t.paying, t.revenueRate],
              ["referrers", t.referrers, t.referralRate]].map(([label, value, rate]) =>
        ({ label: `${label} ${rate === null ? "" : pct(rate)}`, value })), "funnel"),
      h("div", { class: "tiles" },
        h("div", { class: "tile" }, "repurchase", h("b", {}, pct(t.repurchaseRate))),
        h("div", { class: "tile" }, "LTV realised", h("b", {}, yuan(t.realisedLtvFen))),
        h("div", { class: "tile" }, "LTV projected", h("b", {}, yuan(t.projectedLtvFen))),
        h("div", { class: "tile" }, "ROI realised", h("b", {}, C.fmt(f.realisedRoi))),
        h("div", { class: "tile" }, "ROI long-term", h("b", {}, C.fmt(f.longTermRoi)))),
      h("h3", {}, "per channel"),
      table(["channel", "acquired", "activated", "retained", "paying", "referrers", "repurchase"],
            f.byChannel.map((s) => [s.key, s.stages.acquired, s.stages.activated, s.stages.retained,
                                    s.stages.paying, s.stages.referrers, pct(s.stages.repurchaseRate)])));
    state(root, "ready");
  };

  pages.cohorts = async (root, params) => {
    const from = params.get("from") || ago(180), to = params.get("to") || today();
    const touchpoint = params.get("touchpoint") || "WECOM_FRIEND";
    root.append(h("h2", {}, "留存 Cohort retention"), controls("cohorts", params, [
      ["touchpoint", "touchpoint", [["WECOM_FRIEND", "WeCom friends"], ["PERSONAL_WECHAT", "personal WeChat"],
                                    ["GROUP", "groups"], ["MINI_PROGRAM", "mini-program"]]],
      ["from", "from"], ["to", "to"]]));
    const rows = (await query("cohorts", { from, to, touchpoint })).cohortRetention;
    const names = [...new Set(rows.flatMap((r) => r.checkpoints.map((c) => c.name)))];
    root.append(C.heatmap(rows.map((r) => ({ label: `${r.month.slice(0, 7)}${r.key ? " " + r.key : ""} (${r.joined})`,
      cells: names.map((n) => { const c = r.checkpoints.find((x) => x.name === n); return c ? c.rate : null; }) })),
      names, "cohorts"));
    state(root, "ready");
  };

  pages.segments = async (root, params) => {
    root.append(h("h2", {}, "分层 Segment size over time"));
    const list = (await query("segments")).segments;
    root.append(picker("segments", params, "id", "segment", list.map((s) => [s.id, s.name])));
    const id = params.get("id") || (list[0] && list[0].id);
    if (!id) { root.append(h("p", { class: "muted" }, "No segment yet.")); state(root, "ready"); return; }
    const s = (await query("sizeSeries", { id, from: `${ago(30)}T00:00:00+08:00`,
                                           to: new Date().toISOString() })).segment;
    root.append(h("h3", {}, s.name),
                C.line(s.sizeSeries.map((p) => p.at.slice(5, 10)), [{ name: "size", values: s.sizeSeries.map((p) => p.size) }], "segment size"));
    state(root, "ready");
  };

  pages.campaign = async (root, params) => {
    root.append(h("h2", {}, "群发 Campaign report"));
    const list = (await query("campaigns")).campaigns;
    root.append(picker("campaign", params, "id", "campaign", list.map((c) => [c.id, `${c.name} (${c.state})`])));
    const id = params.get("id") || (list[0] && list[0].id);
    if (!id) { root.append(h("p", { class: "muted" }, "No campaign yet.")); state(root, "ready"); return; }
    const c = (await query("campaign", { id })).campaign;
    const r = c.report;
    const rows = ["customers", "read", "clicked", "converted", "orders", "gmvFen", "harmed", "deleted", "muted"];
    root.append(h("h3", {}, c.name),
      h("div", { class: "tiles" },
        h("div", { class: "tile" }, "cost", h("b", {}, yuan(c.costFen))),
        h("div", { class: "tile" }, "ROI", h("b", {}, C.fmt(r.roi))),
        h("div", { class: "tile" }, "conversion lift", h("b", {}, pct(r.conversionLift))),
        h("div", { class: "tile" }, "harm lift", h("b", {}, pct(r.harmLift)))),
      table(["", "recipients", "holdout"], rows.map((k) => [k,
        r.recipients ? (k === "gmvFen" ? yuan(r.recipients[k]) : C.fmt(r.recipients[k])) : "–",
        r.holdout ? (k === "gmvFen" ? yuan(r.holdout[k]) : C.fmt(r.holdout[k])) : "–"]), { class: "report" }),
      C.bars(rows.filter((k) => k !== "gmvFen" && r.recipients).map((k) => ({ label: k, value: r.recipients[k] || 0 })), "recipients"));
    state(root, "ready");
  };

  pages.lineage = async (root, params) => {
    root.append(h("h2", {}, "溯源 The events behind a figure"),
                controls("lineage", params, [["kpi", "KPI"], ["staffId", "staff id"], DEPARTMENT, ...PERIOD, ["after", "after"]]));
    const kpi = params.get("kpi");
    if (!kpi) { root.append(h("p", { class: "muted" }, "Open a figure from another page, or name a KPI and a staff member or department.")); state(root, "ready"); return; }
    const [answer, names] = await Promise.all([
      query("lineage", { kpi, period: period(params, "MONTH"), staffId: params.get("staffId") || null,
                         department: params.get("department") || null, after: params.get("after") || null }),
      window.SiyuData.staffNames()]);
    const l = answer.kpiLineage;
    root.append(h("p", {}, `${l.kpi} ${l.firstDay} – ${l.lastDay}: `, h("b", { class: "lineage-value" }, C.fmt(l.value))),
      table(["position", "kind", "staff", "customer", "at", "contribution"], l.events.map((e) => [
        e.position, e.kind, staffCell(names, e.staffId), e.customerId ? e.customerId.slice(0, 8) : "(hidden)", e.at, C.fmt(e.contribution)]),
        { class: "lineage" }));
    if (l.pageInfo.hasNextPage) {
      const next = new URLSearchParams(params);
      next.set("after", l.pageInfo.endCursor);
      root.append(h("a", { href: `#lineage?${next}`, class: "next" }, "next page →"));
    }
    state(root, "ready");
  };
})();
