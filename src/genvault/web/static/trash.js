// The Trash page: restore an image, delete one for good, or empty the whole
// trash, each deleting step after a confirm dialog. Without this script the
// same forms work through a confirm page.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const grid = $("grid");
  const emptyForm = $("empty-trash-form");

  function gone(card) {
    card.remove();
    paging.removed();
    emptyForm.hidden = paging.cards().length === 0 && !paging.cursor;
  }

  async function restore(card) {
    try {
      await genvault.send(`/trash/${card.dataset.id}/restore`);
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    gone(card);
    genvault.toast("Image restored to your history");
  }

  async function forget(card) {
    if (!(await genvault.confirm($("confirm-forget")))) return;
    try {
      await genvault.send(`/trash/${card.dataset.id}/delete`, { confirmed: "yes" });
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    gone(card);
    genvault.toast("Image deleted for good");
  }

  grid.addEventListener("submit", (event) => {
    const card = event.target.closest(".card");
    if (event.target.closest(".restore-form")) {
      event.preventDefault();
      restore(card);
    } else if (event.target.closest(".forget-form")) {
      event.preventDefault();
      forget(card);
    }
  });

  emptyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!(await genvault.confirm($("confirm-empty")))) return;
    let answer;
    try {
      answer = await genvault.send("/trash/empty", { confirmed: "yes" });
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    grid.replaceChildren();
    await paging.reload(new URLSearchParams());
    emptyForm.hidden = true;
    genvault.toast(answer.deleted === 1 ? "1 image deleted for good" : `${answer.deleted} images deleted for good`);
  });
})();
