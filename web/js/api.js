// The one way the app talks to the service: JSON over fetch, the access token, and errors as ApiError
// (status, problem code and human words from errors.js). The session (token and account) lives in
// localStorage so every tab shares it; views listen for "session" events to redraw.

import { explain, OFFLINE_MESSAGE, problemCode } from "./errors.js";

const TOKEN_KEY = "seatwise.token";
const ACCOUNT_KEY = "seatwise.account";
const EXPIRES_KEY = "seatwise.expires";

export class ApiError extends Error {
  constructor(problem, message) {
    super(message);
    this.name = "ApiError";
    this.problem = problem;
    this.status = problem.status;
    this.code = problemCode(problem);
    this.seats = problem.seats || [];
    this.retryAfter = problem.retryAfter || null;
  }

  /** The same failure in words chosen for one place in the app (see errors.explain). */
  explain(context) {
    return explain(this.problem, context);
  }
}

export const session = {
  get token() {
    const token = localStorage.getItem(TOKEN_KEY);
    const expires = Number(localStorage.getItem(EXPIRES_KEY) || 0);
    if (token && expires && Date.now() > expires) {
      this.clear();
      return null;
    }
    return token;
  },
  get account() {
    try {
      return JSON.parse(localStorage.getItem(ACCOUNT_KEY) || "null");
    } catch {
      return null;
    }
  },
  get role() {
    return this.account?.role || null;
  },
  signedIn() {
    return Boolean(this.token && this.account);
  },
  set(token, account, expiresInSeconds) {
    localStorage.setItem(TOKEN_KEY, token);
    if (expiresInSeconds) localStorage.setItem(EXPIRES_KEY, String(Date.now() + (expiresInSeconds - 30) * 1000));
    localStorage.setItem(ACCOUNT_KEY, JSON.stringify(account));
    window.dispatchEvent(new CustomEvent("session"));
  },
  clear() {
    const had = localStorage.getItem(TOKEN_KEY) !== null;
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(EXPIRES_KEY);
    localStorage.removeItem(ACCOUNT_KEY);
    if (had) window.dispatchEvent(new CustomEvent("session"));
  },
};

// Another tab signed in or out.
window.addEventListener("storage", (event) => {
  if (event.key === TOKEN_KEY || event.key === ACCOUNT_KEY) window.dispatchEvent(new CustomEvent("session"));
});

/**
 * Call the API. options: method, json (a body to send as JSON), form (URLSearchParams), query (object),
 * idempotencyKey, auth (default true: send the stored token when there is one), token (send this one
 * instead), signal.
 * Resolves to the parsed JSON (or null for 204); rejects with ApiError.
 */
export async function api(path, options = {}) {
  const { method = "GET", json, form, query, idempotencyKey, auth = true, token, signal } = options;
  let url = path.startsWith("/") ? path : `/api/v1/${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const headers = { Accept: "application/json, application/problem+json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const bearer = token || (auth ? session.token : null);
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;

  let response;
  try {
    response = await fetch(url, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    const problem = { type: "about:blank#offline", title: "Offline", status: 0, detail: String(error) };
    throw new ApiError(problem, OFFLINE_MESSAGE);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;

  const problem =
    data && typeof data === "object" && "status" in data
      ? { ...data }
      : { type: "about:blank", title: response.statusText, status: response.status, detail: response.statusText };
  problem.status = response.status;
  const retry = Number(response.headers.get("Retry-After"));
  if (Number.isFinite(retry) && retry > 0) problem.retryAfter = retry;
  if (response.status === 401 && auth && !token && session.token) session.clear();
  throw new ApiError(problem, explain(problem));
}

/** Sign in with the OAuth2 password flow, then load the account (its role decides the menus). */
export async function signIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  let token;
  try {
    token = await api("auth/token", { method: "POST", form, auth: false });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new ApiError(error.problem, "That e-mail and password don't match an account.");
    }
    throw error;
  }
  const me = await api("auth/me", { token: token.access_token });
  session.set(token.access_token, me, token.expires_in);
  return me;
}

export async function register(email, password, name) {
  await api("auth/register", { method: "POST", json: { email, password, name: name || undefined }, auth: false });
  return signIn(email, password);
}

export function signOut() {
  session.clear();
}
