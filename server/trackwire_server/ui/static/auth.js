// Trackwire web UI: the signed-in session (sessions.py, auth_routes.py).
// Shows who is signed in with a sign-out button, adds the CSRF token to every change
// the pages send, sends the browser to /signin when the session is gone, says what the
// user may do with an experiment or a model, and draws the "Access" panel (its grants)
// for users who may manage one. Without authentication on the server it does nothing
// visible: every level is MANAGE and there is no panel. The server decides everything;
// this only spares the user controls it would refuse.
"use strict";
(function () {
  const LEVELS = ["NONE", "READ", "USE", "EDIT", "MANAGE"];

  function el(tag, attrs, ...children) {
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

  function signIn() {
    location.assign("/signin");
    return new Promise(() => {}); // the page is going away
  }

  // The session: { auth_enabled, user_name, admin, csrf_token, ... }.
  const session = fetch("/api/session", { credentials: "same-origin" }).then(async (r) => {
    if (r.status === 401) return signIn();
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  });

  // `options` for fetch, with the CSRF token on a change.
  async function withCsrf(options) {
    const method = ((options && options.method) || "GET").toUpperCase();
    if (method === "GET" || method === "HEAD") return options;
    const s = await session;
    if (!s.auth_enabled) return options;
    const headers = Object.assign({}, (options && options.headers) || {}, { "X-CSRF-Token": s.csrf_token });
    return Object.assign({}, options, { headers });
  }

  async function call(path, options) {
    const response = await fetch(path, await withCsrf(options));
    if (response.status === 401) return signIn();
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  const resourcePath = (resource) => "/api/access/" + (resource.experiments !== undefined
    ? "experiments/" + encodeURIComponent(resource.experiments)
    : "models/" + encodeURIComponent(resource.models));

  // { auth_enabled, level, grants }: grants only for a user who may manage it.
  async function access(resource) {
    if (!(await session).auth_enabled) return { auth_enabled: false, level: "MANAGE", grants: null };
    return call(resourcePath(resource));
  }
  const atLeast = (level, wanted) => LEVELS.indexOf(level) >= LEVELS.indexOf(wanted);
  // Whether the user may do what needs `wanted` (READ...MANAGE) with the resource.
  async function allows(resource, wanted) {
    try { return atLeast((await access(resource)).level, wanted); } catch (e) { return false; }
  }

  // The Access panel of a resource, or null when the user may not manage it.
  async function accessPanel(resource) {
    const found = await access(resource).catch(() => null);
    if (!found || !found.auth_enabled || !found.grants) return null;
    const panel = el("section", { id: "access-panel", className: "card access" });
    const message = el("div", { id: "access-error" });
    const path = resourcePath(resource);
    const draw = (grants) => {
      const rows = grants.map((g) => el("tr", { "data-principal": g.principal_type + ":" + g.principal_name },
        el("td", {}, g.principal_type), el("td", {}, g.principal_name), el("td", { className: "level" }, g.level),
        el("td", {}, el("button", { type: "button", className: "access-revoke", onclick: () => change(
          path + "/" + g.principal_type + "s/" + encodeURIComponent(g.principal_name), { method: "DELETE" }) }, "Revoke"))));
      if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, className: "muted" }, "No grants: the server's default applies.")));
      const kind = el("select", { id: "access-principal-type" }, el("option", { value: "user" }, "user"), el("option", { value: "team" }, "team"));
      const name = el("input", { type: "text", id: "access-principal-name", placeholder: "name", required: true });
      const level = el("select", { id: "access-level" }, LEVELS.map((l) => el("option", { value: l, selected: l === "READ" }, l)));
      const form = el("form", { className: "toolbar", id: "access-grant-form", onsubmit: (e) => {
        e.preventDefault();
        change(path, { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ principal_type: kind.value, principal_name: name.value.trim(), level: level.value }) });
      } }, "Grant ", kind, name, level, el("button", { type: "submit", className: "primary", id: "access-grant" }, "Grant"));
      panel.replaceChildren(el("h2", {}, "Access"), message,
        el("table", { className: "grid", id: "access-grants" },
          el("thead", {}, el("tr", {}, ["Type", "Name", "Level", ""].map((x) => el("th", {}, x)))),
          el("tbody", {}, rows)), form);
    };
    async function change(url, options) {
      try {
        await call(url, options);
        const again = await access(resource);
        draw(again.grants || []);
        panel.dataset.changed = String(+(panel.dataset.changed || 0) + 1);
      } catch (e) { message.replaceChildren(el("div", { className: "error" }, e.message)); }
    }
    draw(found.grants);
    return panel;
  }

  // What a page adds after it rendered: the Access panel of an experiment or a model.
  async function pageExtras(container, parts) {
    let resource = null;
    if (parts[0] === "experiments" && parts[1]) resource = { experiments: parts[1] };
    else if (parts[0] === "models" && parts[1]) resource = { models: parts[1] };
    if (!resource || !(await session).auth_enabled) return;
    const panel = await accessPanel(resource);
    if (panel) container.append(panel);
  }

  // The header: who is signed in, admin links, and the sign-out form.
  function drawHeader(s) {
    const box = document.getElementById("session");
    if (!box || !s.auth_enabled) return;
    const form = el("form", { method: "post", action: "/signout", id: "signout-form" },
      el("input", { type: "hidden", name: "csrf", value: s.csrf_token }),
      el("button", { type: "submit", id: "signout" }, "Sign out"));
    box.replaceChildren(
      s.admin ? el("span", { className: "admin-links" }, el("a", { href: "/admin/users", id: "admin-users-link" }, "Users"), " ",
        el("a", { href: "/admin/teams", id: "admin-teams-link" }, "Teams")) : "",
      el("span", { id: "signed-in-user" }, s.user_name), form);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => session.then(drawHeader));
  else session.then(drawHeader);

  window.TrackwireAuth = { session, withCsrf, call, signIn, access, allows, atLeast, accessPanel, pageExtras, el, LEVELS };
})();
