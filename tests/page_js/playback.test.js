// Which URL the player loads, from the track's type and the browser's canPlayType, and how long it waits.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULT_RETRY_S,
  OPUS_IN_WEBM,
  playableUrl,
  playbackSource,
  retryDelay,
} from "../../Flask/audio_library/static/js/playback.js";

// canPlayType of a browser that answers `answer` for each type in `answers`, and "" for the rest.
function browser(answers) {
  return (type) => answers[type] ?? "";
}

const CHROMIUM = browser({ "audio/mpeg": "probably", "audio/wav": "maybe", "audio/ogg": "maybe", [OPUS_IN_WEBM]: "probably" });
const SAFARI = browser({ "audio/mpeg": "maybe", "audio/aiff": "maybe", "audio/wav": "maybe" });
const FILE = "/files/t%20one.aiff";

test("a type the browser can play gets the stored file, with no copy", () => {
  assert.deepEqual(playbackSource("/files/a.mp3", "audio/mpeg", CHROMIUM), { url: "/files/a.mp3", copy: false });
  assert.deepEqual(playbackSource(FILE, "audio/aiff", SAFARI), { url: FILE, copy: false });
  assert.deepEqual(playbackSource("/files/a.ogg", "audio/ogg", CHROMIUM), { url: "/files/a.ogg", copy: false });
});

test("a type the browser cannot play gets the Opus copy where WebM Opus plays", () => {
  for (const type of ["audio/aiff", "audio/ac3", "audio/x-ms-wma", "audio/x-caf", "audio/x-wavpack"]) {
    assert.deepEqual(playbackSource(FILE, type, CHROMIUM), { url: `${FILE}/playable?as=webm`, copy: true });
  }
});

test("a browser without WebM Opus gets the MP3 copy", () => {
  assert.deepEqual(playbackSource(FILE, "audio/ac3", SAFARI), { url: `${FILE}/playable?as=mp3`, copy: true });
  assert.equal(playableUrl(FILE, SAFARI), `${FILE}/playable?as=mp3`);
});

test("an empty answer is no, any other is yes", () => {
  assert.equal(playbackSource(FILE, "audio/x", () => "").copy, true);
  assert.equal(playbackSource(FILE, "audio/x", () => "maybe").copy, false);
  assert.equal(playbackSource(FILE, "audio/x", () => "probably").copy, false);
});

test("an unknown type is never asked about: it gets the copy", () => {
  const asked = [];
  const source = playbackSource(FILE, "", (type) => {
    asked.push(type);
    return type === OPUS_IN_WEBM ? "probably" : "maybe";
  });
  assert.deepEqual(source, { url: `${FILE}/playable?as=webm`, copy: true });
  assert.deepEqual(asked, [OPUS_IN_WEBM]);
});

test("Retry-After in seconds", () => {
  assert.equal(retryDelay("5", 0), 5000);
  assert.equal(retryDelay("0", 0), 0);
  assert.equal(retryDelay(" 2 ", 0), 2000);
});

test("Retry-After as an HTTP date", () => {
  const now = Date.parse("Mon, 07 Dec 2026 20:00:00 GMT");
  assert.equal(retryDelay("Mon, 07 Dec 2026 20:00:03 GMT", now), 3000);
  assert.equal(retryDelay("Mon, 07 Dec 2026 19:59:00 GMT", now), 0);
});

test("a missing or unreadable Retry-After waits the default; a far one is capped", () => {
  assert.equal(retryDelay(null, 0), DEFAULT_RETRY_S * 1000);
  assert.equal(retryDelay("", 0), DEFAULT_RETRY_S * 1000);
  assert.equal(retryDelay("soon", 0), DEFAULT_RETRY_S * 1000);
  assert.equal(retryDelay("-3", 0), DEFAULT_RETRY_S * 1000);
  assert.equal(retryDelay("86400", 0), 30_000);
});

test("for any answers, the file itself exactly when its type may play, else one of its two copies", () => {
  const answers = ["", "maybe", "probably"];
  const types = ["audio/aiff", "audio/mpeg", "audio/x-ms-wma", "audio/ogg;codecs=opus", "", OPUS_IN_WEBM];
  let seed = 7;
  const pick = (list) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31; // a fixed sequence: the same cases every run
    return list[seed % list.length];
  };
  for (let round = 0; round < 500; round += 1) {
    const told = Object.fromEntries(types.map((type) => [type, pick(answers)]));
    const type = pick(types);
    const source = playbackSource(FILE, type, (asked) => told[asked] ?? "");
    const plays = Boolean(type) && told[type] !== "";
    const copy = `${FILE}/playable?as=${told[OPUS_IN_WEBM] ? "webm" : "mp3"}`;
    assert.deepEqual(source, plays ? { url: FILE, copy: false } : { url: copy, copy: true });
  }
});
