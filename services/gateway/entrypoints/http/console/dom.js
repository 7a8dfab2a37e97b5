// Building DOM nodes from data: text always goes in as text, never as HTML.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "className") element.className = value;
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

export function when(timestamp) {
  if (!timestamp) return "—";
  return new Date(timestamp).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintNode = hint ? h("p", { className: "hint", id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { className: "field" }, h("label", { for: id }, label), control, hintNode);
}

export function select(name, options, selected) {
  return h("select", { name },
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)));
}

const MARKS = {
  improved: "▲", regressed: "▼", unchanged: "=", errored: "⚠", diverged: "≠",
  critical: "‼", high: "!", medium: "•", low: "·",
  open: "○", proposed_fix: "◐", testing: "◑", closed: "●",
  draft: "✎", proposed: "◐", applied: "✔", rejected: "✖",
  pending: "…", running: "⟳", completed: "✔", failed: "✖",
  ship: "✔", reject: "✖", inconclusive: "?",
};

// A status, verdict or severity as an icon and a word: never colour alone.
export function badge(value) {
  return h("span", { className: `badge badge-${value}` },
    h("span", { "aria-hidden": "true" }, MARKS[value] || ""), " ", value.replace("_", " "));
}
