// The Collections page: deleting a collection asks first in a dialog. Creating,
// renaming and making links are plain forms.
"use strict";

(() => {
  const dialog = document.getElementById("confirm-collection");

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest(".delete-collection-form");
    if (!form) return;
    event.preventDefault();
    if (!(await genvault.confirm(dialog))) return;
    const row = form.closest(".collection");
    try {
      await genvault.send(form.action, { confirmed: "yes" });
    } catch (error) {
      genvault.showBanner(error);
      return;
    }
    row.remove();
    genvault.toast("Collection deleted; its images are still in your history");
    if (!document.querySelector(".collection")) location.reload();
  });
})();
