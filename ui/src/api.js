// ui/src/api.js — every call the dashboard makes to agentplane's JSON APIs.
//
// The user's key (from the key box) is kept in sessionStorage and sent as
// `Authorization: Bearer` on every call; without one, loopback clients of `agentplane up` act
// as the admin (local mode). Errors become ApiError with the server's message, which pages show
// as they are instead of an empty chart.

const kKeyName = 'agentplane.key';

export function getKey() { return sessionStorage.getItem(kKeyName) || ''; }
export function setKey(key) {
  if (key) sessionStorage.setItem(kKeyName, key);
  else sessionStorage.removeItem(kKeyName);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function get(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const url = path + (q.toString() ? '?' + q : '');
  const headers = { accept: 'application/json' };
  const key = getKey();
  if (key) headers.authorization = 'Bearer ' + key;
  let res;
  try {
    res = await fetch(url, { headers, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'agentplane is not reachable: ' + e.message);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const msg = body?.error?.message ?? body?.message ?? (text || res.statusText);
    throw new ApiError(res.status, `${res.status}: ${msg}`);
  }
  return body;
}

// The time range every page reads: the last `seconds`, ending now.
export function rangeParams(seconds) {
  const to = Date.now();
  return { from: to - seconds * 1000, to };
}
