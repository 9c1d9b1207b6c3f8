// Renders /openapi.json: operations grouped by tag, with parameters, request bodies and
// responses, and a form per operation that sends it to this server (Try it). No external
// script or style, no inline script, no eval: it works offline and under the page's
// Content-Security-Policy (script-src 'self'; style-src 'self'; connect-src 'self';
// form-action 'none': the forms are sent by fetch, never submitted).
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
  const kind = effect(method, op);
  card.dataset.effect = kind;
  card.dataset.search = [method, path, op.summary || "", op.description || "",
    EFFECT[kind].badge].join(" ").toLowerCase();
  const badge = marked(method, kind) ? el("span", "badge " + kind, EFFECT[kind].badge) : null;
  add(card, add(el("h3", "head"), el("span", "method m-" + method, method.toUpperCase()),
    el("code", "path", path), badge, el("span", "summary", op.summary || "")));
  add(card, el("p", "security", securityText(doc, op)));
  if (op.description) add(card, el("p", "desc", op.description));
  add(card, paramsBlock(doc, op.parameters), bodyBlock(doc, op.requestBody),
    responsesBlock(doc, op.responses), tryIt(doc, path, method, op, kind));
  return card;
}

// --- Try it: a form per operation that sends the request to this server with fetch. Every
// value reaches the page through textContent, value or DOM attributes, never as markup.

// What a Send does: "reads" (GET, and the POSTs listed that only look something up),
// "deletes" (every DELETE, and the POSTs listed that delete rows: these need the form's
// confirmation ticked before each Send) or "changes" (everything else).
const READ_ONLY = new Set(["get", "head", "options"]);
const READS_ONLY_OPS = new Set(["checkPasswordStrength", "checkUsername", "checkEmail",
  "checkPhone", "runDiagnostics"]);
const DELETES_OPS = new Set(["adminCleanupAuditLogs"]);
const EFFECT = {
  reads: { badge: "reads only", note: "reads only." },
  changes: { badge: "changes data", note: "sending this changes data on this server." },
  deletes: { badge: "deletes data",
    note: "sending this deletes data on this server; it cannot be undone." },
};

function effect(method, op) {
  if (method === "delete" || DELETES_OPS.has(op.operationId)) return "deletes";
  return READ_ONLY.has(method) || READS_ONLY_OPS.has(op.operationId) ? "reads" : "changes";
}

function marked(method, kind) { // a badge for all but plain reads (GET)
  return kind !== "reads" || !READ_ONLY.has(method);
}

const TOKEN_KEY = "droplin-docs-token"; // sessionStorage: this tab's (docs/security.md)
const results = []; // every form's result, emptied by Clear

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (e) {
    return ""; // storage refused (a privacy setting): the field still works for this page
  }
}

// A token as pasted: whitespace and quotes around it, and "Bearer " or "Authorization:
// Bearer " before it, are not part of it.
function bareToken(text) {
  const unquote = (s) => s.trim().replace(/^["'`]+|["'`]+$/g, "").trim();
  return unquote(unquote(String(text)).replace(/^(authorization\s*:\s*)?bearer\s+/i, ""));
}

// The claims of a JWT, for the line beside the token field; null when it is not one.
function jwtClaims(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch (e) {
    return null;
  }
}

function tokenStateText(token) {
  if (!token) return "no token: operations that need one will get 401";
  const claims = jwtClaims(token);
  if (!claims) return "set (not a JWT this page can read)";
  let text = "set";
  if (claims.username !== undefined) text += ": " + claims.username;
  if (claims.user_id !== undefined) text += " (user " + claims.user_id + ")";
  if (typeof claims.exp === "number") {
    const exp = new Date(claims.exp * 1000);
    text += (exp < new Date() ? ", expired " : ", expires ") +
      exp.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  return text;
}

// Puts a token in the shared field and in sessionStorage ("" clears both).
function setToken(token, fromField) {
  token = bareToken(token);
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    // not kept across reloads; the field still holds it
  }
  const field = document.getElementById("token");
  if (!fromField) field.value = token;
  document.getElementById("token-state").textContent = tokenStateText(token);
  document.body.dataset.token = token ? "set" : "none";
}

function currentToken() {
  return bareToken(document.getElementById("token").value);
}

function setupSession() {
  const field = document.getElementById("token");
  field.value = storedToken();
  field.addEventListener("input", () => setToken(field.value, true));
  field.addEventListener("change", () => { field.value = currentToken(); });
  document.getElementById("token-clear").addEventListener("click", () => {
    setToken("");
    results.forEach(clearResult); // an answer or a command that showed the token goes too
  });
  setToken(field.value, true);
  document.getElementById("origin").textContent = location.origin;
  document.getElementById("session").hidden = false;
  document.getElementById("tryit-note").hidden = false;
}

// Made anew at each page load: the prefilled register and login bodies name an account of
// this tab only, never one whose password is published here.
const DEMO = (() => {
  const abc = "abcdefghijkmnpqrstuvwxyz23456789"; // 32 signs: byte & 31 picks one evenly
  const rand = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)),
    (b) => abc[b & 31]).join("");
  const username = "try_" + rand(12);
  return { username, newUsername: "try_" + rand(12), email: username + "@example.com",
    password: "Try." + rand(16) + ".9", newPassword: "Try." + rand(16) + ".9" };
})();

