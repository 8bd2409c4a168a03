// What every page shares: the CSRF token, requests to the app, the error
// banner, the credits in the header and a short-lived toast. The pages work
// without this script; it only makes them quicker.
"use strict";

const genvault = (() => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const banner = document.getElementById("banner");
  const toastBox = document.getElementById("toast");
  let toastTimer = 0;

  // fetch() with the CSRF token; a non-2xx answer throws an Error carrying the
  // app's {title, error, hint}, a network failure one that says so.
  async function request(url, options = {}) {
    const headers = { Accept: "application/json", "X-CSRF-Token": token, ...options.headers };
    let response;
    try {
      response = await fetch(url, { ...options, headers, credentials: "same-origin" });
    } catch {
      throw failure({
        title: "Can't reach genvault",
        error: "The page lost its connection to the local server.",
        hint: "check that `gen ui` is still running, then reload",
      });
    }
    if (!response.ok) {
      let body;
      try {
        body = await response.json();
      } catch {
        body = { title: "Something went wrong", error: `The server answered ${response.status}.` };
      }
      throw failure(body, response.status);
    }
    return response;
  }

  // A form-encoded POST (the same fields a plain form sends); returns the JSON answer.
  async function send(url, fields = {}) {
    const body = new URLSearchParams(fields);
    const headers = { "Content-Type": "application/x-www-form-urlencoded" };
    const response = await request(url, { method: "POST", body, headers });
    return response.json();
  }

  function failure(body, status = 0) {
    const error = new Error(body.error || "Something went wrong");
    error.title = body.title || "Something went wrong";
    error.hint = body.hint || "";
    error.status = status;
    return error;
  }

  function showBanner(error) {
    banner.querySelector(".banner-title").textContent = error.title || "Something went wrong";
    banner.querySelector(".banner-message").textContent = error.message || "";
    banner.querySelector(".banner-hint").textContent = error.hint || "";
    banner.hidden = false;
  }

  function hideBanner() {
    banner.hidden = true;
  }

  function toast(text) {
    toastBox.textContent = text;
    toastBox.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox.classList.remove("show"), 3000);
  }

  function setCredits(count) {
    if (count === null || count === undefined) return;
    document.getElementById("credits-count").textContent = String(count);
    document.getElementById("credits-label").textContent = count === 1 ? "credit" : "credits";
    document.querySelector(".credits").hidden = false;
  }

  // A <dialog> of Cancel / confirm buttons: resolves true when the confirm one was chosen.
  function confirm(dialog, yes = "yes") {
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === yes), { once: true });
      dialog.showModal();
    });
  }

  return { token, request, send, confirm, showBanner, hideBanner, toast, setCredits };
})();
