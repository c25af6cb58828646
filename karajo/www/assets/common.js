// What every karajo page shares: errors shown on the page, signing, times.
(function (global) {
  "use strict";

  const ZERO_TIME = "0001-01-01T00:00:00Z";
  const MAX_ERRORS_SHOWN = 5;
  const encoder = new TextEncoder();
  // The server's clock minus this browser's, so countdowns and request
  // epochs agree with the server even when this machine's clock is off.
  let serverOffsetMs = 0;

  function setServerTime(serverMs) {
    serverOffsetMs = serverMs - Date.now();
  }

  function now() {
    return Date.now() + serverOffsetMs;
  }

  // Errors go into the page's #errors region (role="alert"), never only
  // into the console, so that a person sees why an action did nothing.
  function showError(message) {
    const box = document.getElementById("errors");
    const item = document.createElement("p");
    item.className = "error";
    const text = document.createElement("span");
    text.textContent = message;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "dismiss";
    dismiss.textContent = "Dismiss";
    dismiss.setAttribute("aria-label", "Dismiss this message");
    dismiss.addEventListener("click", () => item.remove());
    item.append(text, " ", dismiss);
    box.append(item);
    while (box.children.length > MAX_ERRORS_SHOWN) {
      box.firstElementChild.remove();
    }
  }

  function clearErrors() {
    document.getElementById("errors").replaceChildren();
  }

  // The message of a failed API answer: the JSON wrapper's message when
  // there is one, else the status line.
  async function describeFailure(response) {
    let message = response.statusText || "request failed";
    try {
      const text = await response.text();
      try {
        const body = JSON.parse(text);
        message = body.message || message;
        if (body.name) {
          message += ` (${body.name})`;
        }
      } catch (_notJson) {
        message = text.trim() || message;
      }
    } catch (_unreadable) {
      // The status line is all there is.
    }
    return `${message} [HTTP ${response.status}]`;
  }

  function hasWebCrypto() {
    return Boolean(global.isSecureContext && global.crypto && global.crypto.subtle);
  }

  // The hex HMAC-SHA256 of `message` keyed with `secret`: Web Crypto where
  // the browser offers it, else the plain JavaScript of hmac-sha256.js.
  async function sign(secret, message) {
    if (!hasWebCrypto()) {
      return global.KarajoHmac.hmacSha256Hex(secret, message);
    }
    const subtle = global.crypto.subtle;
    const key = await subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const signature = await subtle.sign("HMAC", key, encoder.encode(message));
    return global.KarajoHmac.toHex(new Uint8Array(signature));
  }

  function signingMethod() {
    return hasWebCrypto() ? "web-crypto" : "javascript";
  }

  function parseTime(iso) {
    if (!iso || iso === ZERO_TIME) {
      return null;
    }
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : ms;
  }

  const localFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  });

  function utcText(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  // A <time> in the viewer's zone, with the UTC time on hover.
  function timeElement(iso, fallback = "never") {
    const ms = parseTime(iso);
    if (ms === null) {
      return document.createTextNode(fallback);
    }
    const element = document.createElement("time");
    element.dateTime = new Date(ms).toISOString();
    element.title = utcText(ms);
    element.textContent = localFormat.format(ms);
    return element;
  }

  function formatSeconds(total) {
    const seconds = Math.max(0, Math.round(total));
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = seconds % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (days > 0) {
      return `${days}d ${hours}h ${two(minutes)}m`;
    }
    if (hours > 0) {
      return `${hours}h ${two(minutes)}m ${two(rest)}s`;
    }
    if (minutes > 0) {
      return `${minutes}m ${two(rest)}s`;
    }
    return `${rest}s`;
  }

  // Go durations in the API are nanoseconds.
  function formatNanoseconds(ns) {
    return formatSeconds(ns / 1e9);
  }

  function statusLabel(status) {
    return status || "idle";
  }

  function statusBadge(status) {
    const badge = document.createElement("span");
    badge.className = `badge status-${statusLabel(status)}`;
    badge.textContent = statusLabel(status);
    return badge;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  // The page of one run's log.
  function logPageUrl(kind, id, counter) {
    const path = kind === "job_http" ? "job_http" : "job_exec";
    const query = new URLSearchParams({ id, counter: String(counter) });
    return `/karajo/app/${path}/log/?${query}`;
  }

  global.Karajo = Object.freeze({
    clearErrors,
    describeFailure,
    element,
    formatNanoseconds,
    formatSeconds,
    logPageUrl,
    now,
    parseTime,
    setServerTime,
    showError,
    sign,
    signingMethod,
    statusBadge,
    statusLabel,
    timeElement,
    utcText,
  });
})(window);
