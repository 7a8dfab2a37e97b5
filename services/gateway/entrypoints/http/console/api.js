// The public REST API, with the key the user signed in with. The key lives in sessionStorage
// (this browser tab's session) and is sent only in the Authorization header.

const KEY = "agent-reliability.api-key";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

// Answers {data, pagination, etag}; throws ApiError with the envelope's code and message.
export async function call(method, path, { body, query, key, ifMatch } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${key || session.key() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "NETWORK", "The gateway cannot be reached; check that it runs and try again.");
  }
  const envelope = await response.json().catch(() => ({}));
  if (!response.ok || envelope.success === false) {
    const error = envelope.error || {};
    const failure = new ApiError(response.status, error.code || "HTTP_" + response.status,
      error.message || `${response.status} ${response.statusText}`, error.details);
    if (response.status === 401 && !key) onUnauthorized(failure);
    throw failure;
  }
  return { data: envelope.data, pagination: envelope.pagination, etag: response.headers.get("ETag") };
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });
export const patch = (path, body, ifMatch) => call("PATCH", path, { body, ifMatch });

// A message a person can act on, with each offending field the API named.
export function explain(error) {
  const details = (error.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
  return details ? `${error.message} (${details})` : error.message;
}
