// The audit trail's page: every datum comes from the JSON API next to it (the page lives at
// `<prefix>/ui`, the API at `<prefix>/…`), under the same access decision. Untrusted text
// from the trail only ever reaches the page through `textContent`.
"use strict";

const API = new URL(".", location.href.split("#")[0]);
const PAGE = 50;
const REDACTED = "[redacted]";
const ACTIONS = ["created", "updated", "deleted", "restored", "reverted", "drift", "baseline", "snapshot", "pruned", "erased", "redacted", "sealed_late"];

let permissions = null;
let observer = null;

// ---------------------------------------------------------------------------------------
// DOM and API helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, init) {
  const response = await fetch(new URL(path, API), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    ...init,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(response.status, error.code || "http_" + response.status,
      error.message || response.statusText || "request failed");
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

function seg(s) {
  return encodeURIComponent(s);
}

// A segment of an API path. "." and ".." are dot segments to the URL parser however they
// are encoded ("%2e" too): a record whose type or id is one cannot be asked for by path,
// and a link made of them would send the page's requests elsewhere.
function apiSeg(s) {
  if (s === "." || s === "..") {
    throw new Error(`the record "${s}" cannot be opened by its path: find it in the timeline`);
  }
  return encodeURIComponent(s);
}

// The class of an action's label: its own colour for the built-in actions only (a custom
// action's name may hold spaces, which would add classes of the page's own).
const ACTIONS_STYLED = ["created", "updated", "deleted", "restored", "reverted", "drift", "baseline"];
function actionClass(action) {
  return ACTIONS_STYLED.includes(action) ? `action action-${action}` : "action";
}

function timeEl(iso) {
  const d = new Date(iso);
  return h("time", { datetime: iso, title: "UTC: " + d.toISOString() }, d.toLocaleString());
}

// A `datetime-local` value (local time, to the second) from an ISO time, and back.
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Two `datetime-local` values alike: a browser writes a value in its shortest form, with
// no `:00` seconds.
function sameLocal(a, b) {
  const full = (v) => (/T\d\d:\d\d$/.test(v) ? v + ":00" : v);
  return full(a) === full(b);
}

function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value);
  return isNaN(d) ? "" : d.toISOString();
}

// A value as JSON: a string in quotes, so that "5" and 5, or "null" and null, read apart.
function valueText(v) {
  return JSON.stringify(v);
}

function errorBox(error) {
  return h("p", { class: "error", role: "alert" },
    error instanceof ApiError ? `${error.message} (${error.status})` : String(error));
}

function subjectLabel(type, id) {
  return `${type} #${id}`;
}

function subjectHref(type, id) {
  return `#/subject/${seg(type)}/${seg(id)}`;
}

// ---------------------------------------------------------------------------------------
// Entries and diffs

function diffTable(changes) {
  const fields = Object.keys(changes || {});
  if (fields.length === 0) return null;
  const rows = fields.map((field) => {
    const { old, new: now } = changes[field];
    const cells = old === REDACTED || now === REDACTED
      ? [h("td", { class: "redacted", colspan: 2 }, "changed (value redacted)")]
      : [
        h("td", { class: "old" }, old === null || old === undefined
          ? h("span", { class: "none" }, "—") : h("del", {}, valueText(old))),
        h("td", { class: "new" }, now === null || now === undefined
          ? h("span", { class: "none" }, "—") : h("ins", {}, valueText(now))),
      ];
    return h("tr", { "data-field": field }, h("th", { scope: "row" }, field), cells);
  });
  return h("table", { class: "diff" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Old"),
      h("th", { scope: "col" }, "New"))),
    h("tbody", {}, rows));
}

