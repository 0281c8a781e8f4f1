// Parses Mermaid diagrams with the mermaid package itself, the library GitHub
// renders them with, so that a diagram that would show "Unable to render" on
// GitHub fails the docs check instead.
//
// mermaid.parse() needs a DOM only for its label sanitiser (DOMPurify); jsdom
// provides one. No browser and no layout: this checks the syntax, not the
// picture.
//
// Input on stdin: JSON [{"where": "docs/x.md:12", "text": "flowchart LR ..."}]
// Output on stdout: JSON [{"where": ..., "ok": true, "type": "flowchart-v2"}
//                         or {"where": ..., "ok": false, "error": "..."}]
// Used by tools/docs_check.py; install with `npm ci --prefix tools/mermaid`
// (tools/setup.sh does).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const version = createRequire(import.meta.url)("mermaid/package.json").version;
const diagrams = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const { where, text } of diagrams) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ where, ok: true, type: parsed.diagramType, version });
  } catch (error) {
    const message = String(error?.message ?? error).trim();
    results.push({ where, ok: false, error: message, version });
  }
}
process.stdout.write(JSON.stringify(results));
