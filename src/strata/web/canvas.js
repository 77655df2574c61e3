// The canvas: draws the visible layers back to front, the selected layer's box and handles, and turns
// drags into recipe operations (move / scale / rotate). During a drag the layer is previewed with a
// canvas transform; on release the operation is committed and the server's pixels replace the preview.

import { alphaOf } from "./editor.js";

const HANDLE_PX = 7;      // handle half-size on screen, in CSS pixels
const ROTATE_PX = 26;     // distance of the rotate handle above the box, in CSS pixels
const NUDGE_IDLE_MS = 400;

export class CanvasView {
  constructor(canvas, editor, commit) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.editor = editor;
    this.commit = commit;
    this.drag = null;
    this.nudge = null;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => { this.drag = null; this.render(); });
  }

  /** Canvas pixels per CSS pixel (the canvas is shown scaled to fit). */
  get ratio() {
    const rect = this.canvas.getBoundingClientRect();
    return rect.width ? this.canvas.width / rect.width : 1;
  }

  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: (e.clientX - rect.left) * this.ratio, y: (e.clientY - rect.top) * this.ratio };
  }

  render() {
    const size = this.editor.size;
    if (!size) return;
    if (this.canvas.width !== size.width || this.canvas.height !== size.height) {
      this.canvas.width = size.width;
      this.canvas.height = size.height;
    }
    this.fit();
    const ctx = this.ctx;
    ctx.clearRect(0, 0, size.width, size.height);
    this.editor.layers.forEach((layer, index) => {
      if (layer.hidden) return;
      ctx.save();
      const preview = this.opacityPreview;
      ctx.globalAlpha = preview && preview.index === index ? preview.value : layer.opacity;
      this.applyPreview(ctx, index);
      ctx.drawImage(layer.img, 0, 0);
      ctx.restore();
    });
    this.drawSelection();
  }

  /** Show the canvas as large as the stage allows (small pictures up to 3x), keeping its aspect. */
  fit() {
    const stage = this.canvas.parentElement;
    const room = { w: stage.clientWidth - 32, h: stage.clientHeight - 32 };
    if (room.w <= 0 || room.h <= 0) return;
    const scale = Math.min(room.w / this.canvas.width, room.h / this.canvas.height, 3);
    this.canvas.style.width = `${Math.floor(this.canvas.width * scale)}px`;
    this.canvas.style.height = `${Math.floor(this.canvas.height * scale)}px`;
  }

  /** The transform of the drag (or pending nudge) in progress, for the selected layer. */
  applyPreview(ctx, index) {
    const d = this.drag || this.settling;
    if (this.nudge && this.nudge.layer === index) ctx.translate(this.nudge.dx, this.nudge.dy);
    if (!d || d.layer !== index) return;
    if (d.mode === "move") ctx.translate(d.dx, d.dy);
    if (d.mode === "scale" || d.mode === "rotate") {
      ctx.translate(d.cx, d.cy);
      if (d.mode === "scale") ctx.scale(d.factor, d.factor);
      else ctx.rotate((d.degrees * Math.PI) / 180);
      ctx.translate(-d.cx, -d.cy);
    }
  }

  selectedBox() {
    const index = this.editor.selected;
    if (index === null || !this.editor.layers[index]) return null;
    return alphaOf(this.editor.layers[index]).bbox;
  }

  /** Corner handles and the rotate handle above the box, kept inside the canvas: a handle drawn past
   * the canvas edge would be clipped, and a press there would miss the canvas, so it could not be grabbed. */
  handles(box) {
    const r = this.ratio;
    const inside = (v, size) => Math.min(Math.max(v, HANDLE_PX * r), size - HANDLE_PX * r);
    return {
      corners: [[box.x, box.y], [box.x + box.w, box.y], [box.x, box.y + box.h], [box.x + box.w, box.y + box.h]],
      rotate: [inside(box.x + box.w / 2, this.canvas.width), inside(box.y - ROTATE_PX * r, this.canvas.height)],
    };
  }

  drawSelection() {
    const box = this.selectedBox();
    if (!box) return;
    const ctx = this.ctx;
    const r = this.ratio;
    ctx.save();
    this.applyPreview(ctx, this.editor.selected);
    ctx.lineWidth = 1.5 * r;
    ctx.strokeStyle = "#4c9aff";
    ctx.setLineDash([6 * r, 4 * r]);
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.setLineDash([]);
    const { corners, rotate } = this.handles(box);
    ctx.beginPath();
    ctx.moveTo(box.x + box.w / 2, box.y);
    ctx.lineTo(rotate[0], rotate[1]);
    ctx.stroke();
    ctx.fillStyle = "#ffffff";
    for (const [x, y] of corners) {
      ctx.fillRect(x - HANDLE_PX * r, y - HANDLE_PX * r, 2 * HANDLE_PX * r, 2 * HANDLE_PX * r);
      ctx.strokeRect(x - HANDLE_PX * r, y - HANDLE_PX * r, 2 * HANDLE_PX * r, 2 * HANDLE_PX * r);
    }
    ctx.beginPath();
    ctx.arc(rotate[0], rotate[1], HANDLE_PX * r, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    ctx.restore();
  }

  /** What is under the pointer: a handle of the selection, else the top-most visible layer there. */
  hit(p) {
    const box = this.selectedBox();
    const reach = (HANDLE_PX + 3) * this.ratio;
    if (box) {
      const { corners, rotate } = this.handles(box);
      if (Math.hypot(p.x - rotate[0], p.y - rotate[1]) <= reach) return { mode: "rotate" };
      if (corners.some(([x, y]) => Math.abs(p.x - x) <= reach && Math.abs(p.y - y) <= reach)) return { mode: "scale" };
    }
    const layers = this.editor.layers;
    const x = Math.floor(p.x), y = Math.floor(p.y);
    for (let i = layers.length - 1; i >= 0; i--) {
      if (layers[i].hidden) continue;
      const layer = alphaOf(layers[i]);
      if (x >= 0 && y >= 0 && x < layer.width && layer.alpha[y * layer.width + x] > 16) return { mode: "move", layer: i };
    }
    if (box && p.x >= box.x && p.x <= box.x + box.w && p.y >= box.y && p.y <= box.y + box.h) return { mode: "move" };
    return null;
  }

  down(e) {
    if (!this.enabled || this.editor.busy || !this.editor.layers.length) return;
    this.flushNudge();
    const p = this.point(e);
    const target = this.hit(p);
    if (!target) { this.editor.select(null); return; }
    if (target.layer !== undefined && target.layer !== this.editor.selected) this.editor.select(target.layer);
    const box = this.selectedBox();
    if (!box) return;
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = {
      mode: target.mode, layer: this.editor.selected, start: p, dx: 0, dy: 0, factor: 1, degrees: 0,
      cx: box.x + box.w / 2, cy: box.y + box.h / 2,
    };
  }

  move(e) {
    const d = this.drag;
    const p = this.point(e);
    if (!d) {
      const target = this.enabled && this.editor.layers.length ? this.hit(p) : null;
      this.canvas.style.cursor = !target ? "default" : target.mode === "move" ? "move" : target.mode === "scale" ? "nwse-resize" : "grab";
      return;
    }
    if (d.mode === "move") { d.dx = p.x - d.start.x; d.dy = p.y - d.start.y; }
    if (d.mode === "scale") {
      const from = Math.hypot(d.start.x - d.cx, d.start.y - d.cy) || 1;
      d.factor = Math.min(20, Math.max(0.05, Math.hypot(p.x - d.cx, p.y - d.cy) / from));
    }
    if (d.mode === "rotate") {
      const angle = Math.atan2(p.y - d.cy, p.x - d.cx) - Math.atan2(d.start.y - d.cy, d.start.x - d.cx);
      let degrees = ((angle * 180) / Math.PI + 540) % 360 - 180;
      if (e.shiftKey) degrees = Math.round(degrees / 15) * 15;
      d.degrees = degrees;
    }
    this.render();
  }

  up() {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    const layer = d.layer;
    let op = null;
    if (d.mode === "move" && (Math.round(d.dx) || Math.round(d.dy))) {
      op = { op: "move", layer, dx: Math.round(d.dx), dy: Math.round(d.dy) };
    } else if (d.mode === "scale" && Math.abs(d.factor - 1) > 0.002) {
      op = { op: "scale", layer, sx: Number(d.factor.toFixed(4)), cx: d.cx, cy: d.cy };
    } else if (d.mode === "rotate" && Math.abs(d.degrees) > 0.05) {
      op = { op: "rotate", layer, degrees: Number(d.degrees.toFixed(2)), cx: d.cx, cy: d.cy };
    }
    if (!op) { this.render(); return; }
    // Keep showing the preview until the server's pixels arrive, so the layer does not jump back.
    this.settling = d;
    this.commit(op).finally(() => { this.settling = null; this.render(); });
  }

  /** Arrow keys: move the preview now, commit one move after the keys go quiet. */
  nudgeBy(dx, dy) {
    if (this.editor.selected === null || this.editor.busy) return;
    if (this.nudge && this.nudge.layer !== this.editor.selected) this.flushNudge();
    if (this.editor.busy) return;
    this.nudge = this.nudge || { dx: 0, dy: 0, layer: this.editor.selected };
    this.nudge.dx += dx;
    this.nudge.dy += dy;
    clearTimeout(this.nudge.timer);
    this.nudge.timer = setTimeout(() => this.flushNudge(), NUDGE_IDLE_MS);
    this.render();
  }

  flushNudge() {
    const n = this.nudge;
    if (!n) return;
    clearTimeout(n.timer);
    if (!n.dx && !n.dy) { this.nudge = null; return; }
    this.commit({ op: "move", layer: n.layer, dx: n.dx, dy: n.dy }).finally(() => { this.nudge = null; this.render(); });
  }
}