function entryItem(entry, withSubject) {
  const head = h("div", { class: "entry-head" },
    h("span", { class: actionClass(entry.action) }, entry.action),
    withSubject && entry.subject_type && entry.subject_id
      ? h("a", { class: "subject", href: subjectHref(entry.subject_type, entry.subject_id) },
        subjectLabel(entry.subject_type, entry.subject_id))
      : withSubject && entry.subject_type
        ? h("span", { class: "subject" }, entry.subject_type)
        : null,
    h("span", { class: "meta causer" }, "by ",
      entry.causer_id === null ? h("em", {}, "unknown") : entry.causer_id),
    h("span", { class: "meta" }, timeEl(entry.created_at)),
    entry.request_id
      ? h("a", { class: "meta", href: "#/" + query({ request_id: entry.request_id }),
        title: "Everything this request did" }, "request " + entry.request_id)
      : null);
  const properties = entry.properties && typeof entry.properties === "object"
    ? Object.entries(entry.properties).map(([k, v]) => h("span", { class: "meta property" }, `${k}: ${valueText(v)}`))
    : [];
  return h("li", { class: "entry", "data-entry-id": entry.id }, head,
    properties.length ? h("div", { class: "entry-head" }, properties) : null,
    diffTable(entry.changes));
}

// A list that pages with a cursor: a "Load more" button, pressed by scrolling too.
function pagedList(list, fetchPage, render) {
  const more = h("button", { type: "button", class: "more" }, "Load more");
  const status = h("p", { class: "muted", role: "status" });
  let cursor = null;
  let loading = false;
  let done = false;
  async function load() {
    if (loading || done) return;
    loading = true;
    more.disabled = true;
    let loaded = false;
    try {
      const page = await fetchPage(cursor);
      for (const item of page.items) list.append(render(item));
      cursor = page.next_cursor;
      done = cursor === null || cursor === undefined;
      status.textContent = list.children.length === 0 ? "Nothing here."
        : done ? `${list.children.length} shown: the end.` : `${list.children.length} shown.`;
      more.hidden = done;
      loaded = true;
    } catch (e) {
      status.replaceChildren(errorBox(e));
    } finally {
      loading = false;
      more.disabled = false;
    }
    // Watch the button afresh after every page: observing reports its current place, so a
    // page that leaves it in view loads the next one, and so does a scroll that brought it
    // into view while this page was being drawn (the observer reports changes only, and
    // would otherwise see none). Until the first page is in, nothing is watched; after a
    // failed page, nothing either (the button retries: scrolling must not repeat a
    // failing request over and over).
    if (observer === watcher) {
      watcher.unobserve(more);
      if (loaded && !done) watcher.observe(more);
    }
  }
  more.addEventListener("click", load);
  const watcher = new IntersectionObserver((seen) => {
    if (seen.some((s) => s.isIntersecting)) load();
  });
  if (observer) observer.disconnect();
  observer = watcher;
  return { elements: [list, status, more], load };
}

// ---------------------------------------------------------------------------------------
// The timeline

const FILTERS = [
  ["subject_type", "Subject type"],
  ["subject_id", "Subject id"],
  ["causer_id", "Causer"],
  ["action", "Action"],
  ["request_id", "Request id"],
  ["since", "Since"],
  ["until", "Until"],
];

function readableTypes() {
  return Object.entries(permissions.subject_types).filter(([, p]) => p.read).map(([t]) => t);
}

function filterForm(params) {
  const fields = FILTERS.map(([name, label]) => {
    const id = "f-" + name;
    const time = name === "since" || name === "until";
    const list = name === "subject_type" ? "types" : name === "action" ? "actions" : null;
    return h("div", {},
      h("label", { for: id }, label),
      h("input", { id, name, type: time ? "datetime-local" : "text", list, step: time ? 1 : null,
        value: time ? toLocalInput(params[name]) : (params[name] || ""), autocomplete: "off" }));
  });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter the activity" },
    fields,
    h("datalist", { id: "types" }, readableTypes().map((t) => h("option", { value: t }))),
    h("datalist", { id: "actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("button", { type: "button", id: "clear", onclick: () => {
        // (Already at `#/`, the address does not change: the fields typed are cleared here.)
        for (const input of form.querySelectorAll("input")) input.value = "";
        location.hash = "#/";
      } }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    for (const [name] of FILTERS) {
      const v = form.elements[name].value.trim();
      const time = name === "since" || name === "until";
      // A time left as shown keeps the address's own (its fraction of a second, and the
      // instant it names where the local clock shows an hour twice).
      next[name] = !time ? v : sameLocal(v, toLocalInput(params[name])) ? (params[name] || "") : fromLocalInput(v);
    }
    location.hash = "#/" + query(next);
  });
  return form;
}

