// The API reference: /openapi.json rendered as a list of operations (text only, no HTML from it).
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function schemaName(ref) {
  return ref ? ref.split("/").pop() : "";
}

async function render() {
  const root = document.getElementById("operations");
  const response = await fetch("/openapi.json");
  const api = await response.json();
  root.textContent = "";
  for (const [path, methods] of Object.entries(api.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section", "", "operation");
      section.appendChild(el("h2", `${method.toUpperCase()} ${path}`));
      if (op.summary) section.appendChild(el("p", op.summary));
      if (op.description) section.appendChild(el("pre", op.description));
      const params = (op.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`);
      if (params.length) section.appendChild(el("p", `Parameters: ${params.join(", ")}`));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      if (body) section.appendChild(el("p", `Body: ${schemaName(body.schema && body.schema.$ref) || "JSON"}`));
      const codes = Object.keys(op.responses || {});
      if (codes.length) section.appendChild(el("p", `Responses: ${codes.join(", ")}`));
      root.appendChild(section);
    }
  }
}

render().catch((err) => {
  document.getElementById("operations").textContent = `Could not read /openapi.json: ${err}`;
});