// Values for a few field names, so that a prefilled body passes the server's checks.
const NAMED_EXAMPLES = [
  [/^new_?username$/i, DEMO.newUsername],
  [/username/i, DEMO.username],
  [/email/i, DEMO.email],
  [/phone/i, "5555550100"],
  [/^new_?password$/i, DEMO.newPassword],
  [/password/i, DEMO.password],
];

function namedExample(name) {
  const hit = name ? NAMED_EXAMPLES.find(([re]) => re.test(name)) : null;
  return hit ? hit[1] : undefined;
}

function exampleString(s, name) {
  let v = "string";
  if (s.format === "email") v = DEMO.email;
  else if (s.format === "date-time") v = "2024-01-01T00:00:00Z";
  else if (s.format === "date") v = "2024-01-01";
  else if (s.format === "uri" || s.format === "url") v = "https://example.com/";
  else if (namedExample(name) !== undefined) v = namedExample(name);
  while (s.minLength !== undefined && v.length < s.minLength) v += "x";
  if (s.maxLength !== undefined && v.length > s.maxLength) v = v.slice(0, s.maxLength);
  return v;
}

function exampleNumber(s, integer) {
  let v = 0;
  if (typeof s.minimum === "number") v = s.minimum;
  else if (typeof s.exclusiveMinimum === "number") v = s.exclusiveMinimum + 1;
  if (typeof s.maximum === "number" && v > s.maximum) v = s.maximum;
  return integer ? Math.ceil(v) : v;
}

// An example value for a schema: for a username, password or e-mail field this page load's
// own (DEMO), whatever the schema says; else its example, examples[0], const, default or first
// enum value; else one built from its type and limits.
function example(doc, schema, name, depth) {
  depth = depth || 0;
  const s = deref(doc, schema);
  if (!s || typeof s !== "object" || depth > 8) return null;
  const types = [].concat(s.type);
  if (types.includes("string") && /username|password|email/i.test(name || "")) {
    return exampleString({}, name);
  }
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.const !== undefined) return s.const;
  if (s.default !== undefined) return s.default;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const alts = s.oneOf || s.anyOf;
  if (alts && alts.length) return example(doc, alts[0], name, depth + 1);
  if (Array.isArray(s.allOf)) {
    const out = {};
    for (const part of s.allOf) {
      const v = example(doc, part, name, depth + 1);
      if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, v);
    }
    return out;
  }
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null") || type[0];
  if (!type) type = s.properties ? "object" : s.items ? "array" : null;
  switch (type) {
    case "object": {
      const out = {};
      for (const [key, prop] of Object.entries(s.properties || {})) {
        out[key] = example(doc, prop, key, depth + 1);
      }
      return out;
    }
    case "array":
      return s.items ? [example(doc, s.items, name, depth + 1)] : [];
    case "string":
      return exampleString(s, name);
    case "integer":
      return exampleNumber(s, true);
    case "number":
      return exampleNumber(s, false);
    case "boolean":
      return false;
    default:
      return null;
  }
}

// A word for the POSIX shell: single-quoted, each ' written as '\'' (nothing is special
// inside single quotes, so no value can run anything when the command is pasted).
function shq(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}

