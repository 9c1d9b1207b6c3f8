// Renders /openapi.json: operations grouped by tag, with parameters, request bodies and
// responses. No external script or style, no inline script, no eval: it works offline and
// under the page's Content-Security-Policy (script-src 'self'; style-src 'self').
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function add(parent, ...children) {
  for (const c of children) if (c) parent.appendChild(c);
  return parent;
}

// Follows a local "$ref" (#/components/...) to the object it names.
function deref(doc, obj, seen) {
  seen = seen || new Set();
  while (obj && typeof obj === "object" && typeof obj.$ref === "string") {
    if (seen.has(obj.$ref) || !obj.$ref.startsWith("#/")) return obj;
    seen.add(obj.$ref);
    let target = doc;
    for (const part of obj.$ref.slice(2).split("/")) {
      target = target ? target[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
    }
    obj = target;
  }
  return obj;
}

function refName(obj) {
  return obj && typeof obj.$ref === "string" ? obj.$ref.split("/").pop() : null;
}

// A short type text for a schema: "string", "integer | null", "array of DeviceResponse", ...
function typeText(doc, schema, depth) {
  depth = depth || 0;
  if (!schema || typeof schema !== "object") return "any";
  const name = refName(schema);
  if (name) return name;
  if (schema.oneOf || schema.anyOf) {
    return (schema.oneOf || schema.anyOf).map((s) => typeText(doc, s, depth + 1)).join(" or ");
  }
  let t = schema.type;
  if (Array.isArray(t)) t = t.join(" | ");
  if (!t) t = schema.properties ? "object" : "any";
  if (schema.type === "array" && schema.items) t = "array of " + typeText(doc, schema.items, depth + 1);
  if (schema.format) t += " (" + schema.format + ")";
  return t;
}

function constraints(schema) {
  const out = [];
  if (!schema || typeof schema !== "object") return out;
  if (schema.const !== undefined) out.push("always " + JSON.stringify(schema.const));
  if (schema.enum) out.push("one of " + schema.enum.map((v) => JSON.stringify(v)).join(", "));
  if (schema.default !== undefined) out.push("default " + JSON.stringify(schema.default));
  if (schema.minLength !== undefined) out.push("min length " + schema.minLength);
  if (schema.maxLength !== undefined) out.push("max length " + schema.maxLength);
  if (schema.minimum !== undefined) out.push("min " + schema.minimum);
  if (schema.maximum !== undefined) out.push("max " + schema.maximum);
  return out;
}

function describe(schema) {
  const parts = [];
  if (schema && schema.description) parts.push(schema.description);
  const c = constraints(schema);
  if (c.length) parts.push(c.join("; "));
  return parts.join(" — ");
}

// A table of the fields of an object schema (one level; nested objects name their type).
function fieldsTable(doc, schema) {
  const s = deref(doc, schema);
  if (!s || typeof s !== "object") return null;
  if (s.oneOf || s.anyOf) {
    const wrap = el("div", "alternatives");
    (s.oneOf || s.anyOf).forEach((alt, n) => {
      add(wrap, el("p", "alt", (n ? "or " : "") + typeText(doc, alt) + ":"));
      add(wrap, fieldsTable(doc, alt) || el("p", "muted", describe(deref(doc, alt)) || "any JSON object"));
    });
    return wrap;
  }
  if (!s.properties) return null;
  const table = el("table", "fields");
  const head = add(el("tr"), el("th", null, "field"), el("th", null, "type"),
    el("th", null, "required"), el("th", null, "notes"));
  add(table, add(el("thead"), head));
  const body = el("tbody");
  const required = new Set(s.required || []);
  for (const [name, prop] of Object.entries(s.properties)) {
    const p = deref(doc, prop);
    add(body, add(el("tr"),
      el("td", "name", name),
      el("td", "type", typeText(doc, prop)),
      el("td", "req", required.has(name) ? "yes" : ""),
      el("td", "notes", describe(p))));
  }
  add(table, body);
  const wrap = el("div");
  if (s.description) add(wrap, el("p", "muted", s.description));
  return add(wrap, table);
}

function paramsBlock(doc, params) {
  if (!params || !params.length) return null;
  const wrap = add(el("div", "block"), el("h4", null, "Parameters"));
  const table = el("table", "fields params");
  add(table, add(el("thead"), add(el("tr"), el("th", null, "name"), el("th", null, "in"),
    el("th", null, "type"), el("th", null, "required"), el("th", null, "notes"))));
  const body = el("tbody");
  for (const raw of params) {
    const p = deref(doc, raw);
    const notes = [p.description, ...constraints(p.schema)].filter(Boolean).join(" — ");
    add(body, add(el("tr"), el("td", "name", p.name), el("td", null, p.in),
      el("td", "type", typeText(doc, p.schema)), el("td", "req", p.required ? "yes" : ""),
      el("td", "notes", notes)));
  }
  return add(wrap, add(table, body));
}

function bodyBlock(doc, rb) {
  rb = deref(doc, rb);
  if (!rb || !rb.content) return null;
  const wrap = add(el("div", "block"),
    el("h4", null, "Request body" + (rb.required ? "" : " (optional)")));
  if (rb.description) add(wrap, el("p", "muted", rb.description));
  for (const [ctype, media] of Object.entries(rb.content)) {
    add(wrap, el("p", "ctype", ctype + ": " + typeText(doc, media.schema)));
    add(wrap, fieldsTable(doc, media.schema));
  }
  return wrap;
}

function responsesBlock(doc, responses) {
  if (!responses) return null;
  const wrap = add(el("div", "block"), el("h4", null, "Responses"));
  const list = el("dl", "responses");
  for (const [code, raw] of Object.entries(responses)) {
    const r = deref(doc, raw);
    let text = r && r.description ? r.description : "";
    const media = r && r.content ? Object.entries(r.content)[0] : null;
    if (media) text += " [" + media[0] + ": " + typeText(doc, media[1].schema) + "]";
    add(list, el("dt", "status s" + code[0], code), el("dd", null, text));
  }
  return add(wrap, list);
}

function securityText(doc, op) {
  const sec = op.security !== undefined ? op.security : doc.security;
  if (!sec || !sec.length) return "no authentication";
  const alts = sec.map((req) => Object.keys(req).join(" + ") || "none");
  return "auth: " + alts.join(" or ");
}

function operation(doc, path, method, op) {
  const card = el("article", "op");
  card.id = (op.operationId || method + path).replace(/[^A-Za-z0-9_-]/g, "_");
  card.dataset.search = [method, path, op.summary || "", op.description || ""].join(" ").toLowerCase();
  const head = add(el("div", "head"), el("span", "method m-" + method, method.toUpperCase()),
    el("code", "path", path), el("span", "summary", op.summary || ""));
  add(card, head);
  add(card, el("p", "security", securityText(doc, op)));
  if (op.description) add(card, el("p", "desc", op.description));
  add(card, paramsBlock(doc, op.parameters), bodyBlock(doc, op.requestBody),
    responsesBlock(doc, op.responses));
  return card;
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  if (doc.info.description) document.getElementById("description").textContent = doc.info.description;
  const groups = new Map();
  for (const t of doc.tags || []) groups.set(t.name, { tag: t, ops: [] });
  let count = 0;
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, { tag: { name: tag }, ops: [] });
      groups.get(tag).ops.push([path, method, op]);
      count++;
    }
  }
  const main = document.getElementById("routes");
  const toc = document.getElementById("toc");
  for (const { tag, ops } of groups.values()) {
    if (!ops.length) continue;
    const section = el("section", "tag");
    section.id = "tag-" + tag.name;
    add(section, el("h2", null, tag.name + " (" + ops.length + ")"));
    if (tag.description) add(section, el("p", "muted", tag.description));
    for (const [path, method, op] of ops) add(section, operation(doc, path, method, op));
    add(main, section);
    const link = el("a", null, tag.name);
    link.href = "#tag-" + tag.name;
    add(toc, link);
  }
  const schemes = (doc.components && doc.components.securitySchemes) || {};
  const dl = document.getElementById("schemes");
  for (const [name, s] of Object.entries(schemes)) {
    let how = s.type;
    if (s.type === "http") how = "HTTP " + s.scheme + (s.bearerFormat ? " (" + s.bearerFormat + ")" : "");
    if (s.type === "apiKey") how = "header " + s.name;
    add(dl, el("dt", null, name + ": " + how), el("dd", null, s.description || ""));
  }
  document.getElementById("security").hidden = !Object.keys(schemes).length;
  document.getElementById("summary").textContent =
    count + " operations on " + Object.keys(doc.paths || {}).length + " paths, OpenAPI " + doc.openapi;
  document.body.dataset.operations = String(count);
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const card of document.querySelectorAll("article.op")) {
      card.hidden = q !== "" && !card.dataset.search.includes(q);
    }
  });
}

fetch("/openapi.json").then((r) => {
  if (!r.ok) throw new Error("HTTP " + r.status);
  return r.json();
}).then(render).catch((e) => {
  document.getElementById("summary").textContent = "Could not load /openapi.json: " + e;
  document.body.dataset.error = String(e);
});
