// Wiring: pick/drop an image, decompose it through the Runware protocol, edit, undo/redo, download.

import * as api from "./api.js";
import { CanvasView } from "./canvas.js";
import { Editor, makeLayer } from "./editor.js";
import { LayerPanel } from "./panel.js";

const $ = (selector) => document.querySelector(selector);
const els = {
  file: $("#file"), model: $("#model"), count: $("#layer-count"), run: $("#run"), progress: $("#progress"),
  cancel: $("#cancel"), undo: $("#undo"), redo: $("#redo"), format: $("#export-format"),
  download: $("#download"), recipe: $("#download-recipe"), message: $("#message"), stage: $("#stage"),
  drop: $("#drop"), canvas: $("#canvas"), layers: $("#layers"), tools: $("#tools"), selectedName: $("#selected-name"),
};

const editor = new Editor(update);
const view = new CanvasView(els.canvas, editor, commit);
const panel = new LayerPanel(els.layers, editor, view, commit);
const session = { dataURI: null, imageUUID: null, fileName: "image", decomposed: false, controller: null, taskUUID: null };

// --- messages -------------------------------------------------------------------------------------

let messageTimer = null;
function showMessage(text, kind = "error") {
  els.message.hidden = false;
  els.message.className = `message${kind === "info" ? " info" : ""}`;
  els.message.setAttribute("role", kind === "info" ? "status" : "alert");
  els.message.querySelector(".text").textContent = text;
  clearTimeout(messageTimer);
  if (kind === "info") messageTimer = setTimeout(() => { els.message.hidden = true; }, 5000);
}
els.message.querySelector(".close").addEventListener("click", () => { els.message.hidden = true; });

function reportError(err) {
  if (err && err.name === "AbortError") return;
  showMessage(err instanceof api.ServerError ? err.message : `Unexpected error: ${err && err.message ? err.message : err}`);
}

// --- state → screen -------------------------------------------------------------------------------

function update() {
  const hasLayers = editor.layers.length > 0;
  els.drop.hidden = hasLayers;
  els.canvas.hidden = !hasLayers;
  els.stage.classList.toggle("busy", editor.busy);
  els.undo.disabled = !editor.past.length || editor.busy;
  els.redo.disabled = !editor.future.length || editor.busy;
  els.download.disabled = !session.decomposed || editor.busy;
  els.recipe.disabled = !session.decomposed;
  const selected = editor.selected !== null ? editor.layers[editor.selected] : null;
  els.tools.hidden = !session.decomposed || !selected;
  if (selected) els.selectedName.textContent = selected.name;
  for (const button of els.tools.querySelectorAll("button")) button.disabled = editor.busy;
  view.enabled = session.decomposed;
  if (session.decomposed) panel.render();
  else els.layers.replaceChildren();
  view.render();
}

async function commit(op) {
  try {
    return await editor.commit(op);
  } catch (err) {
    reportError(err);
    return false;
  }
}

// --- input image ----------------------------------------------------------------------------------

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function chooseFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { showMessage(`${file.name} is not an image.`); return; }
  cancelRun();  // a run for the previous picture is no longer wanted
  try {
    session.dataURI = await readFile(file);
    session.imageUUID = null;
    session.fileName = file.name.replace(/\.[^.]+$/, "") || "image";
    session.decomposed = false;
    await editor.load([{ src: session.dataURI, name: "original (not decomposed yet)" }]);
    editor.select(null);
    els.run.disabled = false;
    showMessage(`${file.name} loaded. Choose a model and a layer count, then Decompose.`, "info");
  } catch (err) {
    showMessage(`Cannot open ${file.name}: the browser could not decode it.`);
  }
}

els.file.addEventListener("change", () => chooseFile(els.file.files[0]));
els.stage.addEventListener("dragover", (e) => { e.preventDefault(); els.stage.classList.add("dragover"); });
els.stage.addEventListener("dragleave", () => els.stage.classList.remove("dragover"));
els.stage.addEventListener("drop", (e) => {
  e.preventDefault();
  els.stage.classList.remove("dragover");
  if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
});

// --- decomposition ----------------------------------------------------------------------------------

function setProgress(fraction, seconds, stage) {
  const fill = els.progress.querySelector(".fill");
  const track = els.progress.querySelector(".track");
  els.progress.classList.toggle("indeterminate", fraction === null);
  fill.style.width = fraction === null ? "" : `${Math.round(fraction * 100)}%`;
  if (fraction === null) track.removeAttribute("aria-valuenow");
  else track.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  els.progress.querySelector(".label").textContent = `${stage} ${seconds.toFixed(1)} s`;
}

/** Stop the running decomposition: the server's task (taskCancel), then our polling. */
function cancelRun() {
  if (!session.controller) return;
  // The task may have finished meanwhile; the server then has nothing to stop, which is fine.
  if (session.taskUUID) api.cancel(session.taskUUID).catch(() => {});
  session.controller.abort();
}

