// The one place that tells the user what happened (a polite live region).

import { ApiError, explain } from "./api.js";
import { h, replace } from "./dom.js";

export function tell(message, kind = "info") {
  const notice = document.getElementById("notice");
  replace(notice, message ? h("p", { className: `notice notice-${kind}` }, message) : null);
}

export function fail(error) {
  tell(error instanceof ApiError ? explain(error) : String(error), "error");
}