function barChart(title, counts) {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const width = 360;
  const bar = 18;
  const chart = svg("svg", { width, height: Math.max(1, rows.length) * (bar + 6), role: "img",
    "aria-label": `${title}: ${rows.map(([k, n]) => `${k} ${n}`).join(", ") || "none"}` },
  svg("title", {}, title));
  rows.forEach(([label, n], i) => {
    const y = i * (bar + 6);
    chart.append(
      svg("text", { x: 0, y: y + 13 }, label.length > 16 ? label.slice(0, 15) + "…" : label || "(none)"),
      svg("rect", { x: 120, y, height: bar, width: Math.max(2, (n / max) * 190) }),
      svg("text", { x: 124 + (n / max) * 190, y: y + 13 }, n));
  });
  return h("figure", {}, h("figcaption", {}, title), chart);
}

async function dashboardSection(hours) {
  const section = h("section", { class: "dashboard", "aria-label": "Counts" });
  const select = h("select", { id: "window", "aria-label": "Counts over" },
    [[24, "last 24 hours"], [168, "last 7 days"], [720, "last 30 days"], [8760, "last year"]]
      .map(([n, label]) => h("option", { value: n, selected: n === hours }, label)));
  // (Of windows picked in quick succession, the last one's counts are drawn, whichever
  // answer comes first.)
  let asked = 0;
  select.addEventListener("change", async () => {
    const mine = ++asked;
    const next = await dashboardSection(Number(select.value));
    if (mine !== asked || !section.isConnected) return;
    section.replaceWith(next);
    document.getElementById("window").focus();
  });
  // (The selector stays when the counts fail: another window, or the same again, retries.)
  const head = h("div", {}, h("label", { for: "window", class: "muted" }, "Counts over "), select);
  section.append(head);
  try {
    const d = await api("dashboard" + query({ window_hours: hours, limit: 1 }));
    head.append(h("p", { class: "total" }, h("strong", {}, String(d.counts.total)), " entries"));
    section.append(
      barChart("By action", d.counts.by_action),
      barChart("By subject type", d.counts.by_subject_type));
  } catch (e) {
    section.append(errorBox(e));
  }
  return section;
}

async function timelineView(main, params, stale) {
  const heading = h("h1", { tabindex: -1 }, "Activity");
  const list = h("ol", { class: "timeline", id: "entries", "aria-label": "Activity, newest first" });
  const filters = Object.fromEntries(FILTERS.map(([k]) => [k, params.get(k) || ""]));
  const dashboard = await dashboardSection(24);
  // Another view was asked for meanwhile, and drew itself: this one is dropped.
  if (stale()) return null;
  const paged = pagedList(list, (cursor) => api("activity" + query({ ...filters, limit: PAGE, after_id: cursor })),
    (entry) => entryItem(entry, true));
  main.replaceChildren(heading, dashboard, filterForm(filters), ...paged.elements);
  await paged.load();
  return heading;
}

// ---------------------------------------------------------------------------------------
// One record: history, versions side by side, restore

