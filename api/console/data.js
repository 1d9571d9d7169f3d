// The console's data-fetch module: every GraphQL document the pages send, and the two
// transports (HTTP POST, graphql-transport-ws). Field names live here only, so wiring a
// page to a renamed or newly merged field is a change to this file.
"use strict";
(function () {
  const TOKEN_KEY = "siyu.console.token";

  // Queries another change set provides (issue #18 item 3, branch "funnels", docs/funnels.md):
  // where the server's schema lacks them the pages say "not available on this server".
  const FUNNEL = `query Funnel($from: Date!, $to: Date!, $channel: String) {
    funnel(from: $from, to: $to, channel: $channel) {
      costFen realisedRoi longTermRoi
      total { acquired activated retained paying referrers activationRate retentionRate
              revenueRate referralRate repurchaseRate realisedLtvFen projectedLtvFen }
      byChannel { key stages { acquired activated retained paying referrers repurchaseRate } } } }`;
  const COHORTS = `query Cohorts($from: Date!, $to: Date!, $touchpoint: Touchpoint!) {
    cohortRetention(touchpoint: $touchpoint, from: $from, to: $to) {
      month key joined checkpoints { name due retained rate } } }`;

  const Q = {
    leaderboard: `subscription Board($kpi: String!, $period: KpiPeriodInput!, $department: String) {
      leaderboardChanged(kpi: $kpi, period: $period, department: $department, first: 20) {
        kpi firstDay lastDay computedAt
        entries { rank staffId value achievement { ratio grade } } } }`,
    overview: `query Overview($period: KpiPeriodInput!, $department: String) {
      managerOverview(period: $period, department: $department) {
        department firstDay lastDay gmvFen ordersPaid campaignCostFen campaignGmvFen roi
        acquiredCustomers lifetimeGmvFen longTermRoi
        usersDaily { day miniProgram groups members wecomFriends personalWechat total }
        retentionByChannel { channel friendsNew retained7D retained30D retention7D retention30D }
        roles { role kpis members { staffId kpis { name value target achievement { ratio grade } } } } } }`,
    activities: `{ activities(first: 50) { edges { node { id name kind startsAt endsAt } } } }`,
    activity: `query A($id: ID!) { activity(id: $id) { id name kind targetGmvFen figures {
      total { achievementRate gmvFen targetGmvFen users buyers orders conversion aovFen
              journey { step customers rateFromPrevious } contributions { factor actual target gapFen } }
      byChannel { key tree { users buyers gmvFen conversion } }
      byDay { key tree { users buyers gmvFen } } } } }`,
    segments: `{ segments { id name } }`,
    sizeSeries: `query S($id: ID!, $from: DateTime!, $to: DateTime!) {
      segment(id: $id) { id name sizeSeries(from: $from, to: $to) { at size } } }`,
    campaigns: `{ campaigns { id name state launchedAt } }`,
    campaign: `query C($id: ID!) { campaign(id: $id) { id name state costFen audience included sent
      report { roi conversionLift harmLift
        recipients { customers read clicked converted orders gmvFen harmed deleted muted }
        holdout { customers read clicked converted orders gmvFen harmed deleted muted } } } }`,
    lineage: `query L($kpi: String!, $period: KpiPeriodInput!, $staffId: ID, $department: String,
                     $after: String) {
      kpiLineage(kpi: $kpi, period: $period, staffId: $staffId, department: $department,
                 first: 50, after: $after) {
        kpi firstDay lastDay value
        events { position kind staffId customerId at day channel amountFen responseSeconds contribution }
        pageInfo { hasNextPage endCursor } } }`,
    funnel: FUNNEL,
    cohorts: COHORTS,
    // Names of the staff the reader may see (the server's team scope decides whom).
    staffNames: `{ staffMembers(includeLeft: true) { id displayName } }`,
  };

  class ApiError extends Error {
    constructor(errors) {
      super(errors.map((e) => e.message).join("; "));
      this.codes = errors.map((e) => (e.extensions || {}).code || "ERROR");
    }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function setToken(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
  }

  async function query(name, variables) {
    const response = await fetch("/graphql", {
      method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token()}` },
      body: JSON.stringify({ query: Q[name], variables: variables || {} }),
    });
    const body = await response.json().catch(() => ({ errors: [{ message: response.statusText,
      extensions: { code: response.status === 401 ? "UNAUTHENTICATED" : "HTTP_" + response.status } }] }));
    if (body.errors && body.errors.length) throw new ApiError(body.errors);
    return body.data;
  }

  // graphql-transport-ws: connection_init carries the token; every "next" goes to onData.
  function subscribe(name, variables, onData, onError) {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    const socket = new WebSocket(url, "graphql-transport-ws");
    socket.onopen = () => socket.send(JSON.stringify(
      { type: "connection_init", payload: { authorization: `Bearer ${token()}` } }));
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe",
                                     payload: { query: Q[name], variables } }));
      } else if (frame.type === "next") {
        if (frame.payload.errors) onError(new ApiError(frame.payload.errors));
        else onData(frame.payload.data);
      } else if (frame.type === "error") {
        onError(new ApiError(frame.payload));
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) {
        onError(new ApiError([{ message: "token refused", extensions: { code: "UNAUTHENTICATED" } }]));
      }
    };
    return () => socket.close(1000);
  }

  // Staff id -> display name, as the server gives them to this reader: members outside the
  // reader's scope are not listed (the pages show their short id), and a role without the
  // directory gets none.
  async function staffNames() {
    try {
      const data = await query("staffNames");
      return new Map(data.staffMembers.filter((s) => s.displayName).map((s) => [s.id, s.displayName]));
    } catch (error) {
      if (error instanceof ApiError) return new Map();
      throw error;
    }
  }

  window.SiyuData = { query, subscribe, token, setToken, ApiError, staffNames };
})();
