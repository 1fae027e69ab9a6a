// Deleting voices the safe way the API offers: the first DELETE (without confirm) deletes
// nothing and answers 400 with the list it would delete; the dialog shows that list, and
// only the user's confirmation sends it again with confirm=true.

import { call } from "./api.js";
import { $, clearErrors, el, showError } from "./ui.js";

const SHOWN = 200;

async function preview(target, query) {
  try {
    await call("DELETE", target, { query });
    throw new Error("the service deleted without confirmation");
  } catch (error) {
    if (error.status === 400 && error.body?.would_delete) return error.body;
    throw error;
  }
}

// Resolves with the API's DeletedVoices once confirmed and done, or null when cancelled.
export async function confirmDeletion(target, query) {
  const dialog = $("#voice-delete-dialog");
  const form = $("#voice-delete-form");
  clearErrors(form);
  let plan;
  try {
    plan = await preview(target, query);
  } catch (error) {
    showError($("#voice-export"), error);
    return null;
  }
  $("#voice-delete-summary").textContent = plan.count ? `${plan.count} voices will be deleted, with their audio and cached conditioning:` : "No voice matches: nothing to delete.";
  $("#voice-delete-list").replaceChildren(...plan.would_delete.slice(0, SHOWN).map((name) => el("li", { text: name })),
    ...(plan.count > SHOWN ? [el("li", { text: `…and ${plan.count - SHOWN} more` })] : []));
  $("#voice-delete-confirm").disabled = !plan.count;
  $("#voice-delete-confirm").textContent = `Delete ${plan.count} voices`;
  dialog.showModal();
  return new Promise((resolve) => {
    const cancel = () => { dialog.close(); finish(null); };
    const submit = async (event) => {
      event.preventDefault();
      try {
        const deleted = await (await call("DELETE", target, { query: { ...query, confirm: true } })).json();
        dialog.close();
        finish(deleted);
      } catch (error) {
        showError(form, error);
      }
    };
    const finish = (value) => {
      form.removeEventListener("submit", submit);
      $("#voice-delete-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("cancel", cancel);
      resolve(value);
    };
    form.addEventListener("submit", submit);
    $("#voice-delete-cancel").addEventListener("click", cancel);
    dialog.addEventListener("cancel", cancel);
  });
}
