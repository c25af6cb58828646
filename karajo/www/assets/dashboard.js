// The dashboard: every job and HTTP job, kept current by the server's
// event stream (/karajo/api/events) instead of polling.  The only timer
// here redraws the countdowns from data already on the page.
(function () {
  "use strict";
  const K = window.Karajo;
  const el = K.element;
  const ACTIONS = [
    { action: "run", label: "Run now" },
    { action: "pause", label: "Pause" },
    { action: "resume", label: "Resume" },
    { action: "cancel", label: "Cancel" },
  ];
  const RETRY_AFTER_MS = 5000;
  const state = {
    session: { user: null, users_exist: false, csrf_token: "" },
    cards: new Map(),
    source: null,
  };
  const lists = {
    job: document.getElementById("job-list"),
    job_http: document.getElementById("http-job-list"),
  };
  const secretInput = document.getElementById("secret");

  // The stream.

  function connect() {
    const source = new EventSource("/karajo/api/events");
    state.source = source;
    source.addEventListener("open", () => setConnection("live", "Live"));
    source.addEventListener("snapshot", (event) => applySnapshot(JSON.parse(event.data)));
    source.addEventListener("job", (event) => upsertJob(JSON.parse(event.data)));
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.assign("/karajo/");
    });
    source.addEventListener("error", () => onStreamError(source));
  }

  async function onStreamError(source) {
    if (source.readyState !== EventSource.CLOSED) {
      setConnection("reconnecting", "Connection lost; reconnecting…");
      return;
    }
    // The browser gave up on the stream: ask the API why.
    setConnection("offline", "Disconnected");
    try {
      const response = await fetch("/karajo/api/environment", { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign("/karajo/");
        return;
      }
      if (!response.ok) {
        K.showError(`Live updates stopped: ${await K.describeFailure(response)}`);
      }
    } catch (error) {
      K.showError(`Live updates stopped: the server did not answer (${error.message})`);
    }
    window.setTimeout(connect, RETRY_AFTER_MS);
  }

  function setConnection(stateName, text) {
    const node = document.getElementById("connection");
    node.dataset.state = stateName;
    node.textContent = text;
  }

  function applySnapshot(snapshot) {
    K.setServerTime(snapshot.server_time_ms);
    document.getElementById("title-text").textContent = snapshot.name;
    document.title = `${snapshot.name} · karajo`;
    document.getElementById("version").textContent = `karajo ${snapshot.version}`;
    applySession(snapshot.session);
    const seen = new Set();
    for (const view of [...snapshot.jobs, ...snapshot.http_jobs]) {
      seen.add(upsertJob(view));
    }
    for (const [key, card] of state.cards) {
      if (!seen.has(key)) {
        card.root.remove();
        state.cards.delete(key);
      }
    }
    for (const kind of Object.keys(lists)) {
      const empty = document.getElementById(`${lists[kind].id}-empty`);
      empty.hidden = lists[kind].children.length > 0;
    }
  }

  function applySession(session) {
    state.session = session;
    const user = document.getElementById("user");
    const logout = document.getElementById("logout");
    user.hidden = !session.user;
    user.textContent = session.user ? `Signed in as ${session.user}` : "";
    logout.hidden = !session.users_exist;
    document.getElementById("secret-box").hidden = session.users_exist;
  }

  function upsertJob(view) {
    const key = `${view.kind}:${view.id}`;
    let card = state.cards.get(key);
    if (!card) {
      card = new JobCard(view);
      state.cards.set(key, card);
      insertSorted(lists[view.kind] || lists.job, card);
      const empty = document.getElementById(`${(lists[view.kind] || lists.job).id}-empty`);
      empty.hidden = true;
    }
    card.update(view);
    return key;
  }

  function insertSorted(list, card) {
    const name = card.view.name.toLowerCase();
    const after = Array.from(list.children).find(
      (node) => node.dataset.name.toLowerCase() > name,
    );
    list.insertBefore(card.root, after || null);
  }

  // One job on the page.

  class JobCard {
    constructor(view) {
      this.view = view;
      const domId = `${view.kind}-${view.id}`;
      this.root = el("li", null, "job");
      this.root.dataset.jobId = view.id;
      this.root.dataset.kind = view.kind;
      this.root.dataset.name = view.name;

      this.toggle = el("button", null, "job-summary");
      this.toggle.type = "button";
      this.toggle.setAttribute("aria-expanded", "false");
      this.toggle.setAttribute("aria-controls", `details-${domId}`);
      this.nameNode = el("span", view.name, "job-name");
      this.badgeSlot = el("span", null, "badge-slot");
      this.timer = el("span", null, "job-timer");
      this.toggle.append(this.nameNode, this.badgeSlot, this.timer);
      this.toggle.addEventListener("click", () => this.setOpen(!this.isOpen()));

      this.details = el("div", null, "job-details");
      this.details.id = `details-${domId}`;
      this.details.hidden = true;
      this.description = el("div", null, "description");
      this.facts = el("dl", null, "facts");
      this.work = el("div", null, "work");
      this.runs = el("div", null, "runs");
      this.details.append(this.description, this.actionBar(view), this.facts, this.work, this.runs);
      this.root.append(this.toggle, this.details);
    }

    actionBar(view) {
      const bar = el("div", null, "actions");
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", `Actions on ${view.name}`);
      this.buttons = {};
      for (const { action, label } of ACTIONS) {
        const button = el("button", label, `action action-${action}`);
        button.type = "button";
        button.dataset.action = action;
        button.addEventListener("click", () => act(this, action, label, button));
        this.buttons[action] = button;
        bar.append(button);
      }
      return bar;
    }

    isOpen() {
      return !this.details.hidden;
    }

    setOpen(open) {
      this.details.hidden = !open;
      this.toggle.setAttribute("aria-expanded", String(open));
      this.root.classList.toggle("open", open);
    }

    update(view) {
      this.view = view;
      const status = K.statusLabel(view.status);
      this.root.className = `job status-${status}${this.isOpen() ? " open" : ""}`;
      this.root.dataset.status = status;
      this.badgeSlot.replaceChildren(K.statusBadge(view.status));
      this.buttons.run.disabled = view.status === "paused";
      this.buttons.pause.disabled = view.status === "paused";
      this.buttons.resume.disabled = view.status !== "paused";
      this.buttons.cancel.disabled = view.status !== "running";
      this.renderDescription();
      this.renderFacts();
      this.renderWork();
      this.renderRuns();
      this.tick();
    }

    renderDescription() {
      // description_html was cut down on the server to an allow-list of
      // tags (no script, no event attributes); the CSP blocks inline
      // script as a second wall.
      this.description.innerHTML = this.view.description_html;
      this.description.hidden = !this.view.description_html;
    }

    renderFacts() {
      const view = this.view;
      const rows = [["ID", view.id]];
      if (view.schedule) {
        rows.push(["Schedule", `${view.schedule} (${view.timezone || "UTC"})`]);
      } else if (view.interval > 0) {
        rows.push(["Interval", K.formatNanoseconds(view.interval)]);
      } else {
        rows.push(["Timer", "none: runs on request only"]);
      }
      if (view.kind === "job") {
        if (view.path) {
          rows.push(["Webhook", `POST /karajo/api/job_exec/run${view.path}`]);
          rows.push(["Auth kind", `${view.auth_kind} (header ${view.header_sign})`]);
        }
        if (view.timeout > 0) {
          rows.push(["Time limit", K.formatNanoseconds(view.timeout)]);
        }
      }
      rows.push(["Last run", K.timeElement(view.last_run)]);
      rows.push(["Next run", K.timeElement(view.next_run, "not scheduled")]);
      rows.push(["Logs kept", String(view.log_retention)]);
      const notify = [...(view.notif_on_success || []), ...(view.notif_on_failed || [])];
      if (notify.length) {
        rows.push(["Notifies", notify.join(", ")]);
      }
      this.facts.replaceChildren(
        ...rows.flatMap(([term, value]) => [el("dt", term), wrap("dd", value)]),
      );
    }

    renderWork() {
      const view = this.view;
      if (view.kind === "job_http") {
        const items = [`${view.http_method} ${view.http_url} (${view.http_request_type})`];
        for (const header of view.http_headers || []) {
          items.push(header);
        }
        if (view.http_timeout > 0) {
          items.push(`time limit ${K.formatNanoseconds(view.http_timeout)}`);
        }
        if (view.http_insecure) {
          items.push("TLS certificates are not checked");
        }
        this.work.replaceChildren(el("h3", "Request"), codeList("ul", items));
        return;
      }
      const commands = view.commands || [];
      const body = commands.length
        ? codeList("ol", commands)
        : el("p", "A function given by the program that embeds karajo.");
      this.work.replaceChildren(el("h3", "Commands"), body);
    }

    renderRuns() {
      const runs = [...(this.view.runs || [])].reverse();
      const heading = el("h3", "Recent runs");
      if (!runs.length) {
        this.runs.replaceChildren(heading, el("p", "No runs yet.", "empty"));
        return;
      }
      const table = el("table", null, "run-table");
      const head = el("tr");
      for (const title of ["Run", "Status", "Started", "Duration"]) {
        const cell = el("th", title);
        cell.scope = "col";
        head.append(cell);
      }
      const body = el("tbody");
      for (const run of runs) {
        body.append(runRow(this.view, run));
      }
      table.append(el("thead"), body);
      table.tHead.append(head);
      this.runs.replaceChildren(heading, table);
    }

    tick() {
      const view = this.view;
      const nowMs = K.now();
      if (view.status === "running") {
        const started = K.parseTime(view.last_run);
        const since = started === null ? "" : ` for ${K.formatSeconds((nowMs - started) / 1000)}`;
        this.timer.textContent = `running${since}`;
        return;
      }
      if (view.status === "paused") {
        this.timer.textContent = "paused";
        return;
      }
      const next = K.parseTime(view.next_run);
      if (next !== null) {
        const left = (next - nowMs) / 1000;
        this.timer.textContent = left > 0 ? `next run in ${K.formatSeconds(left)}` : "due now";
        this.timer.title = `next run ${K.utcText(next)}`;
        return;
      }
      this.timer.replaceChildren("last run ", K.timeElement(view.last_run, "never"));
      this.timer.removeAttribute("title");
    }
  }

  function runRow(view, run) {
    const row = el("tr");
    const link = el("a", `#${run.counter}`);
    link.href = K.logPageUrl(view.kind, view.id, run.counter);
    link.setAttribute("aria-label", `Log of run ${run.counter} of ${view.name}`);
    row.append(
      wrap("td", link),
      wrap("td", K.statusBadge(run.status)),
      wrap("td", K.timeElement(run.started, "unknown")),
      el("td", runDuration(run)),
    );
    return row;
  }

  function runDuration(run) {
    const started = K.parseTime(run.started);
    if (started === null) {
      return "";
    }
    const finished = run.status === "running" ? K.now() : K.parseTime(run.finished);
    if (finished === null) {
      return "";
    }
    return K.formatSeconds((finished - started) / 1000);
  }

  function wrap(tag, content) {
    const node = el(tag);
    node.append(content);
    return node;
  }

  function codeList(tag, items) {
    const list = el(tag, null, "code-list");
    for (const item of items) {
      list.append(wrap("li", el("code", item)));
    }
    return list;
  }

  // Actions.

  async function act(card, action, label, button) {
    const view = card.view;
    const isHttp = view.kind === "job_http";
    const epoch = Math.floor(K.now() / 1000);
    const params = `_karajo_epoch=${epoch}&id=${encodeURIComponent(view.id)}`;
    const headers = {};
    if (state.session.users_exist) {
      headers["X-Karajo-Csrf"] = state.session.csrf_token;
    } else {
      const secret = secretInput.value;
      if (!secret) {
        K.showError(`${label} ${view.name}: type karajo's secret first; the request is signed with it.`);
        secretInput.focus();
        return;
      }
      headers["X-Karajo-Sign"] = await K.sign(secret, params);
    }
    // HTTP jobs sign the query string, exec jobs the form body, as the
    // original's API does.
    let url = `/karajo/api/${isHttp ? "job_http" : "job_exec"}/${action}`;
    let body;
    if (isHttp) {
      url += `?${params}`;
    } else {
      body = params;
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
    button.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, { method: "POST", headers, body, credentials: "same-origin" });
      if (!response.ok) {
        let message = `${label} ${view.name}: ${await K.describeFailure(response)}`;
        if (response.status === 401 && state.session.users_exist) {
          message += "; your session may have ended: reload the page to sign in again";
        }
        K.showError(message);
      }
    } catch (error) {
      K.showError(`${label} ${view.name}: the server did not answer (${error.message})`);
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  async function signOut() {
    try {
      await fetch("/karajo/api/auth/logout", { method: "POST", credentials: "same-origin" });
    } catch (error) {
      K.showError(`Sign-out failed: ${error.message}`);
      return;
    }
    if (state.source) {
      state.source.close();
    }
    window.location.assign("/karajo/");
  }

  document.getElementById("logout").addEventListener("click", signOut);
  // Enter in the secret field must not reload the page.
  document.getElementById("secret-box").addEventListener("submit", (event) => event.preventDefault());
  document.body.dataset.signing = K.signingMethod();
  window.setInterval(() => state.cards.forEach((card) => card.tick()), 1000);
  connect();
})();
