// Render Markdown to HTML with marked's default options, as Hexo's default
// renderer (hexo-renderer-marked) does before MathJax or KaTeX sees the page.
//
//   node marked_html.mjs          stdin: one Markdown document; stdout: its HTML
//   node marked_html.mjs --json   stdin: a JSON array of Markdown documents;
//                                 stdout: a JSON array of their HTML, same order
//
// The --json mode renders many documents in one process.
import { marked } from "marked";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const input = await readStdin();
if (process.argv.includes("--json")) {
  const documents = JSON.parse(input);
  if (!Array.isArray(documents) || !documents.every((d) => typeof d === "string")) {
    throw new TypeError("--json expects a JSON array of strings on stdin");
  }
  process.stdout.write(JSON.stringify(documents.map((d) => marked.parse(d))));
} else {
  process.stdout.write(marked.parse(input));
}
