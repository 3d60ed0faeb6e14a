// The page's numbers and type names, as the server's Jinja filters write them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { count, formatDuration, formatName, formatSize } from "../../Flask/audio_library/static/js/formats.js";

test("durations are m:ss, or h:mm:ss from an hour", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(59.4), "0:59");
  assert.equal(formatDuration(61), "1:01");
  assert.equal(formatDuration(3599.6), "1:00:00");
  assert.equal(formatDuration(3 * 3600 + 5 * 60 + 7), "3:05:07");
});

test("a half second rounds to even, as Python's round()", () => {
  assert.equal(formatDuration(2.5), "0:02");
  assert.equal(formatDuration(3.5), "0:04");
  assert.equal(formatDuration(2.5000001), "0:03");
});

test("an unknown duration is a dash", () => {
  for (const unknown of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(formatDuration(unknown), "—");
  }
});

test("sizes in bytes, KiB, MiB and GiB, whole or to a tenth", () => {
  assert.equal(formatSize(0), "0 bytes");
  assert.equal(formatSize(812), "812 bytes");
  assert.equal(formatSize(1023), "1023 bytes");
  assert.equal(formatSize(1024), "1 KiB");
  assert.equal(formatSize(1536), "1.5 KiB");
  assert.equal(formatSize(1280), "1.2 KiB"); // 1.25: a tie goes to the even tenth, as in Python
  assert.equal(formatSize(1792), "1.8 KiB"); // 1.75
  assert.equal(formatSize(1300), "1.3 KiB");
  assert.equal(formatSize(50 * 1024 * 1024), "50 MiB");
  assert.equal(formatSize(1024 ** 3), "1 GiB");
  assert.equal(formatSize(5 * 1024 ** 4), "5120 GiB"); // no unit past GiB
});

const NAMES = { "audio/mpeg": "MP3", "audio/ogg": "Ogg", "audio/ogg; codecs=opus": "Opus" };

test("a type is named from the server's table, codecs first", () => {
  assert.equal(formatName("audio/mpeg", NAMES), "MP3");
  assert.equal(formatName("Audio/MPEG", NAMES), "MP3");
  assert.equal(formatName("audio/ogg; codecs=opus", NAMES), "Opus");
  assert.equal(formatName("audio/ogg;codecs=vorbis", NAMES), "Ogg");
});

test("an unknown type is named after its subtype", () => {
  assert.equal(formatName("audio/x-foo", NAMES), "FOO");
  assert.equal(formatName("audio/constructor", NAMES), "CONSTRUCTOR");
  assert.equal(formatName("", NAMES), "—");
  assert.equal(formatName(null, NAMES), "—");
});

test("counts say one or many", () => {
  assert.equal(count(1, "track", "tracks"), "1 track");
  assert.equal(count(0, "track", "tracks"), "0 tracks");
  assert.equal(count(2, "file is", "files are"), "2 files are");
});
