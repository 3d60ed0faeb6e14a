// What the player loads for a track, and how long it waits for a copy being made. Pure: the browser's
// canPlayType comes in as a function, so no page is needed.
//
// A browser that can decode the stored type gets the stored file itself. One that cannot (canPlayType answers
// "") gets the server's playable copy: Opus in WebM where it plays that, else MP3 (Safari before WebM).

export const OPUS_IN_WEBM = "audio/webm; codecs=opus";
export const MAX_TRIES = 5; // requests for a copy while the server answers that its transcoders are busy
export const DEFAULT_RETRY_S = 5; // when a busy answer says nothing of when to come back
const MAX_RETRY_S = 30; // a Retry-After further off than this is waited for only this long

// { url, copy }: the URL to play the track at `fileUrl` of MIME type `type`, and whether it is a playable copy.
export function playbackSource(fileUrl, type, canPlayType) {
  if (type && canPlayType(type)) return { url: fileUrl, copy: false };
  return { url: playableUrl(fileUrl, canPlayType), copy: true };
}

// The playable copy this browser plays best.
export function playableUrl(fileUrl, canPlayType) {
  return `${fileUrl}/playable?as=${canPlayType(OPUS_IN_WEBM) ? "webm" : "mp3"}`;
}

// Milliseconds to wait before asking again, from a Retry-After header: seconds, or an HTTP date (`now` in
// milliseconds since the epoch). Missing or unreadable: DEFAULT_RETRY_S; never less than 0 or over MAX_RETRY_S.
export function retryDelay(header, now) {
  const text = (header || "").trim();
  let seconds = DEFAULT_RETRY_S;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (text.endsWith("GMT")) {
    const date = Date.parse(text);
    if (Number.isFinite(date)) seconds = (date - now) / 1000;
  }
  return Math.round(Math.min(MAX_RETRY_S, Math.max(0, seconds)) * 1000);
}
