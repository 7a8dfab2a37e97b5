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
  const parts = [];
  const push = (op, text) => {
    const last = parts[parts.length - 1];
    if (last && last.op === op) last.text += text; else parts.push({ op, text });
  };
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push("same", a[i]); i++; j++; }
    else if (lengths[i + 1][j] >= lengths[i][j + 1]) push("del", a[i++]);
    else push("ins", b[j++]);
  }
  while (i < a.length) push("del", a[i++]);
  while (j < b.length) push("ins", b[j++]);
  return parts;
}
