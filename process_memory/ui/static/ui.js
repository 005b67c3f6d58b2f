// The history browser's few lines of script: the verify badge once computed, new rows as entries are appended
// (rendered by the server, ui.timeline_rows), a large entry's data on demand, and the filter boxes of tables of
// records. The pages work without it.
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
    const counted = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    node.append(element("summary", {}, Array.isArray(value) ? `[${counted(keys.length, "item", "items")}]` : `{${counted(keys.length, "key", "keys")}}`));
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

async function followTimeline() {
  // The rows come rendered by the server, as the page's own are (the failure rule, the step's length, the preview).
  const table = document.getElementById("timeline");
  if (!table || !table.dataset.live) return;
  const body = table.tBodies[0];
  let after = Number(table.dataset.after);
  for (;;) {
    const query = new URLSearchParams({ after: String(after), wait: "25" });
    if (table.dataset.type) query.set("type", table.dataset.type);
    try {
      const answer = await fetch(`${table.dataset.live}?${query}`);
      if (!answer.ok) throw new Error(String(answer.status));
      const rows = element("template");
      rows.innerHTML = (await answer.text()).trim();
      const fresh = [...rows.content.querySelectorAll("tr")];
      if (fresh.length) {
        body.querySelector(".empty-row")?.remove();
        for (const row of fresh) row.classList.add("fresh");
        body.prepend(...fresh);
        after = Number(fresh[0].dataset.seq);
        const count = document.getElementById("count");
        if (count) count.textContent = answer.headers.get("X-Instance-Count") || count.textContent;
        loadBadge();  // the badge spoke of fewer entries
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

function copyData() {
  // The entry's data, indented, to the clipboard: the browser offers it only to pages served over HTTPS or from
  // the machine itself, so elsewhere the button says to use the raw JSON instead.
  const button = document.getElementById("copy-data");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!navigator.clipboard) {
      button.textContent = "copying needs HTTPS: use raw JSON";
      return;
    }
    const entry = await (await fetch(button.dataset.src)).json();
    await navigator.clipboard.writeText(JSON.stringify(entry.data, null, 2));
    button.textContent = "copied";
  });
}

function recordFilters() {
  // Each table of records gets its own filter box: rows that do not contain the text (in any case) are hidden.
  for (const section of document.querySelectorAll("section.records")) {
    const rows = [...section.querySelectorAll("tbody tr")];
    const count = section.querySelector(".record-count");
    section.querySelector(".record-filter").addEventListener("input", (event) => {
      const wanted = event.target.value.trim().toLowerCase();
      let shown = 0;
      for (const row of rows) {
        row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
        if (!row.hidden) shown += 1;
      }
      count.textContent = wanted ? `${shown} of ${rows.length} rows` : "";
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  recordFilters();
  loadBadge();
  followTimeline();
  lazyData();
  copyData();
});
