// The History page: filters that apply as you type or choose, stars, tags,
// collections and public links, a lightbox with arrow keys, and moving images
// to the trash after a confirm dialog. Cards come from the server as HTML (see
// paging.js), the same markup the page was rendered with.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const grid = $("grid");
  const form = $("filters");
  const search = $("search");
  const lightbox = $("lightbox");
  const confirmDialog = $("confirm-delete");
  let filterTimer = 0;
  let current = null; // the card shown in the lightbox

  // -- filters -----------------------------------------------------------------
  function filterQuery() {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const text = String(value).trim();
      if (text && !(name === "sort" && text === "newest")) query.append(name, text);
    }
    return query;
  }

  async function applyFilters() {
    const query = filterQuery();
    const narrowed = [...query.keys()].some((name) => name !== "sort");
    try {
      if (!(await paging.reload(query))) return; // a newer change has started
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    $("empty-search").hidden = !narrowed;
    $("empty-all").hidden = narrowed;
    $("filter-clear").hidden = query.toString() === "";
    const tail = query.toString();
    history.replaceState(null, "", tail ? `/history?${tail}` : "/history");
  }

  function applySoon(delay) {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, delay);
  }

  $("filter-apply").hidden = true; // the filters apply themselves
  search.addEventListener("input", () => applySoon(250));
  $("filter-model").addEventListener("input", () => applySoon(400));
  for (const id of ["filter-from", "filter-to", "filter-sort", "filter-starred"]) {
    $(id).addEventListener("change", () => applySoon(0));
  }
  // The heading and the lightbox follow the collection: load that view.
  $("filter-collection").addEventListener("change", () => {
    const query = filterQuery();
    location.assign(query.toString() ? `/history?${query}` : "/history");
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applySoon(0);
  });

  // -- a card's state ------------------------------------------------------------
  function tagsOf(card) {
    return JSON.parse(card.dataset.tags || "[]");
  }

  function tagLink(tag) {
    const link = document.createElement("a");
    link.className = "tag";
    link.href = `/history?${new URLSearchParams({ tag })}`;
    link.textContent = tag;
    return link;
  }

  function setTags(card, tags) {
    tags.sort();
    card.dataset.tags = JSON.stringify(tags);
    const list = card.querySelector(".card-tags");
    list.replaceChildren(
      ...tags.map((tag) => {
        const item = document.createElement("li");
        item.append(tagLink(tag));
        return item;
      }),
    );
    list.hidden = tags.length === 0;
    if (current === card) showTags(card);
  }

  function setStarred(card, starred) {
    card.dataset.starred = String(starred);
    const button = card.querySelector(".star-form button");
    button.setAttribute("aria-pressed", String(starred));
    card.querySelector('.star-form input[name="starred"]').value = starred ? "0" : "1";
    if (current === card) $("lightbox-star").setAttribute("aria-pressed", String(starred));
  }

  async function toggleStar(card) {
    const starred = card.dataset.starred !== "true";
    try {
      await genvault.send(`/generations/${card.dataset.id}/star`, { starred: starred ? "1" : "0" });
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    setStarred(card, starred);
    genvault.toast(starred ? "Starred" : "Star removed");
  }

  // -- lightbox ----------------------------------------------------------------
  function showTags(card) {
    const list = $("lightbox-tags");
    list.replaceChildren(
      ...tagsOf(card).map((tag) => {
        const item = document.createElement("li");
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "tag-remove";
        remove.dataset.tag = tag;
        remove.setAttribute("aria-label", `Remove tag ${tag}`);
        remove.textContent = "×";
        item.append(tagLink(tag), remove);
        return item;
      }),
    );
    list.hidden = list.children.length === 0;
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
    $("lightbox-star").setAttribute("aria-pressed", card.dataset.starred);
    $("link-made").hidden = true;
    showTags(card);
    const list = paging.cards();
    const index = list.indexOf(card);
    $("lightbox-prev").disabled = index <= 0;
    $("lightbox-next").disabled = index >= list.length - 1 && !paging.cursor;
    if (!lightbox.open) lightbox.showModal();
  }

  async function step(delta) {
    if (!current) return;
    let list = paging.cards();
    let index = list.indexOf(current) + delta;
    if (index >= list.length && paging.cursor) {
      await paging.loadMore();
      list = paging.cards();
    }
    index = Math.max(0, Math.min(index, list.length - 1));
    if (list[index]) show(list[index]);
  }

  // Take a card away (trashed, or out of the collection shown), keeping the lightbox going.
  function drop(card) {
    if (lightbox.open && current === card) {
      const list = paging.cards();
      const index = list.indexOf(card);
      const neighbour = list[index + 1] || list[index - 1];
      card.remove();
      if (neighbour) show(neighbour);
      else lightbox.close();
    } else {
      card.remove();
    }
    paging.removed();
  }

  // -- moving to the trash ---------------------------------------------------------
  async function remove(card) {
    if (!(await genvault.confirm(confirmDialog, "delete"))) return;
    try {
      await genvault.request(`/generations/${card.dataset.id}`, { method: "DELETE" });
    } catch (error) {
      if (error.status === 404) card.remove(); // already gone (deleted elsewhere)
      genvault.showBanner(error);
      return;
    }
    drop(card);
    genvault.toast("Moved to the trash");
  }

  // -- organising from the lightbox --------------------------------------------------
  $("tag-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("tag-input");
    if (!current || !input.value.trim()) return;
    const card = current;
    try {
      const answer = await genvault.send(`/generations/${card.dataset.id}/tags`, { tags: input.value });
      setTags(card, [...new Set([...tagsOf(card), ...answer.tags])]);
      input.value = "";
      genvault.hideBanner();
      genvault.toast(answer.tags.length === 1 ? "Tag added" : "Tags added");
    } catch (error) {
      genvault.showBanner(error);
    }
  });

  $("lightbox-tags").addEventListener("click", async (event) => {
    const button = event.target.closest(".tag-remove");
    if (!button || !current) return;
    const card = current;
    const tag = button.dataset.tag;
    try {
      await genvault.send(`/generations/${card.dataset.id}/untag`, { tag });
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    setTags(card, tagsOf(card).filter((t) => t !== tag));
    genvault.toast(`Tag “${tag}” removed`);
    $("tag-input").focus();
  });

  $("collect-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    const select = $("collect-select");
    try {
      const answer = await genvault.send(`/collections/${select.value}/add`, {
        generation_id: current.dataset.id,
      });
      const name = answer.collection.name;
      genvault.toast(answer.added ? `Added to “${name}”` : `Already in “${name}”`);
    } catch (error) {
      genvault.showBanner(error);
    }
  });

  $("uncollect")?.addEventListener("click", async (event) => {
    if (!current) return;
    const card = current;
    try {
      const answer = await genvault.send(`/collections/${event.currentTarget.dataset.collection}/remove`, {
        generation_id: card.dataset.id,
      });
      genvault.toast(`Removed from “${answer.collection.name}”`);
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    drop(card);
  });

  $("link-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    try {
      const link = await genvault.send("/links", {
        generation_id: current.dataset.id,
        expires: $("link-expires").value,
      });
      $("link-url").value = link.url;
      $("link-until").textContent = link.expires;
      $("link-made").hidden = false;
      $("link-url").select();
    } catch (error) {
      genvault.showBanner(error);
    }
  });

  $("link-copy").addEventListener("click", async () => {
    const input = $("link-url");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      genvault.toast("Link copied");
    } catch {
      genvault.toast("Press Ctrl+C to copy the selected link");
    }
  });

  // -- wiring ------------------------------------------------------------------
  grid.addEventListener("click", (event) => {
    const link = event.target.closest(".card-image");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    show(link.closest(".card"));
  });
  grid.addEventListener("submit", (event) => {
    const card = event.target.closest(".card");
    if (event.target.closest(".delete-form")) {
      event.preventDefault();
      remove(card);
    } else if (event.target.closest(".star-form")) {
      event.preventDefault();
      toggleStar(card);
    }
  });

  $("lightbox-prev").addEventListener("click", () => step(-1));
  $("lightbox-next").addEventListener("click", () => step(1));
  $("lightbox-close").addEventListener("click", () => lightbox.close());
  $("lightbox-delete").addEventListener("click", () => remove(current));
  $("lightbox-star").addEventListener("click", () => toggleStar(current));
  // On the document, not the dialog: a nav button that just became disabled
  // drops the focus to the body, and the arrows must keep working.
  document.addEventListener("keydown", (event) => {
    if (!lightbox.open || confirmDialog.open) return;
    if (event.target.closest("input, select, textarea, summary")) return;
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
