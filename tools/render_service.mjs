// The Node side of the document checks (tests/tooling.py): KaTeX and marked, pinned by package-lock.json.
//
// One process serves every request of a test process: stdin carries one JSON request per line, and each
// gets one JSON line back on stdout, in order.
//
//   {"tool": "katex", "input": [{"id": ..., "tex": "...", "display": true|false}, ...]}
//     -> {"result": [{"id": ..., "error": "..."}, ...]}   the fragments KaTeX rejects
//   {"tool": "marked", "input": ["markdown", ...]}
//     -> {"result": ["<p>html</p>", ...]}                  each document rendered, same order
//   a request that cannot be served -> {"error": "..."}
//
// KaTeX renders each fragment with throwOnError and strict "error", so anything it would only warn about
// (Unicode text in math mode, for instance) counts as a failure too. marked renders with its defaults, as
// Hexo's default renderer (hexo-renderer-marked) does before MathJax or KaTeX sees the page.
import { createInterface } from "node:readline";

import katex from "katex";
import { marked } from "marked";

function katexFailures(fragments) {
  if (!Array.isArray(fragments)) {
    throw new TypeError("katex expects a JSON array of {id, tex, display}");
  }
  const failures = [];
  for (const { id, tex, display } of fragments) {
    if (typeof tex !== "string") {
      failures.push({ id, error: `fragment is not a string: ${JSON.stringify(tex)}` });
      continue;
    }
    try {
      katex.renderToString(tex, { displayMode: Boolean(display), throwOnError: true, strict: "error" });
    } catch (err) {
      // KaTeX underlines the offending input with U+0332 combining marks; without them the message
      // reads cleanly in a terminal.
      const message = String(err && err.message ? err.message : err);
      failures.push({ id, error: message.replace(/\u0332/g, "") });
    }
  }
  return failures;
}

function markedHtml(documents) {
  if (!Array.isArray(documents) || !documents.every((d) => typeof d === "string")) {
    throw new TypeError("marked expects a JSON array of strings");
  }
  return documents.map((d) => marked.parse(d));
}

const TOOLS = { katex: katexFailures, marked: markedHtml };

function answer(line) {
  try {
    const { tool, input } = JSON.parse(line);
    if (!Object.hasOwn(TOOLS, tool)) {
      throw new TypeError(`unknown tool ${JSON.stringify(tool)}; expected one of ${Object.keys(TOOLS).join(", ")}`);
    }
    return { result: TOOLS[tool](input) };
  } catch (err) {
    return { error: String(err && err.stack ? err.stack : err) };
  }
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim()) {
    process.stdout.write(JSON.stringify(answer(line)) + "\n");
  }
}
