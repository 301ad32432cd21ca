// Trackwire web UI: the admin pages, /admin/users and /admin/teams (admin_routes.py).
// Every change goes through AuthService as the signed-in admin; the server refuses
// anyone else. User strings reach the page as text nodes only (TrackwireAuth.el).
"use strict";
(function () {
  const A = window.TrackwireAuth;
  const el = A.el;
  const main = document.getElementById("admin");
  const json = (method, body) => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const message = el("div", { id: "admin-message" });
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : "");

  // Runs a change, shows its error (or nothing), then draws the page again.
  async function change(path, options) {
    try {
      await A.call(path, options);
      message.replaceChildren();
      await draw();
    } catch (e) {
      message.replaceChildren(el("div", { className: "error" }, e.message));
    }
    main.dataset.changes = String(+(main.dataset.changes || 0) + 1);
  }

  async function usersPage() {
    const { users } = await A.call("/api/admin/users");
    const name = el("input", { type: "text", id: "new-user-name", placeholder: "name", required: true });
    const password = el("input", { type: "password", id: "new-user-password", placeholder: "password (people)", autocomplete: "new-password" });
    const admin = el("input", { type: "checkbox", id: "new-user-admin" });
    const service = el("input", { type: "checkbox", id: "new-user-service" });
    const create = el("form", { className: "admin-form", id: "new-user-form", onsubmit: (e) => {
      e.preventDefault();
      change("/api/admin/users", json("POST", { name: name.value.trim(), password: password.value, admin: admin.checked, service_account: service.checked }));
    } }, name, password, el("label", {}, admin, " admin"), el("label", {}, service, " service account"),
      el("button", { type: "submit", className: "primary", id: "new-user-create" }, "Create user"));
    const rows = users.map((u) => {
      const path = "/api/admin/users/" + encodeURIComponent(u.name);
      const flag = (field) => el("input", { type: "checkbox", className: "user-" + field, checked: u[field],
        onchange: (e) => change(path, json("PATCH", { [field]: e.target.checked })) });
      const newPassword = el("input", { type: "password", className: "user-new-password", placeholder: "new password", autocomplete: "new-password" });
      const reset = u.service_account ? el("span", { className: "muted" }, "tokens only") : el("form", { className: "user-password-form",
        onsubmit: (e) => { e.preventDefault(); change(path, json("PATCH", { password: newPassword.value })); } },
        newPassword, el("button", { type: "submit", className: "user-password-reset" }, "Reset password"));
      return el("tr", { "data-user": u.name }, el("td", {}, u.name), el("td", {}, u.service_account ? "service account" : "person"),
        el("td", {}, flag("admin")), el("td", {}, flag("disabled")), el("td", {}, fmtTime(u.create_time)), el("td", { className: "actions" }, reset));
    });
    return [el("h1", {}, "Users"), message, create,
      el("div", { className: "table-wrap" }, el("table", { className: "grid", id: "users" },
        el("thead", {}, el("tr", {}, ["Name", "Kind", "Admin", "Disabled", "Created", "Password"].map((x) => el("th", {}, x)))),
        el("tbody", {}, rows)))];
  }

  async function teamsPage() {
    const { teams } = await A.call("/api/admin/teams");
    const name = el("input", { type: "text", id: "new-team-name", placeholder: "team name", required: true });
    const create = el("form", { className: "admin-form", id: "new-team-form", onsubmit: (e) => {
      e.preventDefault();
      change("/api/admin/teams", json("POST", { name: name.value.trim() }));
    } }, name, el("button", { type: "submit", className: "primary", id: "new-team-create" }, "Create team"));
    const rows = teams.map((t) => {
      const path = "/api/admin/teams/" + encodeURIComponent(t.name);
      const member = el("input", { type: "text", className: "team-new-member", placeholder: "user name" });
      const members = t.members.map((m) => el("span", { className: "member", "data-member": m }, m, " ",
        el("button", { type: "button", className: "team-remove-member", title: "Remove " + m,
          onclick: () => change(path + "/members/" + encodeURIComponent(m), { method: "DELETE" }) }, "×"), " "));
      return el("tr", { "data-team": t.name }, el("td", {}, t.name), el("td", { className: "members" }, members),
        el("td", { className: "actions" }, el("form", { className: "team-add-form", onsubmit: (e) => {
          e.preventDefault(); change(path + "/members", json("POST", { user_name: member.value.trim() }));
        } }, member, el("button", { type: "submit", className: "team-add-member" }, "Add")), " ",
        el("button", { type: "button", className: "team-delete", onclick: () => {
          if (confirm("Delete team " + t.name + " and its grants?")) change(path, { method: "DELETE" });
        } }, "Delete team")));
    });
    return [el("h1", {}, "Teams"), message, create,
      el("div", { className: "table-wrap" }, el("table", { className: "grid", id: "teams" },
        el("thead", {}, el("tr", {}, ["Name", "Members", ""].map((x) => el("th", {}, x)))),
        el("tbody", {}, rows)))];
  }

  async function draw() {
    const page = location.pathname === "/admin/teams" ? teamsPage : usersPage;
    try {
      main.replaceChildren(...(await page()));
    } catch (e) {
      main.replaceChildren(message);
      message.replaceChildren(el("div", { className: "error" }, e.message));
    }
    window.trackwireRendered = location.pathname;
  }
  draw();
})();
