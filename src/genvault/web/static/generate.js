// The Generate page: a live character count, Enter to generate, and the
// generation's progress streamed from the server (one JSON object per line).
"use strict";

(() => {
  const form = document.getElementById("generate-form");
  const prompt = document.getElementById("prompt");
  const counter = document.getElementById("prompt-count");
  const button = document.getElementById("generate-button");
  const status = document.getElementById("generate-status");
  const phase = document.getElementById("generate-phase");
  const alert = document.getElementById("generate-error");
  const result = document.getElementById("result");
  const max = Number(counter.dataset.max);
  const numbers = new Intl.NumberFormat("en");
  const phases = {
    queued: "Credit reserved, starting the model…",
    running: "Generating…",
    saving: "Saving to your history…",
  };
  let busy = false;

  function updateCount() {
    const length = prompt.value.length;
    counter.textContent = `${numbers.format(length)} / ${numbers.format(max)}`;
    counter.classList.toggle("near", length >= max * 0.9);
  }

  function showError(error) {
    alert.replaceChildren();
    const message = document.createElement("strong");
    message.textContent = error.message;
    alert.append(message);
    if (error.hint) {
      const hint = document.createElement("span");
      hint.textContent = error.hint;
      alert.append(hint);
    }
    alert.hidden = false;
  }

  function setBusy(on) {
    busy = on;
    button.disabled = on;
    form.setAttribute("aria-busy", String(on));
    status.hidden = !on;
    if (on) phase.textContent = "Generating…";
  }

  function element(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  }

  function showResult(gen) {
    const image = element("img", { src: gen.image, alt: gen.prompt });
    const link = element("a", { href: gen.image });
    link.append(image);
    const time = element("time", { datetime: gen.created_at }, gen.when);
    const meta = element("p", { class: "result-meta" });
    meta.append(time, ` · ${gen.model}`);
    const actions = element("p", { class: "result-actions" });
    actions.append(
      element("a", { class: "button quiet", href: gen.download, download: "" }, "Download"),
      element("a", { class: "button quiet", href: "/history" }, "See it in History"),
    );
    const caption = element("figcaption");
    caption.append(element("p", { class: "result-prompt" }, gen.prompt), meta, actions);
    const figure = element("figure", { class: "result" });
    figure.append(link, caption);
    result.replaceChildren(figure);
  }

  // Each line of the stream is {type: "status"|"done"|"error", ...}.
  function handle(event) {
    if (event.type === "status") {
      phase.textContent = phases[event.phase] || "Generating…";
    } else if (event.type === "done") {
      showResult(event);
      genvault.setCredits(event.credits);
      document.getElementById("no-credits-notice")?.remove();
      genvault.toast("Saved to your history");
    } else if (event.type === "error") {
      const error = new Error(event.error);
      error.hint = event.hint || "";
      showError(error);
    }
  }

  async function generate() {
    setBusy(true);
    alert.hidden = true;
    genvault.hideBanner();
    try {
      const response = await genvault.request(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/x-ndjson" },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (line) handle(JSON.parse(line));
        }
      }
    } catch (error) {
      if (error.status === 0 || error.status === 503) genvault.showBanner(error);
      else showError(error);
    } finally {
      setBusy(false);
    }
  }

  prompt.addEventListener("input", updateCount);
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!busy) generate();
  });
  updateCount();
})();
