// The page's natural order, by itself; test_same_rules.py checks it against the server's on generated names.
import assert from "node:assert/strict";
import { test } from "node:test";

import { compareCodePoints, compareNames, fold } from "../../Flask/audio_library/static/js/natural-order.js";

const sorted = (names) => [...names].sort(compareNames);

test("numbers sort by value and letters without case", () => {
  const names = ["Track 10.wav", "track 2.wav", "big.wav", "Tone A440.mp3", "Track 1.wav", "a9b.wav", "a10b.wav"];
  assert.deepEqual(sorted(names), [
    "a9b.wav",
    "a10b.wav",
    "big.wav",
    "Tone A440.mp3",
    "Track 1.wav",
    "track 2.wav",
    "Track 10.wav",
  ]);
});

test("a number comes before text at the same place", () => {
  assert.deepEqual(sorted(["b", "2", "a", "10"]), ["2", "10", "a", "b"]);
});

test("equal values written differently, or names equal but for case, still have one order", () => {
  assert.deepEqual(sorted(["7.wav", "07.wav", "007.wav"]), ["007.wav", "07.wav", "7.wav"]);
  assert.deepEqual(sorted(["abc", "ABC", "Abc"]), ["ABC", "Abc", "abc"]);
  assert.equal(compareNames("same", "same"), 0);
});

test("long numbers compare by value, beyond what a float holds", () => {
  assert.deepEqual(sorted(["x 100000000000000000001", "x 99999999999999999999", "x 3"]), [
    "x 3",
    "x 99999999999999999999",
    "x 100000000000000000001",
  ]);
});

test("other scripts' digits are numbers too, by value", () => {
  // ٢ and ١٠ are Arabic-Indic 2 and 10; 𝟗 is a mathematical 9 (beyond U+FFFF).
  const names = ["track ١٠", "track 3", "track ٢", "track 𝟗"];
  assert.deepEqual(sorted(names), ["track ٢", "track 3", "track 𝟗", "track ١٠"]);
});

test("code points, not UTF-16 units: a character beyond U+FFFF sorts after every other", () => {
  assert.ok(compareCodePoints("\u{1F600}", "\uFFFF") > 0);
  assert.ok(compareCodePoints("\uFFFF", "\u{1F600}") < 0);
  assert.ok(compareCodePoints("a", "ab") < 0);
  assert.deepEqual(sorted(["\u{1F600}", "\uFF5E", "z"]), ["z", "\uFF5E", "\u{1F600}"]);
});

test("case folds as Python's casefold, where upper then lower case would not", () => {
  assert.equal(fold("Straße"), "strasse");
  assert.equal(fold("STRAẞE"), "strasse");
  assert.equal(fold("ΟΔΟΣ"), "οδοσ"); // lower case would end the word with ς
  assert.equal(fold("ı"), "ı"); // dotless i is its own letter
  assert.equal(fold("ꭰ Ꭰ"), "Ꭰ Ꭰ"); // Cherokee folds to its capitals
  assert.equal(fold("İ"), "i\u0307");
});
