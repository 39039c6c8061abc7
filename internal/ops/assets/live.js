// Live updates for the status page: every two seconds (while the page is
// visible) the tables are rendered again from the JSON API, by the same
// rules as the server's templates. Without JavaScript the server-rendered
// tables stay, and a reload refreshes them.
"use strict";
(function () {
  const page = document.body.dataset.page;
  const interval = 2000;

  function age(s) {
    if (s === null || s === undefined) return "-";
    if (s < 60) return s.toFixed(1) + "s";
    if (s < 3600) return (s / 60).toFixed(1) + "m";
    if (s < 86400) return (s / 3600).toFixed(1) + "h";
    return (s / 86400).toFixed(1) + "d";
  }
  function lease(s) { return s < 0 ? "ran out " + age(-s) + " ago" : age(s) + " left"; }
  function rate(r) { return r === null || r === undefined ? "-" : r.toFixed(2) + "/s"; }
  function clock(t) { return new Date(t).toTimeString().slice(0, 8); }

  // cell makes a <td>; n right-aligns it; link wraps the text in <a href>.
  function cell(text, n, link) {
    const td = document.createElement("td");
    if (n) td.className = "n";
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = String(text);
    }
    return td;
  }
  function fill(id, rows, cols, empty) {
    const tbody = document.querySelector("#" + id + " tbody");
    const out = [];
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const c of cols(r, tr)) tr.appendChild(c);
      out.push(tr);
    }
    if (out.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = document.querySelectorAll("#" + id + " thead th").length;
      td.textContent = empty;
      tr.appendChild(td);
      out.push(tr);
    }
    tbody.replaceChildren(...out);
  }

  async function get(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  }

  async function refreshStatus() {
    const cluster = document.getElementById("cluster") ? refreshCluster() : null;
    const [st, ws] = await Promise.all([get("/api/status"), get("/api/workers")]);
    document.getElementById("connections").textContent = st.connections;
    document.getElementById("dead-count").textContent = st.dead_letters === null ? "-" : st.dead_letters;
    fill("functions", st.functions, (f, tr) => {
      tr.dataset.function = f.function;
      return [cell(f.function, false, "/jobs?function=" + encodeURIComponent(f.function)),
        cell(f.queued.high, true), cell(f.queued.normal, true), cell(f.queued.low, true),
        cell(f.running, true), cell(f.scheduled, true), cell(f.workers, true),
        cell(age(f.oldest_age_seconds), true), cell(rate(f.throughput_per_second), true)];
    }, "No functions yet.");
    fill("workers", ws.filter((w) => w.functions.length > 0), (w) => [
      cell(w.fd, true), cell(w.ip), cell(w.client_id), cell(w.functions.join(" ")), cell(w.running, true),
    ], "No workers connected.");
    await cluster;
    return st.time;
  }

  // refreshCluster fills the Cluster section (a server with a shared
  // store) from /api/cluster; when the store cannot count, the section
  // says so and the rest of the page still updates.
  async function refreshCluster() {
    const text = (id, t) => { document.getElementById(id).textContent = t; };
    let v;
    try {
      v = await get("/api/cluster");
    } catch (e) {
      text("cluster-servers", "-");
      text("cluster-dead", "-");
      text("cluster-time", "not counted (" + e.message + ")");
      return;
    }
    text("cluster-servers", v.nodes.length);
    text("cluster-dead", v.dead_letters);
    text("cluster-time", "counted at " + clock(v.time));
    fill("nodes", v.nodes, (n) => [
      cell(n.node + (n.self ? " (this one)" : ""), true), cell(lease(n.lease_left_seconds)), cell(age(n.age_seconds), true),
    ], "No servers counted.");
    fill("shared", v.functions, (f) => [
      cell(f.function, false, "/dead?function=" + encodeURIComponent(f.function)),
      cell(f.queued, true), cell(f.held, true), cell(f.running, true), cell(f.waiting, true), cell(f.dead_letters, true),
    ], "No jobs in the cluster.");
  }

  async function refreshJobs() {
    const fn = document.body.dataset.function;
    const v = await get("/api/jobs?function=" + encodeURIComponent(fn));
    fill("jobs", v.jobs, (j) => [
      cell(j.handle), cell(j.unique), cell(j.priority), cell(j.state), cell(age(j.age_seconds), true),
      cell(j.retries, true), cell(j.background ? "yes" : "no"), cell(j.worker || "", true),
    ], "No jobs.");
    return v.time;
  }

  if (page !== "status" && page !== "jobs") return; // the dead letters' page: a reload refreshes it
  let busy = false;
  async function tick() {
    if (busy || document.visibilityState === "hidden") return;
    busy = true;
    const updated = document.getElementById("updated");
    try {
      const t = await (page === "jobs" ? refreshJobs() : refreshStatus());
      updated.textContent = "live, as of " + clock(t);
      document.body.dataset.live = "ok";
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } catch (e) {
      updated.textContent = "offline (" + e.message + ")";
      document.body.dataset.live = "error";
    } finally {
      busy = false;
    }
  }
  tick();
  setInterval(tick, interval);
  document.addEventListener("visibilitychange", tick);
})();
