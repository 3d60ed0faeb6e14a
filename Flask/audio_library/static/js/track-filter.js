// What the filter box matches, by the server's rules (page.search_text and page.normalized): the name, title
// and artist, with neither case nor Unicode form mattering. Pure: no page needed.
import { fold } from "./natural-order.js";

// As the server's page.normalized: NFKC, then folded as Python's casefold.
export function normalized(text) {
  return fold(text.normalize("NFKC"));
}

// As the server's page.search_text: the name, the title and the artist, a line each.
export function searchText(entry) {
  return [entry.name, entry.title, entry.artist].filter(Boolean).join("\n");
}

// Worked out once per entry: typing a filter tests every entry of the library at each key.
const texts = new WeakMap();

// Whether an entry matches a needle already normalized; the empty needle matches everything.
export function matches(entry, needle) {
  if (!needle) return true;
  let text = texts.get(entry);
  if (text === undefined) {
    text = normalized(searchText(entry));
    texts.set(entry, text);
  }
  return text.includes(needle);
}