function versionsTable(type, versions, canRestore, onCompare, onRestore) {
  const radios = (name, v, checked) => h("input", { type: "radio", name, value: v.version, checked,
    "aria-label": `${name === "a" ? "Left" : "Right"}: version ${v.version}` });
  const n = versions.length;
  const rows = versions.map((v, i) => h("tr", { "data-version": v.version },
    h("td", {}, radios("a", v, i === Math.max(0, n - 2))),
    h("td", {}, radios("b", v, i === n - 1)),
    h("td", {}, String(v.version)),
    h("td", {}, h("span", { class: actionClass(v.event) }, v.event)),
    h("td", {}, v.causer_id === null ? h("em", {}, "unknown") : v.causer_id),
    h("td", {}, timeEl(v.created_at)),
    canRestore
      ? h("td", {}, h("button", { type: "button", class: "restore", "data-version-id": v.id,
        onclick: () => onRestore(v) }, `Restore version ${v.version}`))
      : null));
  const form = h("form", { class: "versions-form", "aria-label": "Versions" },
    h("table", { class: "versions" },
      h("thead", {}, h("tr", {}, ["Left", "Right", "Version", "Event", "Causer", "Time"]
        .concat(canRestore ? ["Restore"] : []).map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    h("p", {}, h("button", { type: "submit", id: "compare" }, "Compare side by side")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onCompare(Number(form.elements.a.value), Number(form.elements.b.value));
  });
  return form;
}

function sideBySide(versions, a, b) {
  const left = versions.find((v) => v.version === a);
  const right = versions.find((v) => v.version === b);
  if (!left || !right) return h("p", { class: "muted" }, "Pick two versions.");
  const fields = [...new Set([...Object.keys(left.data), ...Object.keys(right.data)])];
  // (Own fields only: a field named `constructor` is not the object's.)
  const cell = (data, field, differs) => h("td", { class: differs ? "differs" : null },
    Object.hasOwn(data, field) ? valueText(data[field]) : h("span", { class: "none" }, "—"));
  const own = (data, field) => (Object.hasOwn(data, field) ? data[field] : undefined);
  return h("section", { id: "side-by-side", "aria-label": "Two versions side by side" },
    h("h3", {}, `Version ${a} and version ${b}`),
    h("table", { class: "side" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"),
        h("th", { scope: "col" }, `Version ${a} (${left.event})`),
        h("th", { scope: "col" }, `Version ${b} (${right.event})`))),
      h("tbody", {}, fields.map((f) => {
        const differs = JSON.stringify(own(left.data, f)) !== JSON.stringify(own(right.data, f));
        // (In words as well as colour: "differs" is read out, and shown as ≠.)
        const mark = differs
          ? h("span", { class: "differs-mark" }, h("span", { "aria-hidden": "true" }, " ≠"),
            h("span", { class: "visually-hidden" }, " (differs)"))
          : null;
        return h("tr", { "data-field": f, class: differs ? "differs" : null },
          h("th", { scope: "row" }, h("span", { class: "field" }, f), mark),
          cell(left.data, f, differs), cell(right.data, f, differs));
      }))));
}

// The most versions the record page lists (oldest first).
const MAX_VERSIONS_LISTED = 5000;

async function allVersions(type, id) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(`versions/${apiSeg(type)}/${apiSeg(id)}` + query({ limit: 500, after_id: cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null && cursor !== undefined && items.length < MAX_VERSIONS_LISTED);
  return { items, more: cursor !== null && cursor !== undefined };
}

function askRestore(version) {
  const dialog = document.getElementById("restore-dialog");
  const form = document.getElementById("restore-form");
  const reason = document.getElementById("restore-reason");
  const result = document.getElementById("restore-result");
  const confirm = document.getElementById("restore-confirm");
  document.getElementById("restore-what").textContent =
    `${subjectLabel(version.subject_type, version.subject_id)}: version ${version.version} (${version.event}, ${new Date(version.created_at).toLocaleString()}) becomes the record again.`;
  reason.value = "";
  result.replaceChildren();
  confirm.disabled = false;
  return new Promise((resolve) => {
    const cancel = document.getElementById("restore-cancel");
    // While the request is out, the restore may happen whatever the page does: the dialog
    // stays until the answer, which the page then shows.
    let busy = false;
    const finish = (value) => {
      form.removeEventListener("submit", submit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.removeEventListener("close", onClose);
      cancel.disabled = false;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = (event) => { event.preventDefault(); if (!busy) finish(null); };
    // Closed all the same (a browser lets a second Escape through): while the request is
    // out the dialog comes back, to show its answer; otherwise it is a cancel, and this
    // dialog's handlers go with it (a later restore must not send this one again).
    const onClose = () => { if (busy) dialog.showModal(); else finish(null); };
    const submit = async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      confirm.disabled = true;
      cancel.disabled = true;
      result.textContent = "Restoring…";
      try {
        const restored = await api(`versions/${version.id}/restore`, {
          method: "POST",
          headers: { Accept: "application/json", "Content-Type": "application/json" },
          body: JSON.stringify({ reason: reason.value.trim() }),
        });
        busy = false;
        finish(restored);
      } catch (e) {
        busy = false;
        result.replaceChildren(errorBox(e));
        confirm.disabled = false;
        cancel.disabled = false;
      }
    };
    form.addEventListener("submit", submit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    reason.focus();
  });
}

async function recordView(main, type, id, notice) {
  const heading = h("h1", { tabindex: -1 }, subjectLabel(type, id));
  const status = h("div", { id: "record-status", role: "status", "aria-live": "polite", tabindex: "-1" },
    notice ? h("p", { class: "notice" }, notice) : null);
  const history = h("ol", { class: "timeline", id: "history", "aria-label": "History, oldest first" });
  const paged = pagedList(history,
    (cursor) => api(`subjects/${apiSeg(type)}/${apiSeg(id)}` + query({ limit: PAGE, after_id: cursor })),
    (entry) => entryItem(entry, false));
  const versionsBox = h("div", { id: "versions" }, h("p", { class: "muted" }, "Loading versions…"));
  const compareBox = h("div", { id: "compare-box" });
  main.replaceChildren(heading, status,
    h("p", {}, h("a", { href: "#/" + query({ subject_type: type, subject_id: id }) }, "This record in the timeline")),
    h("h2", {}, "History"), ...paged.elements,
    h("h2", {}, "Versions"), versionsBox, compareBox);
  const canRestore = Boolean(permissions.subject_types[type] && permissions.subject_types[type].restore);
  try {
    const { items: versions, more } = await allVersions(type, id);
    const compare = (a, b) => compareBox.replaceChildren(sideBySide(versions, a, b));
    const restore = async (version) => {
      const at = navigation;
      const restored = await askRestore(version);
      // (Done after the page moved on, under the dialog: the page stays where it went.)
      if (restored && at === navigation) {
        await recordView(main, type, id,
          `Restored version ${restored.version.version} of ${subjectLabel(type, id)}.`);
        const status = document.getElementById("record-status");
        // The new entry, under the notice: the history lists oldest first, so on a long
        // one it is pages away.
        try {
          const page = await api("activity" + query({
            subject_type: type, subject_id: id, action: "restored", limit: 1,
          }));
          if (page.items.length) {
            status.append(h("ol", { class: "timeline", "aria-label": "The restore" },
              entryItem(page.items[0], false)));
          }
        } catch (_) {
          // The history below holds it all the same.
        }
        status.focus();
      }
    };
    versionsBox.replaceChildren(
      more ? h("p", { class: "notice" },
        `The first ${MAX_VERSIONS_LISTED} versions are listed; later ones are not.`) : "",
      versions.length
        ? versionsTable(type, versions, canRestore, compare, restore)
        : h("p", { class: "muted" }, "No versions."));
    if (versions.length >= 2) compare(versions[versions.length - 2].version, versions[versions.length - 1].version);
  } catch (e) {
    versionsBox.replaceChildren(errorBox(e));
  }
  await paged.load();
  return heading;
}

// ---------------------------------------------------------------------------------------
// Routing

// Each navigation's number: a view still loading when another is asked for is dropped.
let navigation = 0;

async function route() {
  // An anchor in the page (the skip link's `#main`) is not a view: it moves the focus,
  // once a view is drawn (a page opened at such an address draws the timeline).
  const anchor = location.hash && !location.hash.startsWith("#/");
  if (anchor && navigation > 0) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) target.focus();
    return;
  }
  const mine = ++navigation;
  const stale = () => mine !== navigation;
  const main = document.getElementById("main");
  const hash = anchor ? "/" : location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  let heading;
  try {
    // (A malformed escape in the address is an error shown like any other.)
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    if (!permissions) {
      permissions = await api("permissions");
      const may = ["read", "restore", "revert"].filter((p) => permissions.any[p]);
      document.getElementById("caller").textContent = "You may: " + (may.join(", ") || "nothing");
    }
    if (stale()) return;
    if (parts[0] === "subject" && parts.length === 3) {
      heading = await recordView(main, parts[1], parts[2]);
    } else {
      heading = await timelineView(main, new URLSearchParams(search || ""), stale);
    }
  } catch (e) {
    if (stale()) return;
    permissions = null;
    heading = h("h1", { tabindex: -1 }, "Audit trail");
    main.replaceChildren(heading, errorBox(e));
  }
  if (stale()) return;
  document.body.dataset.ready = hash;
  if (heading) heading.focus();
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);
