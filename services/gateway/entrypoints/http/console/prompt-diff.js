// A prompt diff shown as a diff: removed and added lines marked with words, not colour alone.

import { h } from "./dom.js";

export function promptDiffView(diff) {
  return h("pre", { className: "prompt-diff" }, diff.split(/\r\n|\n|\r/).map((line) => {
    const removed = line.startsWith("-");
    const added = line.startsWith("+");
    const kind = removed ? "removed" : added ? "added" : "other";
    return h("span", { className: `line line-${kind}` },
      h("span", { className: "visually-hidden" }, removed ? "removed: " : added ? "added: " : ""),
      line, "\n");
  }));
}
