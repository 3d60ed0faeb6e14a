// The track list's order by each column, and where a new track goes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bisect, entryOrder, insertionPoint } from "../../Flask/audio_library/static/js/track-order.js";

const track = (name, fields = {}) => ({ name, title: null, artist: null, duration: null, size: 0, ...fields });
const TRACKS = [
  track("b 10.wav", { title: "Song 2", artist: "zed", duration: 30, size: 300 }),
  track("B 9.wav", { title: "song 10", duration: 10, size: 100 }),
  track("a.wav", { artist: "Ann", duration: 20, size: 300 }),
  track("c.wav", {}),
];
const names = (column, descending) => [...TRACKS].sort(entryOrder(column, descending)).map((entry) => entry.name);

test("by name, naturally, either way", () => {
  assert.deepEqual(names("name", false), ["a.wav", "B 9.wav", "b 10.wav", "c.wav"]);
  assert.deepEqual(names("name", true), ["c.wav", "b 10.wav", "B 9.wav", "a.wav"]);
});

test("by title or artist, naturally; tracks without one come last either way, by name", () => {
  assert.deepEqual(names("title", false), ["b 10.wav", "B 9.wav", "a.wav", "c.wav"]);
  assert.deepEqual(names("title", true), ["B 9.wav", "b 10.wav", "a.wav", "c.wav"]);
  assert.deepEqual(names("artist", false), ["a.wav", "b 10.wav", "B 9.wav", "c.wav"]);
  assert.deepEqual(names("artist", true), ["b 10.wav", "a.wav", "B 9.wav", "c.wav"]);
});

test("by number; ties go by name, unknown durations last", () => {
  assert.deepEqual(names("duration", false), ["B 9.wav", "a.wav", "b 10.wav", "c.wav"]);
  assert.deepEqual(names("duration", true), ["b 10.wav", "a.wav", "B 9.wav", "c.wav"]);
  assert.deepEqual(names("size", false), ["c.wav", "B 9.wav", "a.wav", "b 10.wav"]);
  assert.deepEqual(names("size", true), ["a.wav", "b 10.wav", "B 9.wav", "c.wav"]);
});

test("a new track goes where a full sort would put it", () => {
  for (const column of ["name", "title", "artist", "duration", "size"]) {
    for (const descending of [false, true]) {
      const compare = entryOrder(column, descending);
      const list = [];
      for (const entry of TRACKS) list.splice(insertionPoint(list, entry, compare), 0, entry);
      assert.deepEqual(list, [...TRACKS].sort(compare), `${column} ${descending ? "descending" : "ascending"}`);
    }
  }
});

test("bisect finds the first index after, at either end too", () => {
  const values = [1, 3, 3, 5];
  assert.equal(bisect(values.length, (i) => values[i] > 3), 3);
  assert.equal(bisect(values.length, (i) => values[i] > 0), 0);
  assert.equal(bisect(values.length, (i) => values[i] > 9), 4);
  assert.equal(bisect(0, () => true), 0);
});
