// Endless scrolling for a page's #grid: when the "Older images" link comes
// near the screen, the next page of cards is fetched as HTML from the grid's
// data-cards address (with the same query) and appended. The link still works
// without this script.
"use strict";

const paging = (() => {
  const grid = document.getElementById("grid");
  const older = document.getElementById("older");
  const empty = document.getElementById("empty");
  if (!grid || !older || !grid.dataset.cards) return null;

  const start = older.hidden ? new URL(location.href) : new URL(older.href);
  let cursor = older.hidden ? null : start.searchParams.get("before");
  let params = new URLSearchParams(start.search);
  params.delete("before");
  let loading = false;
  let generation = 0; // bumped by reload(): answers for an older query are dropped

  function cardsUrl(before) {
    const query = new URLSearchParams(params);
    if (before) query.set("before", before);
    const tail = query.toString();
    return tail ? `${grid.dataset.cards}?${tail}` : grid.dataset.cards;
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
      const query = new URLSearchParams(params);
      query.set("before", next);
      older.href = `${location.pathname}?${query}`;
    }
  }

  function cards() {
    return [...grid.querySelectorAll(".card")];
  }

  function updateEmpty() {
    if (empty) empty.hidden = cards().length > 0 || Boolean(cursor);
  }

  async function loadMore() {
    if (loading || !cursor) return;
    loading = true;
    const mine = generation;
    try {
      const { cards: more, next } = await fetchCards(cursor);
      if (mine !== generation) return;
      grid.append(...more);
      setCursor(next);
      genvault.hideBanner();
    } catch (error) {
      if (mine === generation) genvault.showBanner(error);
      return;
    } finally {
      loading = false;
    }
    // A tall window may still show the end of the list: keep going.
    if (cursor && older.getBoundingClientRect().top < window.innerHeight + 400) loadMore();
  }

  // Show the first page for another query; false when a newer reload overtook this one.
  async function reload(query) {
    const mine = ++generation;
    params = new URLSearchParams(query);
    loading = false;
    const { cards: first, next } = await fetchCards(null);
    if (mine !== generation) return false;
    grid.replaceChildren(...first);
    setCursor(next);
    updateEmpty();
    genvault.hideBanner();
    return true;
  }

  // After a card is taken away: refill from the next page if the grid ran dry.
  function removed() {
    if (!cards().length && cursor) loadMore();
    updateEmpty();
  }

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

  return {
    cards,
    loadMore,
    reload,
    removed,
    updateEmpty,
    get cursor() {
      return cursor;
    },
  };
})();
