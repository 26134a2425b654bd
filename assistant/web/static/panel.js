// The agent panel: live conversations over Server-Sent Events, one-click (or 1/2/3) suggestions,
// phrase search, the demo box, and the Chatwoot dashboard-app hook.
// Data is only ever put into the page with textContent / attributes, never as HTML.
(function () {
  "use strict";

  const initial = JSON.parse(document.getElementById("panel-state").textContent);
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const labels = initial.followup_labels || {};
  const words = initial.messages || {};
  // A message of the page's language (given by the server from its catalog), its %(name)s filled in.
  function say(key, values) {
    const text = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
    return text.replace(/%\((\w+)\)s/g, (m, name) => (values && name in values ? isolated(values[name]) : m));
  }
  // A value in a right-to-left script or holding direction marks (a buyer named with U+202E) is set apart as an
  // isolate: it turned the words after it around (买家的会话已转给小王 read backwards in the note).
  const BIDI = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u061c\u200f\u202a-\u202e\u2066-\u2069]/;
  function isolated(value) {
    const text = String(value);
    return BIDI.test(text) ? "\u2068" + text + "\u2069" : text;
  }
  const senderNames = { customer: say("customer"), agent: say("agent"), auto: say("auto") };
  const LOW_CONFIDENCE = 0.5; // below this a suggestion is a guess: shown dimmed

  const state = {
    scope: initial.scope, // {agent, shop, conversation, everything}
    watch: null, // {conversation, shop?, account?, inbox?} once a Chatwoot appContext arrives
    conversations: new Map(), // page key → conversation snapshot
    followups: new Map(), // page key → follow-up payload
    focused: null,
    expanded: new Set(), // the long messages shown whole (messageId)
    outlined: null, // the card 1/2/3 act on, as last outlined: {key, name}
    mustChoose: false, // the outlined card left the list: 1/2/3 wait for the agent to choose another
    leaving: null, // the update that just took a card off the list (why it left)
    actor: initial.scope.agent || null, // who is credited with suggestion_used
    actorId: null, // inside Chatwoot: the current agent's user id
    lastEventId: null,
    skew: (initial.server_ms || Date.now()) - Date.now(),
    openHours: initial.open_hours || 0, // [panel] open_hours: a list leaves out what has been quiet that long
    newest: 0, // the latest activity seen on any card: the list's "now", as the server counts it
  };
  window.panelState = state; // for debugging and the browser tests

  const list = document.getElementById("conversations");
  const emptyNote = document.getElementById("empty");
  const statusEl = document.getElementById("status");
  const scopeEl = document.getElementById("scope");
  const toastEl = document.getElementById("toast");
  const announcer = document.getElementById("announce");
  const noticeEl = document.getElementById("notice");
  const missedEl = document.getElementById("missed");

  function keyOf(shop, conversation) {
    return JSON.stringify([shop, conversation]);
  }

  function serverNow() {
    return Date.now() + state.skew;
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }

  // A per-agent token is checked against the agent it was made for: say which on every call.
  function withAgent(url) {
    if (!state.scope.agent) return url;
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "agent=" + encodeURIComponent(state.scope.agent);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- time -------------------------------------------------------------------------------------

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 3600) return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    if (s < 86400) return say("hours_minutes", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
    return say("days", { d: Math.floor(s / 86400) });
  }

  // `quiet`: a conversation with no message yet (an order came first): nobody waits, nobody replied.
  function waitText(since, quiet) {
    if (since) return say("waiting", { d: duration(serverNow() - since) });
    return quiet ? say("no_messages") : say("replied");
  }

  // A follow-up already out (suggested, sent, missed…) is about an idle period the customer ended by
  // writing again: once a customer message stamped after it is on the card, the line goes. So does a countdown (also one
  // quiet hours deferred), once a customer message stamped after the reply that armed it is there: on instances sharing
  // a database that message may reach another instance, which holds no such timer and tells no panel.
  function currentFollowup(f, c) {
    if (f && (f.state === "armed" || f.state === "deferred") && f.armed_ms && c) {
      return (c.messages || []).some((m) => m.sender === "customer" && m.ts_ms > f.armed_ms) ? null : f;
    }
    if (!f || f.state === "armed" || f.state === "deferred" || f.state === "quiet" || !f.fired_ms || !c) return f;
    const replied = (c.messages || []).some((m) => m.sender === "customer" && m.ts_ms > f.fired_ms);
    return replied ? null : f;
  }

  function followupLabel(f) {
    if (!f) return "";
    const label = Object.prototype.hasOwnProperty.call(labels, f.state) ? labels[f.state] : f.state;
    if (!label) return "";
    if ((f.state === "armed" || f.state === "deferred" || f.state === "quiet") && f.due_ms) {
      const left = f.due_ms - serverNow();
      return label + " " + (left > 0 ? duration(left) : say("sending_now"));
    }
    return label;
  }

  function tick() {
    checkSilence();
    for (const node of list.querySelectorAll(".wait")) {
      const since = Number(node.dataset.since) || 0;
      node.textContent = waitText(since, node.dataset.quiet === "1");
    }
    for (const node of list.querySelectorAll(".followup")) {
      const key = node.closest(".card").dataset.key;
      const f = currentFollowup(state.followups.get(key), state.conversations.get(key));
      const label = node.querySelector(".followup-label");
      if (label) label.textContent = followupLabel(f);
    }
  }

  // ---- rendering --------------------------------------------------------------------------------

  function renderFollowup(f, c) {
    const p = el("p", "followup");
    const label = followupLabel(f);
    p.dataset.state = f ? f.state || "" : "";
    p.dataset.due = f && f.due_ms ? String(f.due_ms) : "";
    p.hidden = !label;
    p.appendChild(el("span", "followup-label", label));
    if (f && f.text && f.state === "sent") {
      // Sent already: shown, not offered for copying (a second, manual send is the last thing wanted).
      p.appendChild(el("span", "followup-text", f.text));
    } else if (f && f.text) {
      const text = el("button", "followup-text", f.text);
      text.type = "button";
      text.title = say("copy");
      text.addEventListener("click", async () => {
        const ok = await copyText(f.text);
        toast(ok ? say("followup_copied", { name: buyerOf(c) }) : say("copy_failed"));
        if (f.state === "suggested" && f.phrase_id && c) await recordUsed(c, f.phrase_id);
      });
      p.appendChild(text);
    }
    return p;
  }

  // The product the conversation is about, and the facts the suggestions were built from.
  function renderItem(item) {
    const box = el("div", "item");
    box.dataset.item = item.id;
    box.appendChild(el("span", "item-title", item.title || say("not_imported", { id: item.id })));
    if (item.facts && item.facts.length) {
      const ul = el("ul", "facts");
      for (const f of item.facts) {
        const li = el("li");
        li.appendChild(el("span", "fact-name", f.name));
        li.appendChild(el("span", "fact-value", f.value));
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
    return box;
  }

  // Quality-inspection flags of a message: one badge per category, the matched words as its tooltip. How many.
  function appendFlags(node, flags) {
    const seen = new Set();
    for (const f of flags || []) {
      if (seen.has(f.category)) continue;
      seen.add(f.category);
      const badge = el("span", "qa-flag", f.label || f.category);
      badge.dataset.category = f.category;
      badge.dataset.severity = f.severity || "";
      badge.title = f.match || "";
      node.appendChild(badge);
    }
    return seen.size;
  }

  function renderCard(c) {
    const key = keyOf(c.shop, c.conversation);
    const card = el("article", "card" + (c.waiting_since_ms ? " waiting" : ""));
    card.tabIndex = 0;
    card.dataset.key = key;
    card.setAttribute("aria-label", c.customer_label || c.customer || say("customer"));
    if (state.focused === key) card.classList.add("focused");
    if (c.status !== "open") card.classList.add("closed");

    const head = el("header", "card-head");
    head.appendChild(el("span", "who", c.customer_label || c.customer || say("customer")));
    // An agent of several shops (a token opens the name in every shop) needs the shop to answer in the right
    // chat window: two cards 买家c04 #c04 of two shops looked the same.
    if (!state.scope.shop && manyShops()) head.appendChild(el("span", "shop", c.shop));
    head.appendChild(el("span", "conv", "#" + c.conversation));
    if (state.scope.everything || state.watch || state.scope.shop) {
      head.appendChild(el("span", "owner", c.agent || say("unassigned")));
    }
    const quiet = !(c.messages && c.messages.length);
    const wait = el("span", "wait", waitText(c.waiting_since_ms, quiet));
    wait.dataset.since = c.waiting_since_ms ? String(c.waiting_since_ms) : "";
    if (quiet) wait.dataset.quiet = "1";
    head.appendChild(wait);
    card.appendChild(head);
    if (c.item) card.appendChild(renderItem(c.item));

    const t = c.customer_type;
    if (t) {
      const box = el("div", "ctype");
      // Weak evidence names no type: the badge says so instead of guessing (the default talk track still applies).
      const sure = t.sure !== false;
      const badge = el("span", "badge", sure ? t.label : say("not_sure"));
      badge.dataset.type = t.type;
      badge.dataset.sure = String(sure);
      badge.title = sure ? Math.round((t.confidence || 0) * 100) + "%" : say("few_cues", { label: t.label });
      if (t.rival) {
        // A near tie between two types: both are shown, the leading one first, rather than one as if sure.
        badge.textContent = say("near_tie", { label: t.label, other: t.rival.label });
        badge.dataset.sure = "close";
        badge.title = say("near_tie_title", { label: t.label });
      }
      box.appendChild(badge);
      if (t.evidence && t.evidence.length) box.appendChild(el("span", "cues", t.evidence.join("、")));
      // The log's fact, not the buyer's words: paid orders in the shop's other conversations (a returning buyer).
      if (t.past_orders > 0) box.appendChild(el("span", "past", say("past_orders", { count: t.past_orders })));
      if (t.script && t.script.length) {
        const details = el("details", "script");
        details.appendChild(el("summary", null, say("talk_track")));
        const ol = el("ol");
        for (const line of t.script) ol.appendChild(el("li", null, line));
        details.appendChild(ol);
        box.appendChild(details);
      }
      card.appendChild(box);
    }

    card.appendChild(renderFollowup(currentFollowup(state.followups.get(key), c), c));

    const messages = el("ol", "messages");
    for (const m of c.messages || []) {
      const li = el("li", "msg");
      li.dataset.sender = m.sender;
      li.title = senderNames[m.sender] || m.sender;
      const body = el("div", "body");
      // Blank lines around a message pushed its words out of its box; runs of them inside are kept to one.
      const text = el("span", "text", (m.text || "").trim().replace(/\n\s*\n(\s*\n)+/g, "\n\n"));
      const id = messageId(key, m);
      text.dataset.id = id;
      if (!state.expanded.has(id)) text.classList.add("clamped");
      body.appendChild(text);
      if (appendFlags(body, m.qa)) li.classList.add("flagged");
      li.appendChild(body);
      messages.appendChild(li);
    }
    card.appendChild(messages);

    const suggestions = el("ol", "suggestions");
    (c.suggestions || []).forEach((s, i) => {
      const li = el("li");
      // A suggestion the engine is not sure of is shown dimmed, with its odds and why it was made.
      const low = typeof s.confidence === "number" && s.confidence < LOW_CONFIDENCE;
      const button = el("button", low ? "sugg low" : "sugg");
      button.type = "button";
      button.dataset.index = String(i);
      button.dataset.phraseId = s.phrase_id;
      if (s.evidence && s.evidence.length) button.title = say("because_of", { words: s.evidence.join("、") });
      if (i < 3 && !low) button.appendChild(el("kbd", null, i + 1)); // a guess takes a deliberate click
      button.appendChild(el("code", "code", s.code));
      button.appendChild(el("span", "text", s.text));
      const odds = typeof s.confidence === "number" ? Math.round(s.confidence * 100) + "%" : Math.round(s.score);
      button.appendChild(el("span", "score", odds));
      li.appendChild(button);
      suggestions.appendChild(li);
    });
    if (!suggestions.children.length) {
      suggestions.appendChild(el("li", "none", say(c.suggestions_withheld ? "suggestions_withheld" : "no_suggestion")));
    }
    card.appendChild(suggestions);

    if (c.unpaid_orders && c.unpaid_orders.length) {
      const orders = el("p", "orders", say("unpaid_orders"));
      for (const o of c.unpaid_orders) orders.appendChild(el("span", null, o.order + " ¥" + Number(o.amount).toFixed(2)));
      card.appendChild(orders);
    }
    return card;
  }

  // ---- long messages ----------------------------------------------------------------------------
  // A message longer than three lines shows those (in Chatwoot's short frame one took twelve and pushed the
  // suggestions out of sight), with a button that shows it all; it stays open while its card is drawn anew.

  function messageId(key, m) {
    return key + "\n" + m.ts_ms + "\n" + m.sender;
  }

  // Gives each message of `cards` its button when it needs one: once the cards are in the page (their lines
  // measured). Every message is measured before any button is added: a layout per card at a snapshot of hundreds.
  function fitMessages(cards) {
    const texts = [];
    for (const card of cards) texts.push(...card.querySelectorAll(".msg .text"));
    // Cut below its lines, or at the end of the one line an earlier message takes in a short frame (panel.css).
    const cut = texts.map((t) => t.scrollHeight > t.clientHeight + 1 || t.scrollWidth > t.clientWidth + 1);
    texts.forEach((text, i) => {
      const open = state.expanded.has(text.dataset.id);
      const message = text.closest(".msg"); // the button is the message's: where it stands depends on the frame
      let button = message.querySelector(":scope > button.more");
      if (!open && !cut[i]) {
        if (button) button.remove();
        return;
      }
      if (!button) {
        button = el("button", "more");
        button.type = "button";
        button.addEventListener("click", () => toggleMessage(text, button));
        message.appendChild(button);
      }
      showToggle(button, open);
    });
  }

  function showToggle(button, open) {
    button.textContent = say(open ? "show_less" : "show_all");
    button.setAttribute("aria-expanded", String(open));
  }

  function toggleMessage(text, button) {
    const open = !state.expanded.has(text.dataset.id);
    if (open) state.expanded.add(text.dataset.id);
    else state.expanded.delete(text.dataset.id);
    text.classList.toggle("clamped", !open);
    showToggle(button, open);
  }

  let refitTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(refitTimer); // a narrower frame cuts more messages, a wider one fewer
    refitTimer = setTimeout(() => fitMessages(list.querySelectorAll(":scope > .card")), 100);
  });

  function urgency(a, b) {
    const wa = a.waiting_since_ms, wb = b.waiting_since_ms;
    if (!wa !== !wb) return wa ? -1 : 1;
    if (wa && wb && wa !== wb) return wa - wb;
    return (b.last_ms || 0) - (a.last_ms || 0);
  }

  function sorted() {
    return Array.from(state.conversations.values()).sort(urgency);
  }

  const FOCUSABLE = "button, summary, a[href], input, textarea, [tabindex]";

  // Where keyboard focus is inside the list: its card, and the suggestion (by index) or other control in it.
  function focusSpot() {
    const active = document.activeElement;
    const card = active && active.closest ? active.closest(".card") : null;
    if (!card || card.parentElement !== list) return null;
    const spot = { key: card.dataset.key, selector: null, index: -1 };
    if (active === card) return spot;
    if (active.matches("button.sugg")) spot.selector = 'button.sugg[data-index="' + active.dataset.index + '"]';
    else spot.index = Array.from(card.querySelectorAll(FOCUSABLE)).indexOf(active);
    return spot;
  }

  // The same place on the card drawn anew (or moved): a buyer writing again threw the agent's focus to the
  // page (the card moved) or to the card.
  function restoreFocus(spot) {
    if (!spot) return;
    const card = Array.from(list.children).find((n) => n.dataset.key === spot.key);
    if (!card) return;
    let target = spot.selector ? card.querySelector(spot.selector) : null;
    if (!target && spot.index >= 0) target = card.querySelectorAll(FOCUSABLE)[spot.index] || null;
    target = target || card;
    if (document.activeElement !== target) target.focus({ preventScroll: true });
  }

  // Replace changed cards in place and reorder, so focus and scroll survive unrelated updates.
  function render(changedKeys) {
    const spot = focusSpot();
    const existing = new Map();
    for (const node of list.querySelectorAll(":scope > .card")) existing.set(node.dataset.key, node);
    const order = sorted();
    const wanted = new Set(order.map((c) => keyOf(c.shop, c.conversation)));
    for (const [key, node] of existing) {
      if (!wanted.has(key)) node.remove();
    }
    let previous = null;
    const drawn = [];
    for (const c of order) {
      const key = keyOf(c.shop, c.conversation);
      let node = existing.get(key);
      if (!node || !changedKeys || changedKeys.has(key)) {
        const fresh = renderCard(c);
        if (node) node.replaceWith(fresh);
        node = fresh;
        drawn.push(fresh);
      }
      const expected = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== node) list.insertBefore(node, expected);
      previous = node;
    }
    fitMessages(drawn); // before the focus goes back: it may have been on a message's button
    emptyNote.hidden = state.conversations.size > 0;
    if (state.focused && !state.conversations.has(state.focused)) state.focused = null;
    restoreFocus(spot);
    noteLeaving();
    markTarget();
  }

  // The outlined card left the list (handed to another agent, closed): say so, and let 1/2/3 act again only
  // once the agent has chosen a card. They silently moved to the most urgent card, another buyer's.
  function noteLeaving() {
    const gone = state.outlined;
    const leaving = state.leaving;
    state.leaving = null;
    if (!gone || state.conversations.has(gone.key)) return;
    state.focused = null;
    state.mustChoose = true;
    let text = say("left_list", { name: gone.name });
    if (leaving && keyOf(leaving.shop, leaving.conversation) === gone.key) {
      if (leaving.status !== "open") text = say("closed_conversation", { name: gone.name });
      else if (leaving.agent) text = say("handed_over", { name: gone.name, agent: leaving.agent });
    }
    toast(text);
    announce(text);
  }

  function belongs(c) {
    if (state.watch) return true;
    if (c.status !== "open") return false;
    if (state.scope.shop && state.scope.conversation) return true;
    if (state.scope.everything) return true;
    return c.agent === state.scope.agent;
  }

  // `replacing`: the page already followed the stream (it sent its last event id, or fell behind), so the updates in
  // between were not replayed: the snapshot replaced them, and the agent is told so, with the buyers who wrote.
  function loadSnapshot(data, replacing) {
    if (data.server_ms) state.skew = data.server_ms - Date.now();
    const before = replacing ? new Map(state.conversations) : null;
    state.conversations.clear();
    for (const c of data.conversations || []) {
      state.conversations.set(keyOf(c.shop, c.conversation), c);
      state.newest = Math.max(state.newest, c.last_ms || 0);
    }
    state.followups.clear();
    for (const [key, f] of Object.entries(data.followups || {})) state.followups.set(key, f);
    render(null);
    if (before) sayMissed(before);
  }

  function sayMissed(before) {
    const names = [];
    for (const [key, c] of state.conversations) {
      if (customerWrote(before.get(key), c)) names.push(buyerOf(c));
    }
    const text = names.length ? say("missed_messages", { names: names.join("、") }) : say("missed");
    document.getElementById("missed-text").textContent = text;
    missedEl.hidden = false;
  }

  document.getElementById("missed-ok").addEventListener("click", () => { missedEl.hidden = true; });

  // A conversation not on the list whose latest activity is older than open_hours (an old event delivered
  // late) stays off it, as the server leaves it out of the list; one opened by name is always shown.
  function tooQuiet(c) {
    state.newest = Math.max(state.newest, c.last_ms || 0);
    if (!state.openHours || (state.scope.shop && state.scope.conversation)) return false;
    return (c.last_ms || 0) < state.newest - state.openHours * 3600000;
  }

  // What a screen reader hears: a short line when something happens, never the list's ticking timers.
  function announce(text) {
    announcer.textContent = text;
  }

  // Whether the card brings a customer message the one before did not have.
  function customerWrote(before, c) {
    const seen = new Set(((before && before.messages) || []).map((m) => m.ts_ms + "\n" + m.text));
    return (c.messages || []).some((m) => m.sender === "customer" && !seen.has(m.ts_ms + "\n" + m.text));
  }

  function applyConversation(data) {
    const c = data.payload;
    const key = keyOf(c.shop, c.conversation);
    const quiet = tooQuiet(c); // notes the newest activity too
    if (quiet && !state.conversations.has(key)) return;
    const before = state.conversations.get(key);
    state.leaving = before && !belongs(c) ? c : null;
    if (belongs(c)) {
      state.conversations.set(key, c);
      if (customerWrote(before, c)) {
        const n = (c.suggestions || []).length;
        const name = c.customer_label || c.customer || say("customer");
        announce(n ? say("announce_message_suggestions", { name: name, n: n }) : say("announce_message", { name: name }));
      }
    } else {
      state.conversations.delete(key);
    }
    render(new Set([key]));
  }

  function applyFollowup(data) {
    const key = keyOf(data.shop, data.conversation);
    state.followups.set(key, data.payload);
    if (state.conversations.has(key)) render(new Set([key]));
  }

  // ---- the live stream --------------------------------------------------------------------------
  // Server-Sent Events read with fetch (sse.js), so the token travels in the Authorization header.

  let controller = null;
  let retryTimer = null;
  let watchdog = null;
  let backoff = 1000;
  const DENIED_RETRY_MS = 60000; // a refused token is tried again now and then: the secret may be put back

  // The stream refused the token (401/403): retrying as if the server were away said 已断开，重连中… for good.
  class Denied extends Error {}

  // The badge is a status region: it changes (and is announced) once per change of state, not per retry.
  function setStatus(s, text) {
    if (statusEl.dataset.state === s && statusEl.textContent === text) return;
    statusEl.dataset.state = s;
    statusEl.textContent = text;
  }

  function streamParams() {
    const q = new URLSearchParams();
    const w = state.watch;
    if (w) {
      q.set("conversation", w.conversation);
      if (w.shop) q.set("shop", w.shop);
      if (w.account) q.set("account", w.account);
      if (w.inbox) q.set("inbox", w.inbox);
      if (state.scope.agent) q.set("agent", state.scope.agent);
    } else {
      const s = state.scope;
      if (s.conversation) {
        q.set("conversation", s.conversation);
        q.set("shop", s.shop);
      }
      if (s.agent) q.set("agent", s.agent);
    }
    return q;
  }

  function canStream() {
    const s = state.scope;
    return Boolean(state.watch || s.agent || s.conversation || s.everything);
  }

  const SILENCE_MS = 40000;
  let heardAt = Date.now(); // when the stream last said anything, by the wall clock

  function resetWatchdog() {
    clearTimeout(watchdog);
    heardAt = Date.now();
    // The server sends a heartbeat every 15 s; silence for much longer means a dead connection.
    watchdog = setTimeout(() => reconnect("silent"), SILENCE_MS);
  }

  // The watchdog's twin by the wall clock, asked at every tick. A laptop asleep stops the page's timers, not the wall
  // clock: woken, the page said 实时 over the cards of before the sleep, on a connection the sleep had killed, for the
  // 40 s the watchdog still had to run (or longer: nothing arrives on a dead connection to end the wait early).
  function checkSilence() {
    if (statusEl.dataset.state === "live" && Date.now() - heardAt > SILENCE_MS) reconnect("slept");
  }

  const handlers = {
    snapshot: loadSnapshot,
    resumed: (d) => { if (d.server_ms) state.skew = d.server_ms - Date.now(); },
    heartbeat: (d) => { if (d.server_ms) state.skew = d.server_ms - Date.now(); },
    conversation: applyConversation,
    followup: applyFollowup,
  };

  function dispatch(ev) {
    const followed = state.lastEventId !== null; // this stream, or the one before it, had given an id
    if (ev.id !== null) state.lastEventId = ev.id;
    if (!ev.data.length) return;
    resetWatchdog();
    const handler = handlers[ev.type];
    if (!handler) return;
    let data;
    try {
      data = JSON.parse(ev.data.join("\n"));
    } catch (e) {
      return;
    }
    if (ev.type === "snapshot") loadSnapshot(data, followed);
    else handler(data);
  }

  function connect() {
    clearTimeout(retryTimer);
    if (controller) controller.abort();
    controller = null;
    if (!canStream()) {
      // Outside Chatwoot nothing will say which conversation to show: the link itself lacks an agent.
      setStatus("idle", say(initial.embedded ? "waiting_context" : "no_agent"));
      return;
    }
    const ctl = new AbortController();
    controller = ctl;
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    // While the server is away the badge keeps saying so: each retry flipped it to 连接中… and back.
    const away = statusEl.dataset.state === "offline" || statusEl.dataset.state === "denied";
    if (!away) setStatus("connecting", say("connecting"));
    // The watchdog runs from the request on: an answer that never comes (a proxy holding the connection,
    // a half-dead network) is retried too, where it once left the panel "connecting" for good.
    resetWatchdog();
    fetch("v1/stream?" + streamParams().toString(), { headers: headers, signal: ctl.signal, cache: "no-store" })
      .then(async (resp) => {
        if (resp.status === 401 || resp.status === 403) throw new Denied(String(resp.status));
        if (!resp.ok || !resp.body) throw new Error(String(resp.status));
        backoff = 1000;
        noticeEl.hidden = true;
        setStatus("live", say("live"));
        resetWatchdog();
        await window.readEventStream(resp.body, dispatch, () => controller === ctl);
        throw new Error("the stream ended");
      })
      .catch((e) => {
        if (controller !== ctl) return; // replaced by a newer connection
        if (e instanceof Denied) {
          // Only a new link helps: say which, and keep the watchdog from retrying every 40 s.
          clearTimeout(watchdog);
          setStatus("denied", say("denied"));
          const text = say(initial.embedded || state.watch ? "denied_embedded" : "denied_link");
          if (noticeEl.hidden || noticeEl.textContent !== text) noticeEl.textContent = text;
          noticeEl.hidden = false;
          retryTimer = setTimeout(connect, DENIED_RETRY_MS);
          return;
        }
        // The server restarted, the network dropped, or an error status: try again, more slowly each time.
        setStatus("offline", say("offline"));
        retryTimer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 10000);
      });
  }

  function reconnect() {
    connect();
  }

  // ---- using a suggestion -----------------------------------------------------------------------

  // Chatwoot's dashboard-app frame grants no clipboard-write: there only the copy command works.
  function clipboardAllowed() {
    const policy = document.permissionsPolicy || document.featurePolicy;
    return !policy || !policy.allowsFeature || policy.allowsFeature("clipboard-write");
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext && clipboardAllowed()) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        // fall through: permission denied or not focused
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  let toastTimer = null;
  function toast(text) {
    toastEl.textContent = text;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toastEl.hidden = true; }, 2000);
  }

  async function recordUsed(c, phraseId) {
    const body = {
      shop: c.shop,
      conversation: c.conversation,
      customer: c.customer || undefined,
      agent: state.actor || c.agent || "supervisor",
      chatwoot_user: state.actorId || undefined, // Chatwoot's user id: the log names that user one way
      phrase_id: phraseId,
    };
    try {
      const resp = await fetch(withAgent("v1/panel/used"), {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
      });
      if (!resp.ok) toast(say("not_recorded", { status: resp.status }));
    } catch (e) {
      toast(say("not_recorded_network"));
    }
  }

  function buyerOf(c) {
    return (c && (c.customer_label || c.customer)) || say("customer");
  }

  async function useSuggestion(key, index, button) {
    const c = state.conversations.get(key);
    if (!c || !c.suggestions || !c.suggestions[index]) return;
    const s = c.suggestions[index];
    const ok = await copyText(s.text);
    toast(say(ok ? "copied" : "copy_failed_recorded", { code: s.code, name: buyerOf(c) }));
    if (button) {
      button.classList.add("used");
      setTimeout(() => button.classList.remove("used"), 800);
    }
    await recordUsed(c, s.phrase_id);
  }

  function manyShops() {
    let shop = null;
    for (const c of state.conversations.values()) {
      if (shop !== null && c.shop !== shop) return true;
      shop = c.shop;
    }
    return false;
  }

  function targetKey() {
    if (state.focused && state.conversations.has(state.focused)) return state.focused;
    if (state.mustChoose) return null;
    const first = sorted()[0];
    return first ? keyOf(first.shop, first.conversation) : null;
  }

  function setFocused(key) {
    state.focused = key;
    state.mustChoose = false;
    markTarget();
  }

  // The card 1/2/3 act on is marked, chosen or not: with none chosen it is the most urgent one, which an
  // agent could not tell before pressing ↓.
  function markTarget() {
    const key = targetKey();
    for (const node of list.querySelectorAll(":scope > .card")) {
      node.classList.toggle("focused", node.dataset.key === key);
    }
    const c = key && state.conversations.get(key);
    state.outlined = c ? { key: key, name: buyerOf(c) } : null;
  }

  list.addEventListener("click", (ev) => {
    const card = ev.target.closest(".card");
    if (!card) return;
    setFocused(card.dataset.key);
    const button = ev.target.closest("button.sugg");
    if (button) useSuggestion(card.dataset.key, Number(button.dataset.index), button);
  });
  list.addEventListener("focusin", (ev) => {
    const card = ev.target.closest(".card");
    if (card) setFocused(card.dataset.key);
  });

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
    if (typing) {
      if (ev.key === "Escape") {
        if (t === searchInput) closeSearch(); // its results covered the list after the box was emptied
        t.blur();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "1" || ev.key === "2" || ev.key === "3") {
      const key = targetKey();
      if (!key) {
        if (state.mustChoose) toast(say("choose_first"));
        return;
      }
      ev.preventDefault();
      const card = Array.from(list.children).find((n) => n.dataset.key === key);
      const button = card && card.querySelector('button.sugg[data-index="' + (Number(ev.key) - 1) + '"]');
      if (button && button.classList.contains("low")) {
        toast(say("guess_needs_click", { n: ev.key })); // a key pressed out of habit must not paste a guess
        return;
      }
      useSuggestion(key, Number(ev.key) - 1, button);
    } else if (ev.key === "/") {
      ev.preventDefault();
      searchInput.focus();
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      const cards = Array.from(list.children);
      if (!cards.length) return;
      // From the card 1/2/3 act on, chosen or not: with none chosen it is the most urgent one, already outlined,
      // so the first ↓ moves on from it (it stayed there, and the agent saw nothing happen).
      const at = cards.findIndex((n) => n.dataset.key === targetKey());
      const next = cards[Math.max(0, Math.min(cards.length - 1, at + (ev.key === "ArrowDown" ? 1 : -1)))];
      ev.preventDefault();
      next.focus();
    }
  });

  // ---- phrase search ----------------------------------------------------------------------------

  const searchInput = document.getElementById("search");
  const results = document.getElementById("search-results");
  let searchTimer = null;
  let searchSeq = 0;

  async function search(q) {
    const seq = ++searchSeq;
    if (!q.trim()) {
      results.replaceChildren();
      return;
    }
    // A shop's own phrases are found in its conversations only: the search is for the conversation in view.
    const params = { q: q, limit: "8" };
    const inView = targetKey() && state.conversations.get(targetKey());
    if (inView) params.shop = inView.shop;
    const url = "v1/phrases/search?" + new URLSearchParams(params).toString();
    let data;
    try {
      const resp = await fetch(withAgent(url), { headers: authHeaders() });
      if (!resp.ok) throw new Error(String(resp.status));
      data = await resp.json();
    } catch (e) {
      if (seq === searchSeq) results.replaceChildren(el("li", "none", say("search_failed")));
      return;
    }
    if (seq !== searchSeq) return; // a newer query is on its way
    const items = (data.results || []).map((s) => {
      const li = el("li");
      const button = el("button", "sugg");
      button.type = "button";
      button.appendChild(el("code", "code", s.code));
      button.appendChild(el("span", "text", s.text));
      button.appendChild(el("span", "score", Math.round(s.score)));
      button.addEventListener("click", async () => {
        const ok = await copyText(s.text);
        const key = targetKey();
        const c = key && state.conversations.get(key);
        if (ok) toast(c ? say("copied", { code: s.code, name: buyerOf(c) }) : say("copied_plain", { code: s.code }));
        else toast(say("copy_failed_code", { code: s.code }));
        if (c) await recordUsed(c, s.phrase_id);
      });
      li.appendChild(button);
      return li;
    });
    results.replaceChildren(...(items.length ? items : [el("li", "none", say("no_match"))]));
  }

  function closeSearch() {
    clearTimeout(searchTimer);
    searchSeq++; // an answer still on its way is dropped
    searchInput.value = "";
    results.replaceChildren();
  }

  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(searchInput.value), 150);
  });

  // ---- demo box ---------------------------------------------------------------------------------

  const demoForm = document.getElementById("demo-form");
  if (demoForm) {
    demoForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const area = document.getElementById("demo-text");
      const text = area.value.trim();
      const sender = (ev.submitter && ev.submitter.dataset.sender) || "customer";
      if (!text && sender !== "order") return;
      try {
        const resp = await fetch(withAgent("v1/panel/demo"), {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/json" }),
          body: JSON.stringify(sender === "order" ? { sender: sender } : { text: text, sender: sender }),
        });
        if (!resp.ok) throw new Error(String(resp.status));
        if (sender === "order") toast(say("order_created"));
        else area.value = "";
      } catch (e) {
        toast(say("send_failed"));
      }
    });
    // Enter sends as the customer (Shift+Enter: a new line), as chat boxes do.
    document.getElementById("demo-text").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        demoForm.requestSubmit(demoForm.querySelector('button[data-sender="customer"]'));
      }
    });
  }

  // ---- checking a draft before sending ----------------------------------------------------------

  const checkForm = document.getElementById("check-form");
  const checkResults = document.getElementById("check-results");

  // The results are a live region: drawn anew with the same flags at every pause in the typing, they were
  // announced again each time (未发现问题, 未发现问题, …). Only a change is written.
  function showCheck(items) {
    const shown = items.map((li) => li.className + ":" + li.textContent).join("\n");
    if (checkResults.dataset.shown === shown) return;
    checkResults.dataset.shown = shown;
    checkResults.replaceChildren(...items);
  }
  let checkSeq = 0;

  async function checkDraft(text) {
    const seq = ++checkSeq;
    if (!text.trim()) {
      showCheck([]);
      return;
    }
    const url = "v1/qa/check?" + new URLSearchParams({ side: "agent", text: text }).toString();
    let data;
    try {
      const resp = await fetch(withAgent(url), { headers: authHeaders() });
      if (!resp.ok) throw new Error(String(resp.status));
      data = await resp.json();
    } catch (e) {
      if (seq === checkSeq) showCheck([el("li", "none", say("check_failed"))]);
      return;
    }
    if (seq !== checkSeq) return; // a newer draft is being checked
    const items = (data.flags || []).map((f) => {
      const li = el("li", "check-flag");
      const badge = el("span", "qa-flag", f.label || f.category);
      badge.dataset.category = f.category;
      badge.dataset.severity = f.severity || "";
      li.appendChild(badge);
      li.appendChild(el("span", "match", "「" + f.match + "」"));
      return li;
    });
    showCheck(items.length ? items : [el("li", "ok", say("no_problem"))]);
  }

  if (checkForm) {
    const area = document.getElementById("check-text");
    let checkTimer = null;
    checkForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      checkDraft(area.value);
    });
    area.addEventListener("input", () => {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(() => checkDraft(area.value), 300);
    });
    // Enter checks the draft (Shift+Enter: a new line); it checked and left a new line in the draft too.
    area.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        clearTimeout(checkTimer);
        checkForm.requestSubmit();
      }
    });
  }

  // ---- Chatwoot dashboard app -------------------------------------------------------------------
  // Inside Chatwoot the panel is an iframe; Chatwoot posts the open conversation as `appContext`.

  function onAppContext(ev) {
    if (ev.source !== window.parent || window.parent === window) return;
    let msg = ev.data;
    if (typeof msg === "string") {
      try {
        msg = JSON.parse(msg);
      } catch (e) {
        return;
      }
    }
    if (!msg || msg.event !== "appContext" || !msg.data) return;
    const conv = msg.data.conversation || {};
    if (conv.id === undefined || conv.id === null) return;
    const agent = msg.data.currentAgent || {};
    // The user's name, as Chatwoot's payloads name the same agent in the log (never the display name).
    const name = agent.name || (agent.id !== undefined ? String(agent.id) : "");
    if (name && !state.scope.agent) {
      state.actor = name;
      state.actorId = agent.id !== undefined && agent.id !== null ? agent.id : null;
    }
    const watch = { conversation: String(conv.id) };
    const account = conv.account_id !== undefined ? conv.account_id : (msg.data.account || {}).id;
    if (account !== undefined && account !== null) watch.account = String(account);
    if (conv.inbox_id !== undefined && conv.inbox_id !== null) watch.inbox = String(conv.inbox_id);
    if (state.watch && JSON.stringify(state.watch) === JSON.stringify(watch)) return;
    state.watch = watch;
    state.lastEventId = null;
    state.conversations.clear();
    state.outlined = null; // another conversation opened in Chatwoot: nothing left the agent's list
    document.body.classList.add("embedded");
    scopeEl.textContent = say("conversation", { id: watch.conversation }) + (name ? " · " + name : "");
    render(null);
    connect();
  }

  window.addEventListener("message", onAppContext);

  // ---- start ------------------------------------------------------------------------------------

  loadSnapshot(initial);
  setInterval(tick, 1000);
  connect();
  if (window.parent !== window) {
    window.parent.postMessage("chatwoot-dashboard-app:fetch-info", "*");
  }
})();