// curl's -F file=@NAME, with the name in double quotes (curl's own quoting for -F).
function curlFile(field, file) {
  let arg = field + '=@"' + file.name.replace(/[\\"]/g, "\\$&") + '"';
  if (file.type) arg += ";type=" + file.type;
  return arg;
}

// headers: [name, value, shown]; shown, when there, is what the command says instead of the
// value: "Bearer $TOKEN", in double quotes (names from openapi.json: plain words).
function curlCommand(method, url, headers, req) {
  const words = ["curl -i " + (method !== "GET" ? "-X " + method + " " : "") + shq(url)];
  for (const [name, value, shown] of headers) {
    words.push(shown ? '-H "' + name + ": " + shown + '"' : "-H " + shq(name + ": " + value));
  }
  if (req.json !== null) words.push("--data-raw " + shq(req.json));
  for (const [field, file] of req.files) words.push("-F " + shq(curlFile(field, file)));
  return words.join(" \\\n  ");
}

function schemes(doc, op) {
  const sec = op.security !== undefined ? op.security : doc.security || [];
  const names = new Set();
  for (const req of sec) for (const name of Object.keys(req)) names.add(name);
  const all = (doc.components && doc.components.securitySchemes) || {};
  const bearer = [...names].some((n) => n === "bearerAuth");
  const secret = [...names].find((n) => all[n] && all[n].type === "apiKey" &&
    all[n].in === "header");
  return { bearer, secretHeader: secret ? all[secret].name : null };
}

function field(labelText, input, note) {
  const label = add(el("label", "field"), el("span", "label", labelText), input);
  if (note) add(label, el("span", "muted", note));
  return label;
}

function button(cls, text) {
  const b = el("button", cls, text);
  b.type = "button";
  return b;
}

// The answer to a Send: a status line (role=status: a screen reader says each new one), then
// the response's headers and body, and the same request as a curl command.
function resultPane() {
  const out = {
    box: el("div", "result"), status: el("p", "status"), take: button("take-token"),
    panes: el("div", "panes"), headers: el("pre", "headers"), body: el("pre", "body"),
    bodyNote: el("p", "muted body-note"), more: button("more", "Show 1 MiB more"),
    curlNote: el("p", "muted curl-note"), reveal: button("reveal"), curl: el("pre", "curl"),
  };
  out.status.setAttribute("role", "status");
  out.take.addEventListener("click", () => {
    setToken(out.take.dataset.token);
    out.take.disabled = true;
    out.take.textContent = "Token in use";
  });
  out.more.addEventListener("click", () => showMore(out));
  out.reveal.addEventListener("click", () => showCurl(out, !out.revealed));
  add(out.panes, el("h5", null, "Response headers"), out.headers,
    el("h5", null, "Response body"), out.body, out.bodyNote, out.more,
    el("h5", null, "The same request with curl"), add(el("div", "curl-row"), out.curlNote,
      out.reveal), out.curl);
  add(out.box, add(el("div", "status-row"), out.status, out.take), out.panes);
  clearResult(out);
  results.push(out);
  return out;
}

function clearResult(out) {
  out.status.textContent = "";
  for (const e of [out.headers, out.body, out.bodyNote, out.curlNote, out.curl]) {
    e.textContent = "";
  }
  out.panes.hidden = out.take.hidden = out.more.hidden = out.reveal.hidden = true;
  out.take.disabled = false;
  out.take.textContent = "Use this token";
  out.take.dataset.token = "";
  Object.assign(out, { full: "", shownChars: 0, command: "", vars: [], revealed: false });
}

function showAnswer(out, status, headers, text, req, token) {
  out.status.textContent = status;
  out.headers.textContent = headers;
  showBody(out, text);
  Object.assign(out, { command: req.curl, vars: req.vars });
  showCurl(out, false);
  out.take.hidden = !token;
  out.take.dataset.token = token || "";
  out.panes.hidden = false;
}

// A body longer than SHOW_CHARS is shown as it came, a MiB at a time, and JSON is pretty-printed
// only up to PRETTY_CHARS: laying out megabytes of pretty JSON kept the tab frozen for seconds
// (a MiB of it takes about 2 s on a loaded machine, a MiB as it came 0.3 s).
const SHOW_CHARS = 1 << 20;
const PRETTY_CHARS = 1 << 18;

function showBody(out, text) {
  Object.assign(out, { full: text, shownChars: 0 });
  out.body.textContent = "";
  showMore(out);
}

function showMore(out) {
  let end = Math.min(out.full.length, out.shownChars + SHOW_CHARS);
  if (end < out.full.length && /[\ud800-\udbff]/.test(out.full[end - 1])) end--; // a pair whole
  out.body.append(out.full.slice(out.shownChars, end));
  out.shownChars = end;
  const rest = out.full.length - end;
  out.more.hidden = !rest;
  out.bodyNote.textContent = rest ? "Showing the first " + end.toLocaleString("en") + " of " +
    out.full.length.toLocaleString("en") + " characters, as they came." : "";
}

// The curl command reads the token and the admin secret from the shell ($TOKEN,
// $ADMIN_SECRET): their values are written, as assignments before it, only on Show values.
function showCurl(out, reveal) {
  const names = out.vars.map(([name]) => "$" + name).join(" and ");
  out.revealed = reveal && out.vars.length > 0;
  out.curl.textContent = (out.revealed ? out.vars.map(([name, value]) =>
    name + "=" + shq(value) + "\n").join("") : "") + out.command;
  out.reveal.hidden = !out.vars.length;
  out.reveal.textContent = out.revealed ? "Hide values" : "Show values";
  out.curlNote.textContent = !out.vars.length ? "" : out.revealed
    ? "With " + names + " set first, the command runs as it is. Clear or Hide values hides them."
    : "The command reads " + names + " from the shell: set it there, or press Show values.";
}

// A value fetch could not send as typed: an unpaired surrogate (URLSearchParams and fetch
// would quietly replace it; encodeURIComponent throws).
function sendable(name, v) {
  try {
    encodeURIComponent(v);
  } catch (e) {
    throw new Error(name + " holds a character that cannot be sent (an unpaired surrogate).");
  }
  return v;
}

const SECRET_PARAM = /password|secret|^code$/i;

// The form of one operation, inside a <details> so that the page stays a reader.
function tryIt(doc, path, method, op, kind) {
  const METHOD = method.toUpperCase();
  const box = el("details", "tryit");
  const summary = el("summary", null, marked(method, kind) ?
    "Try it (" + EFFECT[kind].badge + ")" : "Try it");
  summary.setAttribute("aria-label", summary.textContent + ": " + METHOD + " " + path);
  add(box, summary);
  const form = el("form", "try");
  form.noValidate = true;
  form.dataset.sent = "0";
  const rb = deref(doc, op.requestBody);
  const content = (rb && rb.content) || {};
  const inputs = [];
  for (const raw of op.parameters || []) {
    const p = deref(doc, raw);
    if (!p || (p.in !== "path" && p.in !== "query")) continue;
    const input = el("input", "param");
    const secretish = SECRET_PARAM.test(p.name);
    input.type = secretish ? "password" : "text";
    input.name = p.name;
    input.dataset.in = p.in;
    input.autocomplete = "off";
    input.spellcheck = false;
    const dflt = p.schema && p.schema.default !== undefined ? p.schema.default : undefined;
    input.placeholder = p.in === "path" ? "required"
      : dflt !== undefined ? "default " + JSON.stringify(dflt) : "optional";
    inputs.push({ p, input });
    add(form, field(p.name + " (" + p.in + ")", input, secretish && p.in === "query" &&
      content["application/json"] ? "sent in the URL, which logs and histories keep: " +
      "prefer the same name in the JSON body below" : null));
  }
  let bodyArea = null;
  const files = [];
  if (content["application/json"]) {
    const text = JSON.stringify(example(doc, content["application/json"].schema), null, 2);
    bodyArea = el("textarea", "json");
    bodyArea.spellcheck = false;
    bodyArea.rows = Math.min(16, Math.max(3, text.split("\n").length));
    if (rb.required) bodyArea.value = text;
    else bodyArea.placeholder = "optional: empty sends no body; Example fills one in";
    const fill = button("example", "Example");
    fill.addEventListener("click", () => { bodyArea.value = text; });
    add(form, add(el("div", "body-field"), field("Body (application/json)", bodyArea), fill));
  } else if (content["multipart/form-data"]) {
    const s = deref(doc, content["multipart/form-data"].schema) || {};
    for (const name of Object.keys(s.properties || {})) {
      const input = el("input", "file");
      input.type = "file";
      input.name = name;
      files.push(input);
      add(form, field(name + " (multipart/form-data)", input));
    }
  }
  const auth = schemes(doc, op);
  let useToken = null;
  let secret = null;
  let confirm = null;
  if (auth.bearer) {
    useToken = el("input", "use-token");
    useToken.type = "checkbox";
    useToken.checked = true;
    add(form, add(el("label", "check"), useToken,
      document.createTextNode(" send the token above as Authorization: Bearer")));
  }
  if (auth.secretHeader) {
    secret = el("input", "secret");
    secret.type = "password";
    secret.autocomplete = "off";
    secret.placeholder = "ADMIN_SECRET";
    add(form, field(auth.secretHeader + " (header)", secret, "not stored; sent only by this form"));
  }
  if (kind === "deletes") {
    confirm = el("input", "confirm");
    confirm.type = "checkbox";
    confirm.required = true;
    add(form, add(el("label", "check confirm"), confirm, document.createTextNode(
      " Yes, delete: " + METHOD + " " + path + " deletes data on this server for good")));
  }
  const send = el("button", "send", "Send");
  send.type = "submit";
  send.setAttribute("aria-label", "Send " + METHOD + " " + path);
  add(form, add(el("div", "actions"), send,
    el("span", "send-note " + kind, METHOD + ": " + EFFECT[kind].note)));
  add(box, form);

  const out = resultPane();
  add(box, out.box);

  // The request the form describes; throws an Error saying why when it cannot be sent.
  function request() {
    let url = path;
    for (const { p, input } of inputs) {
      if (p.in !== "path") continue;
      const v = sendable(p.name, input.value.trim());
      if (!v) throw new Error(p.name + " is required.");
      if (v === "." || v === "..") {
        throw new Error(p.name + " cannot be “.” or “..”: the URL would name another path.");
      }
      url = url.split("{" + p.name + "}").join(encodeURIComponent(v));
    }
    const query = new URLSearchParams();
    for (const { p, input } of inputs) {
      if (p.in === "query" && input.value !== "") {
        query.append(p.name, sendable(p.name, input.value));
      }
    }
    const qs = query.toString();
    url = location.origin + url + (qs ? "?" + qs : "");
    const headers = [];
    const vars = [];
    const req = { json: null, files: [] };
    let body;
    if (bodyArea && bodyArea.value.trim() !== "") {
      req.json = body = sendable("the body", bodyArea.value);
      headers.push(["Content-Type", "application/json"]);
    }
    if (files.length) {
      body = new FormData();
      for (const input of files) {
        if (!input.files.length) throw new Error("choose a file for " + input.name + ".");
        body.append(input.name, input.files[0]);
        req.files.push([input.name, input.files[0]]);
      }
    }
    const token = currentToken();
    if (useToken && useToken.checked && token) {
      headers.push(["Authorization", "Bearer " + token, "Bearer $TOKEN"]);
      vars.push(["TOKEN", token]);
    }
    if (secret && secret.value) {
      headers.push([auth.secretHeader, secret.value, "$ADMIN_SECRET"]);
      vars.push(["ADMIN_SECRET", secret.value]);
    }
    if (confirm && !confirm.checked) throw new Error("tick “Yes, delete” first.");
    return { url, body, vars, headers: headers.map(([name, value]) => [name, value]),
      curl: curlCommand(METHOD, url, headers, req) };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault(); // the page never navigates (and its CSP has form-action 'none')
    if (form.dataset.state === "sending") return; // Send keeps its focus: aria-disabled only
    clearResult(out); // no earlier answer stays on screen beside this request
    let req;
    try {
      req = request();
    } catch (e) {
      out.status.textContent = "Not sent: " + e.message;
      form.dataset.state = "not sent";
      return;
    }
    if (confirm) confirm.checked = false; // each delete is confirmed anew
    form.dataset.state = "sending";
    send.setAttribute("aria-disabled", "true");
    out.status.textContent = "Sending…";
    fetch(req.url, {
      method: METHOD, headers: req.headers, body: req.body, cache: "no-store",
      redirect: "manual", // one request, the one the curl command makes
      credentials: "omit", // no cookie or remembered Basic login: only what the curl shows
    }).then((r) => r.text().then((text) => {
      if (r.type === "opaqueredirect") {
        showAnswer(out, "Redirect not followed: the curl command shows where it points.", "",
          "", req, null);
        form.dataset.state = "done";
        return;
      }
      const lines = [];
      r.headers.forEach((value, name) => lines.push(name + ": " + value));
      let shown = text;
      let token = null;
      if (text.length <= SHOW_CHARS && /json/i.test(r.headers.get("Content-Type") || "")) {
        try {
          const parsed = JSON.parse(text);
          const pretty = JSON.stringify(parsed, null, 2);
          if (pretty.length <= PRETTY_CHARS) shown = pretty;
          if (parsed && typeof parsed === "object") {
            const t = parsed.access_token !== undefined ? parsed.access_token : parsed.token;
            if (typeof t === "string" && t) token = t;
          }
        } catch (e) {
          // not JSON after all: shown as it came
        }
      }
      showAnswer(out, (r.status + " " + r.statusText).trim(), lines.join("\n"),
        shown === "" ? "(empty)" : shown, req, token);
      form.dataset.state = "done";
    })).catch((e) => {
      showAnswer(out, "No response: " + e, "", "", req, null);
      form.dataset.state = "failed";
    }).finally(() => {
      send.removeAttribute("aria-disabled");
      form.dataset.sent = String(Number(form.dataset.sent) + 1);
    });
  });
  return box;
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
  setupSession();
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
