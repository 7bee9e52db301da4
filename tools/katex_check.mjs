// Parse math fragments with KaTeX and report the ones it rejects.
//
// stdin:  a JSON array [{"id": ..., "tex": "...", "display": true|false}, ...]
// stdout: a JSON array of failures [{"id": ..., "error": "..."}, ...]
//
// Each fragment is rendered with throwOnError and strict "error", so anything
// KaTeX would only warn about (for instance Unicode text in math mode) counts
// as a failure too. The exit status is 0 whether or not fragments fail; the
// caller decides what a failure means. A non-zero status means the checker
// itself could not run (bad input, KaTeX missing).
import katex from "katex";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const fragments = JSON.parse(await readStdin());
if (!Array.isArray(fragments)) {
  throw new TypeError("expected a JSON array of {id, tex, display} on stdin");
}

const failures = [];
for (const { id, tex, display } of fragments) {
  if (typeof tex !== "string") {
    failures.push({ id, error: `fragment is not a string: ${JSON.stringify(tex)}` });
    continue;
  }
  try {
    katex.renderToString(tex, {
      displayMode: Boolean(display),
      throwOnError: true,
      strict: "error",
    });
  } catch (err) {
    // KaTeX underlines the offending input with U+0332 combining marks;
    // drop them so the message reads cleanly in a terminal.
    const message = String(err && err.message ? err.message : err);
    failures.push({ id, error: message.replace(/\u0332/g, "") });
  }
}
process.stdout.write(JSON.stringify(failures));
