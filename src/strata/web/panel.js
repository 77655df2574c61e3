// The layer stack panel: top layer first; select, show/hide, opacity, drag (or Raise/Lower) to reorder.

export class LayerPanel {
  constructor(list, editor, view, commit) {
    this.list = list;
    this.editor = editor;
    this.view = view;
    this.commit = commit;
    this.dragged = null;
  }

  render() {
    const { layers, selected } = this.editor;
    this.list.replaceChildren(...layers.map((layer, index) => this.row(layer, index, index === selected)).reverse());
  }

  row(layer, index, selected) {
    const li = document.createElement("li");
    li.className = `layer${selected ? " selected" : ""}${layer.hidden ? " hidden-layer" : ""}`;
    li.draggable = true;
    li.dataset.index = String(index);
    const percent = Math.round(layer.opacity * 100);
    li.innerHTML = `
      <span class="grip" aria-hidden="true">⋮⋮</span>
      <img class="thumb" alt="">
      <button type="button" class="name" aria-pressed="${selected}"></button>
      <button type="button" class="eye" aria-pressed="${!layer.hidden}">${layer.hidden ? "○" : "◉"}</button>
      <label class="opacity">Opacity <input type="range" min="0" max="100" value="${percent}"><output>${percent}%</output></label>`;
    li.querySelector(".thumb").src = layer.src;
    const name = li.querySelector(".name");
    name.textContent = layer.name;
    name.title = `${layer.name} (layer ${index})`;
    name.addEventListener("click", () => this.editor.select(index));
    const eye = li.querySelector(".eye");
    eye.setAttribute("aria-label", `${layer.hidden ? "Show" : "Hide"} ${layer.name}`);
    eye.title = layer.hidden ? "Show layer" : "Hide layer";
    eye.addEventListener("click", () => this.commit({ op: "visibility", layer: index, visible: layer.hidden }));
    const slider = li.querySelector(".opacity input");
    slider.setAttribute("aria-label", `Opacity of ${layer.name}`);
    slider.addEventListener("input", () => {
      li.querySelector(".opacity output").textContent = `${slider.value}%`;
      this.view.opacityPreview = { index, value: slider.value / 100 };
      this.view.render();
    });
    slider.addEventListener("change", () => {
      this.commit({ op: "opacity", layer: index, opacity: slider.value / 100 }).finally(() => {
        this.view.opacityPreview = null;
        this.view.render();
      });
    });
    this.dragAndDrop(li, index);
    return li;
  }

  dragAndDrop(li, index) {
    li.addEventListener("dragstart", (e) => {
      this.dragged = index;
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", String(index));
    });
    li.addEventListener("dragover", (e) => {
      if (this.dragged === null) return;
      e.preventDefault();
      const above = e.offsetY < li.offsetHeight / 2;
      li.classList.toggle("drop-before", above);
      li.classList.toggle("drop-after", !above);
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop-before", "drop-after"));
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      const above = li.classList.contains("drop-before");
      li.classList.remove("drop-before", "drop-after");
      const from = this.dragged;
      this.dragged = null;
      if (from === null || from === index) return;
      // The list shows the top layer first: dropping above a row puts the layer above it in the stack.
      const without = index - (from < index ? 1 : 0);
      const to = above ? without + 1 : without;
      if (to !== from) this.commit({ op: "reorder", layer: from, to });
    });
    li.addEventListener("dragend", () => { this.dragged = null; });
  }
}
