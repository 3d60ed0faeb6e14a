// What the filter box matches: name, title and artist, whatever the case or Unicode form.
import assert from "node:assert/strict";
import { test } from "node:test";

import { matches, normalized, searchText } from "../../Flask/audio_library/static/js/track-filter.js";

const entry = { name: "01 Intro.mp3", title: "Straße", artist: "Ｂｊöｒｋ", duration: 1, size: 1 };

test("the name, title and artist are searched, a line each", () => {
  assert.equal(searchText(entry), "01 Intro.mp3\nStraße\nＢｊöｒｋ");
  assert.equal(searchText({ name: "only.wav", title: null, artist: "" }), "only.wav");
});

test("neither case nor Unicode form matters", () => {
  assert.equal(normalized("ＢＪÖＲＫ"), "björk");
  assert.equal(normalized("o\u0308"), "ö");
  assert.equal(normalized("ﬁne"), "fine");
  assert.equal(normalized("STRASSE"), normalized("Straße"));
});

test("an entry matches a needle in any of its fields", () => {
  assert.ok(matches(entry, normalized("intro")));
  assert.ok(matches(entry, normalized("STRASSE")));
  assert.ok(matches(entry, normalized("björk")));
  assert.ok(!matches(entry, normalized("outro")));
});

test("the empty needle matches everything", () => {
  assert.ok(matches({ name: "x" }, ""));
});
