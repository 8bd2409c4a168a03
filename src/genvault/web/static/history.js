// The History page: search as you type, endless scrolling, a lightbox with
// arrow keys, and deleting after a confirm dialog. Cards come from the server
// as HTML (/history/cards), the same markup the page was rendered with.
"use strict";

(() => {
  const grid = document.getElementById("grid");
  const search = document.getElementById("search");
  const older = document.getElementById("older");
  const empty = document.getElementById("empty");
  const lightbox = document.getElementById("lightbox");
  const confirmDialog = document.getElementById("confirm-delete");
  const $ = (id) => document.getElementById(id);

  let query = search.value.trim();
  let cursor = older.hidden ? null : new URL(older.href).searchParams.get("before");
  let loading = false;
  let searchTimer = 0;
  let searchRun = 0;
  let current = null; // the card shown in the lightbox

  // -- cards and pages --------------------------------------------------------
  function cardsUrl(before) {
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    if (before) params.set("before", before);
    const tail = params.toString();
    return tail ? `/history/cards?${tail}` : "/history/cards";
  }

  async function fetchCards(before) {
    const response = await genvault.request(cardsUrl(before));
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    return { cards: [...template.content.children], next: response.headers.get("X-Next-Cursor") };
  }

  function setCursor(next) {
    cursor = next;
    older.hidden = !next;
    if (next) {
      const params = new URLSearchParams(query ? { q: query, before: next } : { before: next });
      older.href = `/history?${params}`;
    }
  }

  function updateEmpty() {
    const none = !grid.querySelector(".card") && !cursor;
    empty.hidden = !none;
    $("empty-search").hidden = !query;
    $("empty-all").hidden = Boolean(query);
    $("empty-query").textContent = query;
  }

  async function loadMore() {
    if (loading || !cursor) return;
    loading = true;
    try {
      const { cards, next } = await fetchCards(cursor);
      grid.append(...cards);
      setCursor(next);
      genvault.hideBanner();
    } catch (error) {
      genvault.showBanner(error);
      return;
    } finally {
      loading = false;
    }
    // A tall window may still show the end of the list: keep going.
    if (cursor && older.getBoundingClientRect().top < window.innerHeight + 400) loadMore();
  }

  async function runSearch() {
    const run = ++searchRun;
    query = search.value.trim();
    try {
      const { cards, next } = await fetchCards(null);
      if (run !== searchRun) return; // a newer search has started
      grid.replaceChildren(...cards);
      setCursor(next);
      updateEmpty();
      genvault.hideBanner();
      const params = new URLSearchParams(query ? { q: query } : {});
      history.replaceState(null, "", query ? `/history?${params}` : "/history");
    } catch (error) {
      if (run === searchRun) genvault.showBanner(error);
    }
  }

  // -- lightbox ----------------------------------------------------------------
  function cards() {
    return [...grid.querySelectorAll(".card")];
  }

  function show(card) {
    current = card;
    const id = card.dataset.id;
    const thumb = card.querySelector("img");
    const time = card.querySelector("time");
    const image = $("lightbox-image");
    image.src = `/images/${id}`;
    image.alt = thumb.alt;
    $("lightbox-prompt").textContent = thumb.alt;
    $("lightbox-date").textContent = time.textContent;
    $("lightbox-date").dateTime = time.dateTime;
    $("lightbox-model").textContent = card.dataset.model;
    $("lightbox-download").href = `/images/${id}?download=1`;
    const list = cards();
    const index = list.indexOf(card);
    $("lightbox-prev").disabled = index <= 0;
    $("lightbox-next").disabled = index >= list.length - 1 && !cursor;
    if (!lightbox.open) lightbox.showModal();
  }

  async function step(delta) {
    if (!current) return;
    let list = cards();
    let index = list.indexOf(current) + delta;
    if (index >= list.length && cursor) {
      await loadMore();
      list = cards();
    }
    index = Math.max(0, Math.min(index, list.length - 1));
    if (list[index]) show(list[index]);
  }

  // -- deleting ----------------------------------------------------------------
  function confirmDelete() {
    return new Promise((resolve) => {
      confirmDialog.returnValue = "";
      confirmDialog.addEventListener(
        "close",
        () => resolve(confirmDialog.returnValue === "delete"),
        { once: true },
      );
      confirmDialog.showModal();
    });
  }

  async function remove(card) {
    if (!(await confirmDelete())) return;
    try {
      await genvault.request(`/generations/${card.dataset.id}`, { method: "DELETE" });
    } catch (error) {
      if (error.status === 404) card.remove(); // already gone (deleted elsewhere)
      genvault.showBanner(error);
      return;
    }
    if (lightbox.open && current === card) {
      const list = cards();
      const index = list.indexOf(card);
      const neighbour = list[index + 1] || list[index - 1];
      card.remove();
      if (neighbour) show(neighbour);
      else lightbox.close();
    } else {
      card.remove();
    }
    genvault.toast("Image deleted");
    if (!grid.querySelector(".card") && cursor) loadMore();
    updateEmpty();
  }

  // -- wiring ------------------------------------------------------------------
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 250);
  });
  search.form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    runSearch();
  });

  older.addEventListener("click", (event) => {
    event.preventDefault();
    loadMore();
  });
  new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadMore();
    },
    { rootMargin: "400px" },
  ).observe(older);

  grid.addEventListener("click", (event) => {
    const link = event.target.closest(".card-image");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    show(link.closest(".card"));
  });
  grid.addEventListener("submit", (event) => {
    const form = event.target.closest(".delete-form");
    if (!form) return;
    event.preventDefault();
    remove(form.closest(".card"));
  });

  $("lightbox-prev").addEventListener("click", () => step(-1));
  $("lightbox-next").addEventListener("click", () => step(1));
  $("lightbox-close").addEventListener("click", () => lightbox.close());
  $("lightbox-delete").addEventListener("click", () => remove(current));
  // On the document, not the dialog: a nav button that just became disabled
  // drops the focus to the body, and the arrows must keep working.
  document.addEventListener("keydown", (event) => {
    if (!lightbox.open || confirmDialog.open) return;
    if (event.key === "ArrowLeft") step(-1);
    else if (event.key === "ArrowRight") step(1);
    else return;
    event.preventDefault();
  });
  lightbox.addEventListener("click", (event) => {
    if (event.target === lightbox || event.target.classList.contains("lightbox-stage")) {
      lightbox.close();
    }
  });
  lightbox.addEventListener("close", () => {
    const link = current?.isConnected ? current.querySelector(".card-image") : null;
    current = null;
    link?.focus();
  });
})();
