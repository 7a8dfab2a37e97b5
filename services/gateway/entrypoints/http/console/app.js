// The console's shell: sign-in, sign-out and the hash router (#/issues, #/issues/ID, #/fixes/ID,
// #/shadow-tests/ID). Filters live in the hash; the API key never does.

import { ApiError, call, explain, session, whenUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import { tell } from "./notice.js";
import { showBoard } from "./board.js";
import { showIssue } from "./issue.js";
import { showFix } from "./fix.js";
import { showShadowTest } from "./shadow.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");

const ROUTES = [
  [/^#\/issues\/([^/?]+)$/, showIssue],
  [/^#\/fixes\/([^/?]+)$/, showFix],
  [/^#\/shadow-tests\/([^/?]+)$/, showShadowTest],
  [/^#\/(?:issues)?(?:\?.*)?$/, showBoard],
];

let current = null; // the view's cleanup (a poll to stop), if any

function signInPage(message) {
  nav.hidden = true;
  const key = h("input", { type: "password", name: "apiKey", id: "api-key", autocomplete: "off",
    required: true, spellcheck: "false", placeholder: "thk_…" });
  const problem = h("p", { className: "notice notice-error", id: "sign-in-error", role: "alert", hidden: !message },
    message || "");
  const form = h("form", { className: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title", tabindex: "-1" }, "Sign in"),
    h("p", {}, "Paste an API key of your workspace. ", h("code", {}, "make run"),
      " prints one; ", h("code", {}, "make api-key WORKSPACE=name"), " makes another. The key is kept in this tab",
      " only, until you sign out or close it."),
    h("label", { for: "api-key" }, "API key"), key, problem,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = key.value.trim();
    try {
      await call("GET", "/api/v2/issues", { query: { limit: 1 }, key: given });
    } catch (error) {
      problem.hidden = false;
      problem.textContent = error.status === 401
        ? "That API key was not accepted. Check that you pasted all of it (it starts with thk_) and that it was not revoked."
        : explain(error);
      key.focus();
      return;
    }
    session.signIn(given);
    tell("");
    route();
  });
  replace(view, form);
  key.focus();
}

async function route() {
  if (current) { current(); current = null; }
  if (!session.key()) return signInPage();
  nav.hidden = false;
  const hash = location.hash || "#/issues";
  for (const [pattern, show] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    replace(view, h("p", { className: "loading" }, "Loading…"));
    try {
      current = (await show(view, decodeURIComponent(match[1] || ""), hash)) || null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      replace(view, h("h1", { tabindex: "-1" }, "Something went wrong"),
        h("p", { className: "notice notice-error" }, error instanceof ApiError ? explain(error) : String(error)),
        h("p", {}, h("a", { href: "#/issues" }, "Back to the issues")));
    }
    view.querySelector("h1")?.focus();
    return;
  }
  replace(view, h("h1", { tabindex: "-1" }, "No such page"), h("p", {}, h("a", { href: "#/issues" }, "See the issues")));
}

whenUnauthorized(() => {
  session.signOut();
  signInPage("Your API key is no longer accepted; sign in again.");
});
document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  tell("You are signed out.");
  signInPage();
});
window.addEventListener("hashchange", () => { tell(""); route(); });
route();
