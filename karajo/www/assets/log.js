// One run's log, followed live: the server streams the text written so far,
// then each new piece as the job writes it, then the run's final status.
// Log text is only ever added as text nodes, never parsed as HTML.
(function () {
  "use strict";
  const K = window.Karajo;
  const kind = window.location.pathname.includes("/job_http/") ? "job_http" : "job_exec";
  const params = new URLSearchParams(window.location.search);
  const jobId = params.get("id") || "";
  const counter = params.get("counter") || "";
  const log = document.getElementById("log");
  const follow = document.getElementById("follow");
  const statusNode = document.getElementById("status");
  const statusNote = document.getElementById("status-note");
  // Within this many pixels of the bottom counts as reading the newest lines.
  const NEAR_BOTTOM_PX = 48;
  const RETRY_AFTER_MS = 5000;
  let source = null;

  function start() {
    if (!jobId || !/^\d+$/.test(counter)) {
      setStatus("unknown");
      K.showError("This page needs ?id=JOB_ID&counter=RUN_NUMBER in its address.");
      return;
    }
    document.getElementById("run-counter").textContent = `#${counter}`;
    const query = new URLSearchParams({ id: jobId, counter });
    source = new EventSource(`/karajo/api/events/log/${kind}?${query}`);
    source.addEventListener("meta", (event) => onMeta(JSON.parse(event.data)));
    source.addEventListener("chunk", (event) => append(JSON.parse(event.data)));
    source.addEventListener("end", (event) => onEnd(JSON.parse(event.data)));
    source.addEventListener("error", onError);
  }

  function onMeta(meta) {
    // A reconnect sends the log again from its start.
    log.replaceChildren();
    document.getElementById("job-name").textContent = meta.name;
    document.title = `${meta.name} #${meta.counter} · karajo`;
    setStatus(meta.status);
    statusNote.textContent = meta.status === "running" ? "new lines appear as the job writes them" : "";
  }

  function append(text) {
    const wasNearBottom =
      window.innerHeight + window.scrollY >= document.body.scrollHeight - NEAR_BOTTOM_PX;
    const last = log.lastChild;
    if (last && last.nodeType === Node.TEXT_NODE) {
      last.appendData(text);
    } else {
      log.append(document.createTextNode(text));
    }
    if (follow.checked && wasNearBottom) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  }

  function onEnd(end) {
    source.close();
    setStatus(end.status);
    statusNote.textContent = "the run has ended";
    log.dataset.ended = "true";
  }

  async function onError() {
    if (source.readyState !== EventSource.CLOSED) {
      statusNote.textContent = "connection lost; reconnecting…";
      return;
    }
    // The stream was refused: show the API's reason on the page.
    const query = new URLSearchParams({ id: jobId, counter });
    try {
      const response = await fetch(`/karajo/api/events/log/${kind}?${query}`, {
        credentials: "same-origin",
      });
      if (response.status === 401) {
        window.location.assign("/karajo/");
        return;
      }
      if (response.ok) {
        // It answers again: follow it anew.
        response.body.cancel();
        window.setTimeout(start, RETRY_AFTER_MS);
        return;
      }
      K.showError(`This log cannot be shown: ${await K.describeFailure(response)}`);
    } catch (error) {
      K.showError(`This log cannot be shown: ${error.message}`);
    }
    setStatus("unknown");
  }

  function setStatus(status) {
    const label = K.statusLabel(status);
    statusNode.className = `badge status-${label}`;
    statusNode.textContent = label;
    document.body.dataset.status = label;
  }

  start();
})();