async function run() {
  if (!session.dataURI) return;
  const controller = new AbortController();
  session.controller = controller;
  const layers = Number(els.count.value);
  els.run.disabled = true;
  els.progress.hidden = false;
  setProgress(null, 0, "Uploading…");
  const started = performance.now();
  try {
    if (!session.imageUUID) session.imageUUID = await api.upload(session.dataURI, controller.signal);
    session.taskUUID = api.uuid();
    const item = await api.decompose({
      taskUUID: session.taskUUID, imageUUID: session.imageUUID, model: els.model.value, layers, signal: controller.signal,
      onProgress: (fraction, seconds) => setProgress(fraction, seconds, "Decomposing…"),
    });
    setProgress(1, (performance.now() - started) / 1000, "Loading layers…");
    if (!item.layers) throw new api.ServerError("The server returned no layers (is it a strata server?).", "noLayers");
    session.decomposed = true;
    await editor.load(item.layers.map((layer) => ({ src: layer.imageDataURI, name: layer.name })));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    showMessage(`Decomposed into ${item.layers.length} layers in ${seconds} s. Click a layer on the canvas or in the list to edit it.`, "info");
  } catch (err) {
    if (err && err.name === "AbortError") showMessage("Cancelled. The picture was left as it was.", "info");
    else reportError(err);
  } finally {
    session.controller = null;
    session.taskUUID = null;
    els.progress.hidden = true;
    els.run.disabled = !session.dataURI;
  }
}

els.run.addEventListener("click", run);
els.cancel.addEventListener("click", cancelRun);

// --- tools ----------------------------------------------------------------------------------------

const hue = $("#hue");
hue.addEventListener("input", () => { hue.nextElementSibling.textContent = `${hue.value}°`; });

const actions = {
  raise: (i) => i < editor.layers.length - 1 && commit({ op: "reorder", layer: i, to: i + 1 }),
  lower: (i) => i > 0 && commit({ op: "reorder", layer: i, to: i - 1 }),
  duplicate: (i) => commit({ op: "duplicate", layer: i }),
  merge: (i) => (i > 0 ? commit({ op: "mergeDown", layer: i }) : showMessage("The bottom layer has nothing below it to merge into.")),
  delete: (i) => (editor.layers.length > 1 ? commit({ op: "delete", layer: i }) : showMessage("The last layer cannot be deleted.")),
  hue: (i) => commit({ op: "hueShift", layer: i, degrees: Number(hue.value) }),
  tint: (i) => commit({ op: "tint", layer: i, color: $("#tint").value, strength: Number($("#tint-strength").value) / 100 }),
  adjust: (i) => commit({
    op: "brightnessContrast", layer: i,
    brightness: Number($("#brightness").value) / 100, contrast: Number($("#contrast").value) / 100,
  }),
  transform: async (i) => {
    const factor = Number($("#scale-value").value) / 100;
    const degrees = Number($("#rotate-value").value);
    if (factor > 0 && factor !== 1) await commit({ op: "scale", layer: i, sx: factor });
    if (degrees) await commit({ op: "rotate", layer: editor.selected, degrees });
  },
  split: async (i) => {
    const engine = els.model.selectedOptions[0].dataset.engine;
    const k = Number($("#split-count").value);
    const name = editor.layers[i].name;
    showMessage(`Decomposing “${name}” into ${k} layers…`, "info");
    if (await commit({ op: "decompose", layer: i, layers: k, engine })) {
      showMessage(`“${name}” is now ${k} layers; the picture is unchanged.`, "info");
    }
  },
};

els.tools.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button || editor.selected === null) return;
  actions[button.dataset.action](editor.selected);
});

// --- undo / redo / downloads -------------------------------------------------------------------------

$("#api-key").addEventListener("click", () => {
  const key = prompt("API key for this server (leave empty for none):", localStorage.getItem("strata.apiKey") || "");
  if (key === null) return;
  if (key.trim()) localStorage.setItem("strata.apiKey", key.trim());
  else localStorage.removeItem("strata.apiKey");
});

els.undo.addEventListener("click", () => editor.undo());
els.redo.addEventListener("click", () => editor.redo());

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

els.download.addEventListener("click", async () => {
  els.download.disabled = true;
  try {
    // The server replays the whole recipe on the decomposed layers: one source of truth for pixels.
    const { blob, name } = await api.exportFile(editor.base, editor.recipe(), els.format.value);
    save(blob, `${session.fileName}-${name}`);
  } catch (err) {
    reportError(err);
  } finally {
    update();
  }
});

els.recipe.addEventListener("click", () => {
  const text = `${JSON.stringify(editor.recipe(), null, 2)}\n`;
  save(new Blob([text], { type: "application/json" }), `${session.fileName}-edits.json`);
});

// --- keyboard -------------------------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  const typing = e.target.closest("input:not([type=range]), select, textarea");
  const ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && !typing && e.key.toLowerCase() === "z") { e.preventDefault(); (e.shiftKey ? editor.redo() : editor.undo()); return; }
  if (ctrl && !typing && e.key.toLowerCase() === "y") { e.preventDefault(); editor.redo(); return; }
  if (typing || e.target.closest("input[type=range]") || !session.decomposed) return;
  const index = editor.selected;
  if (e.key === "Escape") { editor.select(null); return; }
  if (index === null) return;
  const step = e.shiftKey ? 10 : 1;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
    e.preventDefault();
    actions[e.key === "ArrowUp" ? "raise" : "lower"](index);
  } else if (moves[e.key]) {
    e.preventDefault();
    view.nudgeBy(...moves[e.key]);
  } else if (e.key === "Delete" || e.key === "Backspace") {
    e.preventDefault();
    actions.delete(index);
  } else if (e.key.toLowerCase() === "h") {
    commit({ op: "visibility", layer: index, visible: editor.layers[index].hidden });
  }
});

window.addEventListener("resize", () => view.render());
update();

// For the browser tests and the console: the live state (read-only use).
window.strata = { editor, session, makeLayer };
