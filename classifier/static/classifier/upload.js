// The home page's uploads: each picked or dropped image gets a card with its thumbnail and progress, is sent on
// its own to the JSON API (so one bad file refuses only itself), then shows its label and top 5 when the result is
// recorded, by long-polling its status URL. No page reload, no library, no network beyond this server.
"use strict";

(function () {
  const form = document.getElementById("drop");
  const input = document.getElementById("files");
  const cards = document.getElementById("uploads");
  if (!form || !input || !cards) return;
  const apiUrl = form.dataset.api;
  const WAIT_SECONDS = 20;

  function csrfToken() {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function newCard(file) {
    const card = element("article", { class: "card", "data-state": "uploading" });
    const thumb = element("img", { alt: file.name, src: URL.createObjectURL(file) });
    thumb.addEventListener("load", () => URL.revokeObjectURL(thumb.src), { once: true });
    const body = element("div");
    body.append(
      element("div", { class: "name" }, file.name),
      element("div", { class: "state muted" }, "uploading…"),
      element("progress", { max: "100", value: "0" }),
      element("div", { class: "result" }),
    );
    card.append(thumb, body);
    cards.prepend(card);
    return card;
  }

  function setState(card, state, text) {
    card.dataset.state = state;
    card.querySelector(".state").textContent = text;
    if (state !== "uploading") card.querySelector("progress")?.remove();
  }

  // The recent-requests table below is the server's: fetch the page again and take its fresh copy (once for a
  // burst of results, not once per image).
  let refreshTimer = null;
  let refreshes = 0; // a slow answer to an older refresh must not overwrite a newer one's
  function refreshRecentSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      const mine = ++refreshes;
      try {
        const html = await (await fetch(window.location.pathname, { headers: { Accept: "text/html" } })).text();
        if (mine !== refreshes) return;
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("recent");
        const current = document.getElementById("recent");
        if (!fresh || !current || fresh.innerHTML === current.innerHTML) return;
        document.adoptNode(fresh); // adopting an <img> restarts its load: adopt the new copy, never the shown one
        // Carry the thumbnails already shown (or still loading) into the fresh copy: replacing an <img> that is
        // loading aborts its request, and a burst of results would otherwise fetch every thumbnail again.
        const shown = new Map();
        current.querySelectorAll("img[src]").forEach((image) => shown.set(image.getAttribute("src"), image));
        fresh.querySelectorAll("img[src]").forEach((image) => {
          const kept = shown.get(image.getAttribute("src"));
          if (kept) {
            shown.delete(image.getAttribute("src"));
            image.replaceWith(kept);
          }
        });
        current.replaceWith(fresh);
      } catch (problem) {
        // The table is a convenience; the cards above already show every result.
      }
    }, 500);
  }

  function showResult(card, item) {
    refreshRecentSoon();
    const result = card.querySelector(".result");
    result.replaceChildren();
    if (item.status === "done") {
      setState(card, "done", "done");
      const link = element("a", { class: "label", href: item.page_url }, item.label);
      const list = element("ol", { class: "top5" });
      item.top5.forEach((guess) => {
        list.append(element("li", {}, `${guess.label} — ${(guess.probability * 100).toFixed(1)}%`));
      });
      result.append(link, list);
    } else {
      setState(card, "failed", "failed");
      result.append(element("p", { class: "error" }, item.error || "the classification failed"));
    }
  }

  function upload(file) {
    const card = newCard(file);
    const request = new XMLHttpRequest();
    request.open("POST", apiUrl);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) card.querySelector("progress").value = (100 * event.loaded) / event.total;
    });
    request.addEventListener("load", () => {
      const body = request.response || {};
      if (request.status !== 202) {
        setState(card, "refused", `refused (HTTP ${request.status})`);
        card.querySelector(".result").append(element("p", { class: "error" }, body.error || "upload refused"));
        return;
      }
      follow(card, body.results[0]);
    });
    request.addEventListener("error", () => setState(card, "refused", "the upload did not reach the server"));
    const data = new FormData();
    data.append("file", file);
    request.send(data);
  }

  // A browser keeps about six connections per server: long polls for many images at once would hold them all and
  // stall the uploads still going. At most FOLLOWERS wait at a time; the others take turns.
  const FOLLOWERS = 3;
  let following = 0;
  const turns = [];
  async function takeTurn() {
    if (following >= FOLLOWERS) await new Promise((resolve) => turns.push(resolve));
    following += 1;
  }
  function endTurn() {
    following -= 1;
    const next = turns.shift();
    if (next) next();
  }

  async function follow(card, item) {
    while (item.status === "queued" || item.status === "running") {
      setState(card, item.status, item.status === "queued" ? "queued, waiting for a worker…" : "running…");
      await takeTurn();
      try {
        const response = await fetch(`${item.status_url}?wait=${WAIT_SECONDS}`, {
          headers: { Accept: "application/json" },
        });
        if (response.status >= 400 && response.status < 500) {
          // Logged out, or the request is gone: asking again will not change that.
          const body = await response.json().catch(() => ({}));
          setState(card, "refused", `HTTP ${response.status}`);
          card.querySelector(".result").append(element("p", { class: "error" }, body.error || "cannot follow it"));
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        item = await response.json();
      } catch (problem) {
        setState(card, item.status, `${item.status}; retrying (${problem.message})`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      } finally {
        endTurn();
      }
    }
    showResult(card, item);
  }

  function send(files) {
    Array.from(files).forEach(upload);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(input.files);
    form.reset();
  });
  input.addEventListener("change", () => {
    send(input.files);
    form.reset();
  });
  ["dragenter", "dragover"].forEach((name) =>
    form.addEventListener(name, (event) => {
      event.preventDefault();
      form.classList.add("dragging");
    }),
  );
  ["dragleave", "drop"].forEach((name) => form.addEventListener(name, () => form.classList.remove("dragging")));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    send(event.dataTransfer.files);
  });
  input.required = false; // the script sends on change; the browser need not insist on a file for the button
})();
