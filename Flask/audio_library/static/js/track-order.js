// The order of the track list: by name as the server sorts (the default), or by another column. Pure: entries
// are the API's objects ({name, title, artist, duration, size, ...}); no page needed.
import { compareCodePoints, compareKeys, naturalKey } from "./natural-order.js";

export const COLUMNS = ["name", "title", "artist", "duration", "size"];

// Sort keys, worked out once per entry (a library may have 20,000, and a sort compares each many times).
const keys = new WeakMap();
function keysOf(entry) {
  let known = keys.get(entry);
  if (!known) {
    known = {
      name: naturalKey(entry.name),
      title: entry.title ? naturalKey(entry.title) : null,
      artist: entry.artist ? naturalKey(entry.artist) : null,
    };
    keys.set(entry, known);
  }
  return known;
}

export function compareByName(a, b) {
  return compareKeys(keysOf(a).name, keysOf(b).name) || compareCodePoints(a.name, b.name);
}

function sortValue(entry, column) {
  if (column === "title" || column === "artist") return keysOf(entry)[column];
  return Number.isFinite(entry[column]) ? entry[column] : null;
}

// How to compare two entries by a column, either way; tracks without a value for it (no title, say) come last
// either way, by name, and ties go by name.
export function entryOrder(column, descending) {
  const direction = descending ? -1 : 1;
  if (column === "name") return (a, b) => direction * compareByName(a, b);
  return (a, b) => {
    const x = sortValue(a, column);
    const y = sortValue(b, column);
    if (x === null || y === null) return x === y ? compareByName(a, b) : x === null ? 1 : -1;
    const order = typeof x === "number" ? x - y : compareKeys(x, y);
    return direction * order || compareByName(a, b);
  };
}

// Where `item` goes in the `sorted` list: the first index whose item sorts after it.
export function insertionPoint(sorted, item, compare) {
  return bisect(sorted.length, (i) => compare(sorted[i], item) > 0);
}

// The first index of a sorted list of `count` items for which `after(i)` holds.
export function bisect(count, after) {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (after(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}
