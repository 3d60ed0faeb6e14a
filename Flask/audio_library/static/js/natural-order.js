// Names in the order people expect, by the server's rule (names.natural_sort_key): without case, runs of digits
// by value ("Track 2" before "Track 10"), and names equal but for case by code point. Pure: no page needed.

// Python compares strings by code point; JavaScript's < compares UTF-16 units. Compare code points to agree:
// a surrogate (half of a character beyond U+FFFF) sorts after every other unit, as its character does.
export function compareCodePoints(a, b) {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xAstral = x >= 0xd800 && x <= 0xdfff;
      const yAstral = y >= 0xd800 && y <= 0xdfff;
      return xAstral === yAstral ? x - y : xAstral ? 1 : -1;
    }
  }
  return a.length - b.length;
}

// Upper then lower case folds as Python's casefold does ("ß" → "ss" included) but for these: the dotless "ı"
// stays, the capital "ẞ" is "ss", and Cherokee folds to its capitals. Upper case is the same one letter at a
// time, so the text folds piece by piece; lower case ends a word with "ς", which casefold makes "σ".
const UNLIKE_CASEFOLD = /[\u0131\u1e9e\u13a0-\u13fd\uab70-\uabbf]/gu;
const foldLike = (text) => text.toUpperCase().toLowerCase().replaceAll("ς", "σ");
const foldUnlike = (letter) => (letter === "\u0131" ? letter : letter === "\u1e9e" ? "ss" : letter.toUpperCase());

export function fold(text) {
  let folded = "";
  let position = 0;
  for (const letter of text.matchAll(UNLIKE_CASEFOLD)) {
    folded += foldLike(text.slice(position, letter.index)) + foldUnlike(letter[0]);
    position = letter.index + 1;
  }
  return folded + foldLike(text.slice(position));
}

// Python's \d is any decimal digit (category Nd), not only 0-9. Unicode encodes every script's digits in runs of
// ten from 0 to 9, so a digit's value is its distance from the start of its run (runs may follow each other).
const DIGITS = /\p{Nd}+/gu;
const IS_DIGIT = /^\p{Nd}$/u;

function digitValue(digit) {
  const code = digit.codePointAt(0);
  if (code <= 0x39) return code - 0x30;
  let start = code;
  while (IS_DIGIT.test(String.fromCodePoint(start - 1))) start -= 1;
  return (code - start) % 10;
}

// A number's value as text, without leading zeros: a longer one is a bigger number, as with Python's int().
function numberValue(digits) {
  const value = Array.from(digits, digitValue).join("");
  return value.replace(/^0+(?=.)/, "");
}

// A text's sort key: its runs of digits by value, the text between them without case. [0, value, digits] for
// a number (the value compared by length first), [1, "", folded] for text.
export function naturalKey(text) {
  const pieces = [];
  let position = 0;
  for (const number of text.matchAll(DIGITS)) {
    if (number.index > position) pieces.push([1, "", fold(text.slice(position, number.index))]);
    pieces.push([0, numberValue(number[0]), number[0]]);
    position = number.index + number[0].length;
  }
  if (position < text.length) pieces.push([1, "", fold(text.slice(position))]);
  return pieces;
}

export function compareKeys(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
    const [kind, value, text] = a[i];
    const [otherKind, otherValue, otherText] = b[i];
    const order =
      kind - otherKind ||
      value.length - otherValue.length ||
      compareCodePoints(value, otherValue) ||
      compareCodePoints(text, otherText);
    if (order) return order;
  }
  return a.length - b.length;
}

// Two names in the server's order: by their keys, then (equal but for case) by code point.
export function compareNames(a, b) {
  return compareKeys(naturalKey(a), naturalKey(b)) || compareCodePoints(a, b);
}
