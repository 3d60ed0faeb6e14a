import { MAX_TRIES, retryDelay } from "./playback.js";

// The library's JSON API, as the page uses it: list, upload (with progress), delete and playable copies. Answers come back as
// plain outcomes; what to tell the person is the caller's business.

export function fileUrl(name) {
  return `/files/${encodeURIComponent(name)}`;
}

export const UNEXAMINED_HEADER = "X-Library-Unexamined";

// Every track of the library, sorted by name, and how many files the server is still examining. Rejects when
// the server cannot be reached or does not answer 200.
export async function fetchListing() {
  const response = await fetch("/api/files");
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const entries = await response.json();
  return { entries, unexamined: Number(response.headers.get(UNEXAMINED_HEADER)) || 0 };
}

// Delete a track: { outcome: "deleted" }, { outcome: "gone" } (it was not there), or { outcome: "failed",
// reason } with the server's sentence.
export async function deleteFile(name) {
  let response;
  try {
    response = await fetch(`/api/files/${encodeURIComponent(name)}`, { method: "DELETE" });
  } catch {
    return { outcome: "failed", reason: "the server is unreachable." };
  }
  if (response.ok) return { outcome: "deleted" };
  if (response.status === 404) return { outcome: "gone" };
  return { outcome: "failed", reason: await errorMessage(response) };
}

// Have the server make the playable copy at `url` (playback.js's playableUrl), asking again after each busy
// answer's Retry-After, MAX_TRIES times at most; `onWait(ms)` hears of each wait. A HEAD: the server answers it
// once the copy is made, and the player then loads the copy from its cache. Resolves, never rejects, to
// { outcome: "ready" }, { outcome: "busy" } (still busy after MAX_TRIES), { outcome: "unplayable" } (FFmpeg
// cannot decode the file), { outcome: "failed", reason } or { outcome: "cancelled" } (`signal` aborted).
export async function prepareCopy(url, signal, onWait) {
  for (let tries = 1; ; tries += 1) {
    let response;
    try {
      response = await fetch(url, { method: "HEAD", signal });
    } catch {
      return signal.aborted ? { outcome: "cancelled" } : { outcome: "failed", reason: "the server is unreachable." };
    }
    if (response.ok) return { outcome: "ready" };
    if (response.status === 422) return { outcome: "unplayable" };
    if (response.status === 404) return { outcome: "failed", reason: "it is no longer in the library." };
    if (response.status !== 503) return { outcome: "failed", reason: `the server answered ${response.status}.` };
    if (tries >= MAX_TRIES) return { outcome: "busy" };
    const delay = retryDelay(response.headers.get("Retry-After"), Date.now());
    onWait(delay);
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (signal.aborted) return { outcome: "cancelled" };
  }
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch {
    // Not JSON (a proxy's error page, say): fall back to the status line.
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

// Upload one file; `onProgress(fraction)` follows the bytes sent. Returns { done, cancel }: `done` resolves,
// never rejects, to { outcome: "stored", files } (the API's entries with their status), { outcome: "refused",
// status, error } (the server's sentence, or "" when it gave none), { outcome: "unreachable" } or
// { outcome: "cancelled" }. XMLHttpRequest, because fetch cannot report an upload's progress.
export function uploadFile(file, onProgress) {
  const request = new XMLHttpRequest();
  const done = new Promise((resolve) => {
    request.open("POST", "/api/files");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      const body = request.response || {};
      if (request.status === 200 || request.status === 201) resolve({ outcome: "stored", files: body.files || [] });
      else resolve({ outcome: "refused", status: request.status, error: body.error || "", name: body.name || "" });
    });
    request.addEventListener("error", () => resolve({ outcome: "unreachable" }));
    request.addEventListener("abort", () => resolve({ outcome: "cancelled" }));
    const form = new FormData();
    form.append("file", file, file.name);
    onProgress(0);
    request.send(form);
  });
  return { done, cancel: () => request.abort() };
}
