// The editing state: the decomposed layers, the recipe recorded on them, the current layers, undo/redo.
// Every edit is a recipe operation applied by the server (/v1/edit/apply), so what the page shows and
// what an export contains come from the same code; the page only previews drags before committing.

import * as api from "./api.js";

const HISTORY_LIMIT = 100;

export async function loadImage(src) {
  const img = new Image();
  img.src = src;
  await img.decode();
  return img;
}

/** A page layer: pixels (data URI + decoded image) plus name, visibility, opacity and a cached alpha box. */
export async function makeLayer({ src, name, hidden = false, opacity = 1 }) {
  return { src, name, hidden, opacity, img: await loadImage(src), alpha: null, bbox: undefined };
}

/** Alpha channel and visible box of a layer, computed once per image. */
export function alphaOf(layer) {
  if (layer.alpha) return layer;
  const { naturalWidth: w, naturalHeight: h } = layer.img;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(layer.img, 0, 0);
  const data = ctx.getImageData(0, 0, w, h).data;
  const alpha = new Uint8Array(w * h);
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = data[(y * w + x) * 4 + 3];
      alpha[y * w + x] = a;
      if (a) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
    }
  }
  layer.alpha = alpha;
  layer.width = w;
  layer.bbox = x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
  return layer;
}

export class Editor {
  constructor(onChange) {
    this.onChange = onChange;
    this.reset();
  }

  reset() {
    this.base = [];      // layers as decomposed: what the recipe is recorded on
    this.layers = [];    // layers now
    this.ops = [];       // recipe operations applied so far
    this.past = [];      // undo snapshots {layers, ops, selected}
    this.future = [];
    this.selected = null;
    this.busy = false;
  }

  async load(items) {
    this.reset();
    this.base = await Promise.all(items.map((item) => makeLayer(item)));
    this.layers = [...this.base];
    this.selected = this.layers.length > 1 ? this.layers.length - 1 : 0;
    this.onChange();
  }

  get size() {
    const first = this.layers[0];
    return first ? { width: first.img.naturalWidth, height: first.img.naturalHeight } : null;
  }

  recipe() {
    const { width, height } = this.base.length ? {
      width: this.base[0].img.naturalWidth, height: this.base[0].img.naturalHeight,
    } : { width: 1, height: 1 };
    return { version: 1, source: { width, height, layers: this.base.length }, operations: [...this.ops] };
  }

  select(index) {
    this.selected = index === null || index < 0 || index >= this.layers.length ? null : index;
    this.onChange();
  }

  /** Apply one operation through the server; on success it becomes part of the recipe and of undo. */
  async commit(op) {
    if (this.busy) return false;
    this.busy = true;
    this.onChange();
    try {
      const result = await api.apply(this.layers, [op]);
      const layers = await Promise.all(result.layers.map(async (item) => {
        if (item.from !== undefined) {
          const kept = this.layers[item.from];
          if (kept.hidden === item.hidden && kept.opacity === item.opacity && kept.name === item.name) return kept;
          return { ...kept, hidden: item.hidden, opacity: item.opacity, name: item.name };
        }
        return makeLayer({ src: item.image, name: item.name, hidden: item.hidden, opacity: item.opacity });
      }));
      this.past.push({ layers: this.layers, ops: this.ops, selected: this.selected });
      if (this.past.length > HISTORY_LIMIT) this.past.shift();
      this.future = [];
      this.layers = layers;
      this.ops = [...this.ops, op];
      this.selected = this.selectionAfter(op, layers.length);
      return true;
    } finally {
      this.busy = false;
      this.onChange();
    }
  }

  selectionAfter(op, count) {
    const clamp = (i) => (count ? Math.max(0, Math.min(count - 1, i)) : null);
    switch (op.op) {
      case "delete": return clamp(op.layer >= count ? count - 1 : op.layer);
      case "reorder": return clamp(op.to);
      case "duplicate": return clamp(op.layer + 1);
      case "mergeDown": return clamp(op.layer - 1);
      case "decompose": return clamp(op.layer + op.layers - 1);
      default: return clamp(op.layer);
    }
  }

  undo() {
    if (!this.past.length || this.busy) return;
    this.future.push({ layers: this.layers, ops: this.ops, selected: this.selected });
    Object.assign(this, this.past.pop());
    this.onChange();
  }

  redo() {
    if (!this.future.length || this.busy) return;
    this.past.push({ layers: this.layers, ops: this.ops, selected: this.selected });
    Object.assign(this, this.future.pop());
    this.onChange();
  }
}
