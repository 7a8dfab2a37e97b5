// A word-level diff (longest common subsequence over words and the spaces between them).

const MAX_CELLS = 4_000_000;

export function tokens(text) {
  return (text || "").match(/\s+|[^\s]+/g) || [];
}

// [{op: "same" | "del" | "ins", text}], consecutive parts of one kind joined.
export function wordDiff(before, after) {
  const a = tokens(before), b = tokens(after);
  if (a.length * b.length > MAX_CELLS) return [{ op: "del", text: before }, { op: "ins", text: after }];
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const steps = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { steps.push({ op: "same", text: a[i] }); i++; j++; }
    else if (lengths[i + 1][j] >= lengths[i][j + 1]) steps.push({ op: "del", text: a[i++] });
    else steps.push({ op: "ins", text: b[j++] });
  }
  while (i < a.length) steps.push({ op: "del", text: a[i++] });
  while (j < b.length) steps.push({ op: "ins", text: b[j++] });
  return joined(steps);
}

// Runs of changes become one removal then one insertion; a space alone between two changes
// belongs to both, so "Yes, our policy" reads as one removed phrase, not three words.
function joined(steps) {
  const parts = [];
  let removed = "", added = "";
  const flush = () => {
    if (removed) parts.push({ op: "del", text: removed });
    if (added) parts.push({ op: "ins", text: added });
    removed = added = "";
  };
  steps.forEach((step, index) => {
    const between = step.op === "same" && /^\s+$/.test(step.text) && (removed || added)
      && steps[index + 1] && steps[index + 1].op !== "same";
    if (between) { removed += step.text; added += step.text; }
    else if (step.op === "del") removed += step.text;
    else if (step.op === "ins") added += step.text;
    else {
      flush();
      const last = parts[parts.length - 1];
      if (last && last.op === "same") last.text += step.text; else parts.push({ op: "same", text: step.text });
    }
  });
  flush();
  return parts;
}
