// The history browser's few lines of script: the verify badge once computed, new entries as they are appended
// (the live tail of the API), and a large entry's data on demand. The pages work without it.
"use strict";

function element(tag, attributes, text) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) made.setAttribute(name, value);
  if (text !== undefined) made.textContent = text;
  return made;
}

function jsonTree(value, depth) {
  if (value !== null && typeof value === "object") {
    const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value).sort();
    const node = element("details", depth < 2 ? { class: "node", open: "" } : { class: "node" });
    node.append(element("summary", {}, Array.isArray(value) ? `[${keys.length} items]` : `{${keys.length} keys}`));
    const list = element(Array.isArray(value) ? "ol" : "ul", Array.isArray(value) ? { start: "0" } : {});
    for (const key of keys) {
      const item = element("li");
      if (!Array.isArray(value)) item.append(element("span", { class: "key" }, JSON.stringify(key)), ": ");
      item.append(jsonTree(value[key], depth + 1));
      list.append(item);
    }
    node.append(list);
    return node;
  }
  const kind = value === null ? "null" : typeof value === "boolean" ? "bool" : typeof value === "number" ? "number" : "string";
  return element("span", { class: `scalar scalar-${kind}` }, JSON.stringify(value));
}

async function loadBadge() {
  const badge = document.getElementById("badge");
  if (!badge) return;
  const answer = await fetch(badge.dataset.src);
  badge.innerHTML = answer.ok ? await answer.text() : "<span class=\"badge badge-failed\">✘ could not verify</span>";
  badge.className = "badge";
}

function timelineRow(entry, base) {
  const row = element("tr", { "data-seq": entry.seq, class: "fresh" });
  const seq = element("td", { class: "num" });
  seq.append(element("a", { href: base + entry.seq }, String(entry.seq)));
  const time = element("td");
  time.append(element("time", {}, entry.recorded_at));
  const tags = element("td");
  if (entry.redacted) tags.append(element("span", { class: "tag tag-redacted" }, "redacted"));
  for (const [key, label] of [["imported_from", "imported"], ["cloned_from", "cloned"]]) {
    if (entry.metadata && key in entry.metadata) tags.append(element("span", { class: `tag tag-${label}` }, label));
  }
  row.append(seq, element("td", {}, entry.type), time, element("td", {}, entry.recorded_by || ""),
    element("td", { class: "num" }, String(entry.size)), tags);
  return row;
}

async function followTimeline() {
  const table = document.getElementById("timeline");
  if (!table || !table.dataset.live) return;
  const body = table.tBodies[0];
  let after = Number(table.dataset.after);
  for (;;) {
    const query = new URLSearchParams({ after: String(after), wait: "25", limit: "100" });
    if (table.dataset.type) query.set("type", table.dataset.type);
    try {
      const answer = await fetch(`${table.dataset.live}?${query}`);
      if (!answer.ok) throw new Error(String(answer.status));
      const page = await answer.json();
      for (const entry of page.items) {
        body.querySelector(".empty-row")?.remove();
        body.prepend(timelineRow(entry, table.dataset.entryBase));
        after = entry.seq;
      }
      document.getElementById("live")?.classList.remove("paused");
    } catch (failure) {
      document.getElementById("live")?.classList.add("paused");
      await new Promise((resume) => setTimeout(resume, 3000));
    }
  }
}

function lazyData() {
  const holder = document.getElementById("lazy-data");
  if (!holder) return;
  holder.querySelector("button").addEventListener("click", async () => {
    holder.textContent = "loading…";
    const answer = await fetch(holder.dataset.src);
    const entry = await answer.json();
    holder.replaceChildren(jsonTree(entry.data, 0));
    holder.id = "data";
    holder.className = "json";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  loadBadge();
  followTimeline();
  lazyData();
});
