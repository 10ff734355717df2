// Talking to the server: the token, JSON helpers and single-flight loaders.

const TOKEN_KEY = 'nni-webui-token';

function pickToken(): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export const token = pickToken();
// The page is served at /<prefix>/ (or /<prefix>/oview ...): its folder is the API root.
export const base = new URL('.', location.href).pathname;
export const webui = base + 'api/v1/webui/';
// One experiment's portal inside the workspace lives at <root>exp/ID/; the workspace's own API is at the root.
export const root = base.replace(/exp\/[^/]+\/$/, '');
export const rootApi = root + 'api/v1/webui/';

export class ApiError extends Error {
  constructor(message: string, readonly status: number) { super(message); }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return token ? { ...extra, 'X-NNI-Token': token } : extra;
}

async function check(response: Response): Promise<Response> {
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') message = body.error;
  } catch { /* the body was not JSON: keep the status line */ }
  throw new ApiError(message, response.status);
}

export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

export async function getJson<T>(path: string, signal?: AbortSignal, api: string = webui): Promise<T> {
  const response = await check(await fetch(api + path, { headers: headers(), signal }));
  return await response.json() as T;
}

/** Save what the workspace API answers at `path` as a file named `name` (the token stays in a header). */
export async function download(path: string, name: string): Promise<void> {
  const response = await check(await fetch(rootApi + path, { headers: headers() }));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function getText(path: string): Promise<{ text: string; truncated: boolean; size: number }> {
  const response = await check(await fetch(webui + path, { headers: headers() }));
  return {
    text: await response.text(),
    truncated: response.headers.get('X-Truncated') === 'true',
    size: Number(response.headers.get('X-File-Size') || 0),
  };
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await check(await fetch(webui + path, {
    method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body),
  }));
  return await response.json() as T;
}

export function eventsUrl(): string {
  return webui + 'events' + query({ token });
}

/**
 * Runs `load` so that at most one call is in flight: asking again while it runs schedules exactly
 * one follow-up. Live updates can arrive faster than a slow request returns without piling up.
 */
export class SingleFlight {
  private running = false;
  private again = false;
  constructor(private readonly load: () => Promise<void>) {}
  request(): void {
    if (this.running) { this.again = true; return; }
    this.running = true;
    this.load().catch(reportError).finally(() => {
      this.running = false;
      if (this.again) { this.again = false; this.request(); }
    });
  }
}

let errorSink: (message: string) => void = (m) => console.warn(m);
export function onError(sink: (message: string) => void): void { errorSink = sink; }
export function reportError(error: unknown): void {
  if (error instanceof DOMException && error.name === 'AbortError') return;
  errorSink(error instanceof Error ? error.message : String(error));
}
