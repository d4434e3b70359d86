// Thin client for the scheduler's HTTP API (/v1/..., proto3 JSON mapping, HTTP Basic auth).
let auth = sessionStorage.getItem('slotwise.auth') || '';

export function setCredentials(user, password) {
  auth = 'Basic ' + btoa(user + ':' + password);
  sessionStorage.setItem('slotwise.auth', auth);
  sessionStorage.setItem('slotwise.user', user);
}
export function clearCredentials() {
  auth = '';
  sessionStorage.removeItem('slotwise.auth');
  sessionStorage.removeItem('slotwise.user');
}
export const loggedIn = () => auth !== '';
export const userName = () => sessionStorage.getItem('slotwise.user') || '';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || ('HTTP ' + status));
    this.status = status;
    this.body = body;
  }
}

export async function api(method, path, body) {
  // X-Requested-With: the server leaves out WWW-Authenticate on a 401, so the
  // browser shows no login dialog of its own over the console's form.
  const headers = { Accept: 'application/json', 'X-Requested-With': 'slotwise-console' };
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { json = { message: text }; }
  if (!res.ok) throw new ApiError(res.status, json && (json.error || json));
  return json;
}

export const get = (path, query) => {
  const q = query ? '?' + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== '')) : '';
  return api('GET', path + q);
};
export const post = (path, body = {}) => api('POST', path, body);

// Server-Sent Events over fetch (EventSource cannot send an Authorization header).
// Calls onEvent({event, data}) per event; returns a function that stops the stream.
export function subscribe(path, onEvent) {
  const ctl = new AbortController();
  (async () => {
    for (;;) {
      try {
        const res = await fetch(path, { headers: { Authorization: auth, Accept: 'text/event-stream', 'X-Requested-With': 'slotwise-console' }, signal: ctl.signal });
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length) {
              let parsed = data.join('\n');
              try { parsed = JSON.parse(parsed); } catch { /* plain text */ }
              onEvent({ event, data: parsed });
            }
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      if (ctl.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 2000));  // reconnect
    }
  })();
  return () => ctl.abort();
}
