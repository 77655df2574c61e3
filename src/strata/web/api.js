// The server's public API: the Runware task protocol at /v1 (REST) and the editing endpoints.

export class ServerError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

function headers() {
  const key = localStorage.getItem("strata.apiKey");
  const h = { "Content-Type": "application/json" };
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function post(path, body, signal) {
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ServerError("Cannot reach the strata server. Is `strata serve` still running?", "network");
  }
  return response;
}

async function errorFrom(response) {
  let payload = null;
  try { payload = await response.json(); } catch { /* not JSON: fall through */ }
  const first = payload && payload.errors && payload.errors[0];
  if (first) return new ServerError(describe(first), first.code);
  if (response.status === 413) return new ServerError("The request is too large for this server.", "payloadTooLarge");
  return new ServerError(`The server answered ${response.status} ${response.statusText}.`, "http");
}

export function describe(error) {
  const hints = {
    invalidApiKey: " Set an API key with the key button (this server requires one).",
    missingApiKey: " Set an API key with the key button (this server requires one).",
    modelUnavailable: "",
    serviceUnavailable: " Try again in a moment.",
  };
  return `${error.message}${hints[error.code] || ""}`;
}

/** Send Runware tasks to POST /v1; returns the data items, throws the first error. */
export async function tasks(list, signal) {
  const response = await post("/v1", list, signal);
  let payload;
  try { payload = await response.json(); } catch { throw await errorFrom(response); }
  if (payload.errors && payload.errors.length) {
    throw new ServerError(describe(payload.errors[0]), payload.errors[0].code);
  }
  return payload.data || [];
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** imageUpload: the picture once, referenced by its imageUUID afterwards. */
export async function upload(dataURI, signal) {
  const [item] = await tasks([{ taskType: "imageUpload", taskUUID: uuid(), image: dataURI }], signal);
  return item.imageUUID;
}

/**
 * imageInference with async delivery, polled with getResponse until it finishes.
 * onProgress(fraction|null, seconds) is called on every poll; fraction is null when the server gives none.
 */
export async function decompose({ taskUUID = uuid(), imageUUID, model, layers, onProgress, signal }) {
  await tasks([{
    taskType: "imageInference", taskUUID, model, deliveryMethod: "async", numberResults: 1,
    inputs: { referenceImages: [imageUUID] }, settings: { layers },
    outputType: "dataURI", outputFormat: "PNG",
  }], signal);
  const started = performance.now();
  for (;;) {
    const items = await tasks([{ taskType: "getResponse", taskUUID }], signal);
    const done = items.find((item) => item.status === "success" && item.imageUUID);
    if (done) return done;
    const progress = items.map((item) => item.progress).find((p) => typeof p === "number");
    onProgress(progress ?? null, (performance.now() - started) / 1000);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 300);
      signal.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("cancelled", "AbortError")); }, { once: true });
    });
  }
}

/** taskCancel (a strata extension): stop a queued or running task; resolves once it has stopped. */
export async function cancel(taskUUID) {
  const [item] = await tasks([{ taskType: "taskCancel", taskUUID }]);
  return item;
}

function layerBody(layers) {
  return layers.map((l) => ({ image: l.src, name: l.name, hidden: l.hidden, opacity: l.opacity }));
}

/** POST /v1/edit/apply: the edited layers; unchanged ones come back as {from: index}. */
export async function apply(layers, operations) {
  const response = await post("/v1/edit/apply", { layers: layerBody(layers), recipe: { version: 1, operations } });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** POST /v1/edit/export: the file (Blob) and its name. */
export async function exportFile(layers, recipe, format) {
  const response = await post("/v1/edit/export", { layers: layerBody(layers), recipe, format });
  if (!response.ok) throw await errorFrom(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), name: match ? match[1] : `edited.${format}` };
}
