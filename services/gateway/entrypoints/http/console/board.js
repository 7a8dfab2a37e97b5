// The issue board: GET /api/v2/issues with the API's own filters, sort and paging; counts per
// status from the same filters; each row's customers and last seen from GET /api/v2/issues/ID.

import { get } from "./api.js";
import { badge, field, h, replace, select, when } from "./dom.js";

export const STATUSES = ["open", "proposed_fix", "testing", "closed"];
export const SEVERITIES = ["critical", "high", "medium", "low"];
const SOURCES = [["", "any source"], ["manual", "manual"], ["clustering", "clustering"]];
const SORTS = [["createdAt", "Created"], ["severity", "Severity"], ["traceCount", "Trace count"]];
const LIMIT = 20;

function filtersFrom(hash) {
  const query = new URLSearchParams(hash.split("?")[1] || "");
  return {
    agentId: query.get("agentId") || "",
    status: query.get("status") || "",
    severity: query.get("severity") || "",
    source: query.get("source") || "",
    sortBy: query.get("sortBy") || "createdAt",
    sortOrder: query.get("sortOrder") || "desc",
    page: Number(query.get("page")) || 1,
  };
}

function hashOf(filters) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (value && !(name === "page" && value === 1)) query.set(name, value);
  }
  const text = query.toString();
  return "#/issues" + (text ? "?" + text : "");
}

export async function showBoard(view, _id, hash) {
  const filters = filtersFrom(hash);
  const query = { ...filters, limit: LIMIT };
  const counting = STATUSES.map((status) =>
    get("/api/v2/issues", { agentId: filters.agentId, severity: filters.severity, source: filters.source, status,
      limit: 1 }));
  const { data: issues, pagination } = await get("/api/v2/issues", query);
  const counts = await Promise.all(counting);

  const countList = h("ul", { className: "counts", "aria-label": "Issues per status" },
    STATUSES.map((status, index) => h("li", {},
      h("a", { href: hashOf({ ...filters, status, page: 1 }), "aria-current": filters.status === status ? "true" : null },
        badge(status), " ", h("strong", { className: `count-${status}` }, counts[index].pagination.total)))));

  const form = h("form", { className: "filters", "aria-label": "Filter and sort" },
    field("Agent", h("input", { name: "agentId", value: filters.agentId, placeholder: "any agent" })),
    field("Status", select("status", [["", "any status"], ...STATUSES.map((s) => [s, s.replace("_", " ")])],
      filters.status)),
    field("Severity", select("severity", [["", "any severity"], ...SEVERITIES.map((s) => [s, s])], filters.severity)),
    field("Source", select("source", SOURCES, filters.source)),
    field("Sort by", select("sortBy", SORTS, filters.sortBy)),
    field("Order", select("sortOrder", [["desc", "descending"], ["asc", "ascending"]], filters.sortOrder)),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    location.hash = hashOf({ ...values, agentId: values.agentId.trim(), page: 1 });
  });

  const rows = issues.map((issue) => {
    const customers = h("td", { "data-label": "Customers" }, "…");
    const lastSeen = h("td", { "data-label": "Last seen" }, "…");
    const marker = h("span", { className: "regressed-slot" });
    get(`/api/v2/issues/${encodeURIComponent(issue.id)}`).then(({ data }) => {
      replace(customers, String(data.metadata.affectedCustomers));
      replace(lastSeen, when(data.metadata.lastSeenAt));
      replace(marker, regressedMark(data.metadata));
    }, () => { replace(customers, "?"); replace(lastSeen, "?"); });
    return h("tr", { "data-issue": issue.id },
      h("td", { "data-label": "Issue" }, h("a", { href: `#/issues/${encodeURIComponent(issue.id)}` }, issue.title),
        h("div", { className: "muted" }, issue.agentName || issue.agentId)),
      h("td", { "data-label": "Severity" }, badge(issue.severity)),
      h("td", { "data-label": "Status" }, badge(issue.status), " ", marker),
      h("td", { "data-label": "Source" }, issue.source),
      h("td", { "data-label": "Traces", className: "number" }, String(issue.traceCount)),
      customers, lastSeen,
      h("td", { "data-label": "Created" }, when(issue.createdAt)));
  });
  const table = issues.length
    ? h("table", { className: "board" },
      h("caption", { className: "visually-hidden" }, "Issues"),
      h("thead", {}, h("tr", {}, ["Issue", "Severity", "Status", "Source", "Traces", "Customers", "Last seen", "Created"]
        .map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows))
    : h("p", { className: "empty" }, "No issue matches these filters.");

  const pages = Math.max(1, Math.ceil(pagination.total / pagination.limit));
  const pager = h("nav", { className: "pager", "aria-label": "Pages" },
    h("a", { href: hashOf({ ...filters, page: filters.page - 1 }), hidden: filters.page <= 1 }, "← Previous"),
    h("span", {}, `Page ${pagination.page} of ${pages} · ${pagination.total} issues`),
    h("a", { href: hashOf({ ...filters, page: filters.page + 1 }), hidden: !pagination.hasMore }, "Next →"));

  replace(view, h("h1", { tabindex: "-1" }, "Issues"), countList, form, table, pager);
}

// "↺ regressed" (×N past the first) when the issue reopened because its failure came back.
export function regressedMark(metadata) {
  if (!metadata.regressedAt) return null;
  const times = metadata.regressionCount > 1 ? ` ×${metadata.regressionCount}` : "";
  return h("span", { className: "badge badge-regressed regressed-mark",
    title: `Reopened: the failure came back after a fix closed it (last ${when(metadata.regressedAt)})` },
  h("span", { "aria-hidden": "true" }, "↺"), ` regressed${times}`);
}
