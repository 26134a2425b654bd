// The supervisors' live quality page: alerts and flagged messages, newest first, over Server-Sent Events.
// Data is only ever put into the page with textContent / attributes, never as HTML.
(function () {
  "use strict";

  const initial = JSON.parse(document.getElementById("qa-state").textContent);
  const MAX_ITEMS = 300;
  const state = { labels: initial.labels || {}, alerts: new Map(), flags: [] };
  window.qaState = state; // for debugging and the browser tests
  const words = initial.messages || {};
  // A message of the page's language (given by the server from its catalog), its %(name)s filled in.
  function say(key, values) {
    const text = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
    return text.replace(/%\((\w+)\)s/g, (m, name) => (values && name in values ? String(values[name]) : m));
  }

  const statusEl = document.getElementById("status");
  const alertList = document.getElementById("alerts");
  const flagList = document.getElementById("flags");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Times in the shop's time zone, whatever the supervisor's computer is set to.
  const clock = new Intl.DateTimeFormat("zh-CN", {
    timeZone: initial.timezone || undefined, month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  function time(ms) {
    return clock.format(new Date(ms));
  }

  // The message with each flag's span marked; the spans index the text as written (masking keeps lengths
  // only roughly, so a span is marked only where it still reads the matched words). They count code points,
  // as Python does: sliced in UTF-16 units, every emoji before a span shifted it and nothing was marked.
  function markedText(text, flags) {
    const p = el("p", "text");
    const chars = Array.from(text || "");
    const slice = (from, to) => chars.slice(from, to).join("");
    const spans = (flags || [])
      .filter((f) => typeof f.start === "number" && slice(f.start, f.end) === f.match)
      .sort((a, b) => a.start - b.start);
    let at = 0;
    for (const f of spans) {
      if (f.start < at) continue;
      p.appendChild(document.createTextNode(slice(at, f.start)));
      p.appendChild(el("mark", null, slice(f.start, f.end)));
      at = f.end;
    }
    p.appendChild(document.createTextNode(slice(at)));
    return p;
  }

  function flagBadges(flags) {
    const box = el("span", "flags");
    const seen = new Set();
    for (const f of flags || []) {
      if (seen.has(f.category)) continue;
      seen.add(f.category);
      const badge = el("span", "flag", f.label || state.labels[f.category] || f.category);
      badge.dataset.category = f.category;
      badge.dataset.severity = f.severity || "";
      box.appendChild(badge);
    }
    return box;
  }

  function meta(item) {
    const m = el("div", "meta");
    m.appendChild(el("span", "time", time(item.ts_ms)));
    m.appendChild(el("span", "shop", item.shop));
    m.appendChild(el("span", "who", item.sender === "customer" ? say("customer", { name: item.customer }) : say("agent", { name: item.agent || "" })));
    if (item.sender === "customer" && item.agent) m.appendChild(el("span", "owner", say("served_by", { name: item.agent })));
    const link = el("a", "log", say("view"));
    link.href = item.link;
    m.appendChild(link);
    return m;
  }

  function renderAlert(a) {
    const li = el("li", "item alert level-" + a.level);
    li.dataset.id = a.id;
    const head = el("div", "head");
    head.appendChild(el("strong", "kind", a.level > 1 ? say("escalated_alert") : say("alert")));
    head.appendChild(flagBadges(a.flags));
    li.appendChild(head);
    li.appendChild(meta(a));
    li.appendChild(markedText(a.text, a.flags));
    const deliveries = el("div", "deliveries");
    for (const d of a.deliveries || []) {
      const hook = d.plugin.replace(/^hooks\./, "");
      const named = (key, fallback) => (Object.prototype.hasOwnProperty.call(words, key) ? words[key] : fallback);
      deliveries.appendChild(el("span", "delivery", named("hook_" + hook, hook) + "：" + named("delivery_" + d.state, d.state) + " "));
    }
    li.appendChild(deliveries);
    if (a.escalation) li.appendChild(el("div", "escalation", (["armed", "answered", "escalated"].includes(a.escalation) ? say(a.escalation) : a.escalation)));
    return li;
  }

  function renderFlag(f) {
    const li = el("li", "item flagged");
    li.dataset.id = f.event_id;
    li.appendChild(flagBadges(f.flags));
    li.appendChild(meta(f));
    li.appendChild(markedText(f.text, f.flags));
    return li;
  }

  function renderAll() {
    const alerts = Array.from(state.alerts.values()).sort((a, b) => b.created_ms - a.created_ms);
    alertList.replaceChildren(...alerts.map(renderAlert));
    flagList.replaceChildren(...state.flags.map(renderFlag));
    document.getElementById("alert-count").textContent = String(alerts.length);
    document.getElementById("flag-count").textContent = String(state.flags.length);
    document.getElementById("no-alerts").hidden = alerts.length > 0;
    document.getElementById("no-flags").hidden = state.flags.length > 0;
  }

  function load(snapshot) {
    if (snapshot.labels) state.labels = snapshot.labels;
    state.alerts.clear();
    for (const a of snapshot.alerts || []) state.alerts.set(a.id, a);
    state.flags = (snapshot.flags || []).slice(0, MAX_ITEMS);
    renderAll();
  }

  function onAlert(a) {
    const known = state.alerts.get(a.id);
    if (known && known.deliveries && !a.deliveries.length) a.deliveries = known.deliveries;
    state.alerts.set(a.id, a);
    renderAll();
    const node = alertList.querySelector('[data-id="' + CSS.escape(a.id) + '"]');
    if (node) node.classList.add("fresh");
  }

  function onDelivery(d) {
    const a = state.alerts.get(d.id);
    if (!a) return;
    if (d.plugin) {
      a.deliveries = (a.deliveries || []).filter((x) => x.plugin !== d.plugin).concat([{ plugin: d.plugin, state: d.state }]);
    }
    if (d.escalation) a.escalation = d.escalation;
    renderAll();
  }

  function onFlag(f) {
    state.flags = [f].concat(state.flags.filter((x) => x.event_id !== f.event_id)).slice(0, MAX_ITEMS);
    renderAll();
    const node = flagList.firstElementChild;
    if (node) node.classList.add("fresh");
  }

  let backoff = 1000;
  let controller = null;
  const handlers = { snapshot: load, alert: onAlert, alert_delivery: onDelivery, qa: onFlag };

  function setStatus(s, text) {
    statusEl.dataset.state = s;
    statusEl.textContent = text;
  }

  // The server writes a heartbeat every 15 s: silence for much longer (a connection dropped without a word,
  // a request never answered) means reconnecting, where the page once stayed "live" and heard nothing more.
  let watchdog = null;
  function resetWatchdog() {
    clearTimeout(watchdog);
    watchdog = setTimeout(connect, 40000);
  }

  function dispatch(ev) {
    resetWatchdog();
    const fn = handlers[ev.type];
    if (!fn || !ev.data.length) return;
    let data;
    try {
      data = JSON.parse(ev.data.join("\n"));
    } catch (e) {
      return;
    }
    fn(data);
  }

  // Read with fetch (sse.js), which sends the page cookie (web/auth.py): no token in a URL, nor in the page.
  function connect() {
    if (controller) controller.abort();
    const ctl = new AbortController();
    controller = ctl;
    const headers = { Accept: "text/event-stream" };
    setStatus("connecting", say("connecting"));
    resetWatchdog();
    fetch("v1/qa/stream", { headers: headers, signal: ctl.signal, cache: "no-store" })
      .then(async (resp) => {
        if (!resp.ok || !resp.body) throw new Error(String(resp.status));
        backoff = 1000;
        setStatus("live", say("live"));
        await window.readEventStream(resp.body, dispatch, () => controller === ctl);
        throw new Error("the stream ended");
      })
      .catch(() => {
        if (controller !== ctl) return;
        setStatus("offline", say("offline"));
        clearTimeout(watchdog);
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 10000);
      });
  }

  load(initial);
  connect();
})();
