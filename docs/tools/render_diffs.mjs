// Renders each stored stage diff as a side-by-side HTML fragment, with diff2html.
// Usage: node render_diffs.mjs IN.diff OUT.html [IN.diff OUT.html ...]
import { readFileSync, writeFileSync } from "node:fs";
import { html } from "diff2html";

const args = process.argv.slice(2);
for (let i = 0; i + 1 < args.length; i += 2) {
  // "a/chapters/04-nonblocking/main.cpp" and "b/chapters/05-multiplexed/main.cpp" are the
  // same file of two stages, not a rename: show the path inside the stage.
  const diff = readFileSync(args[i], "utf8").replace(/([ab])\/chapters\/[^/\s]+\//g, "$1/");
  const fragment = html(diff, {
    outputFormat: "side-by-side",
    drawFileList: true,
    matching: "lines",
  });
  writeFileSync(args[i + 1], fragment);
}
