// Renders /openapi.json as a list of operations; no external script, works offline.
"use strict";
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const main = document.getElementById("routes");
  let count = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const div = el("div", "op");
      div.appendChild(el("span", "method", method.toUpperCase()));
      div.appendChild(el("span", "path", path));
      if (op.summary) div.appendChild(el("p", "desc", op.summary));
      main.appendChild(div);
      count++;
    }
  }
  document.getElementById("summary").textContent = count + " operations";
}).catch((e) => {
  document.getElementById("summary").textContent = "Could not load /openapi.json: " + e;
});
