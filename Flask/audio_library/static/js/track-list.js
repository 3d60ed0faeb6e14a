// Which tracks the table shows, in which order. The server renders the first page of rows by name; once the
// person filters, sorts or needs more than that page, the script loads every track from the API (the model)
// and shows only the rows on view: the first PAGE that match, then PAGE more at a time.
import { fetchListing } from "./api.js";
import { count } from "./formats.js";
import { matches, normalized } from "./track-filter.js";
import { compareByName, entryOrder, insertionPoint } from "./track-order.js";
import { changeSummary, forgetRow, knownRow, nextTrackRow, rowFor, tbody, trackRows } from "./track-rows.js";

const UNEXAMINED_POLL_MS = 2000; // how often to ask again while the server is still examining files
const RETRY_MS = 5000; // how long to wait after that question failed

const shownLine = document.getElementById("shown");
const more = document.getElementById("more");
const pager = document.getElementById("pager");
const unexaminedNote = document.getElementById("unexamined");
const PAGE = Number(shownLine.dataset.pageSize) || 500;

let model = null; // every entry, in the chosen order, once loaded
let shownList = []; // the entries that match the filter, in order
let rendered = 0; // how many of shownList are rows in the table
let query = ""; // the filter as typed, and as compared
let needle = "";
let order = { column: "name", descending: false };
let compare = entryOrder(order.column, order.descending);
let loading = null;

export function currentOrder() {
  return order;
}

// Rejects when the listing cannot be had; the next call asks again.
function loadModel() {
  loading ||= fetchListing().then(
    ({ entries, unexamined }) => {
      model = entries.sort(compare);
      showUnexamined(unexamined);
      return model;
    },
    (error) => {
      loading = null;
      throw error;
    },
  );
  return loading;
}

function describeShown() {
  shownLine.hidden = !model || !model.length;
  if (!shownList.length) shownLine.textContent = `No track matches “${query}”.`;
  else if (rendered === shownList.length) shownLine.textContent = needle ? `${rendered} matching tracks.` : "";
  else {
    const of = needle ? `${shownList.length} matching` : `${shownList.length}`;
    shownLine.textContent = `Showing 1–${rendered} of ${of} tracks.`;
  }
  more.hidden = rendered >= shownList.length;
}

function renderView() {
  shownList = model.filter((entry) => matches(entry, needle));
  rendered = Math.min(PAGE, shownList.length);
  tbody.replaceChildren(...shownList.slice(0, rendered).map(rowFor));
  if (pager) pager.hidden = true;
  describeShown();
}

function showMore() {
  const next = shownList.slice(rendered, rendered + PAGE);
  tbody.append(...next.map(rowFor));
  rendered += next.length;
  describeShown();
}

// The player reached `row`, the last row on view: bring the next page if there is one.
export function showMoreAfter(row) {
  if (model && rendered < shownList.length && !nextTrackRow(row)) showMore();
}

export async function setFilter(text) {
  query = text;
  needle = normalized(text.trim());
  await loadModel();
  renderView();
}

// Sort by a column; the list is sorted once the script has the whole listing. If it cannot get it, the order
// stays as it was and this answers false.
export async function sortBy(column, descending) {
  const before = order;
  order = { column, descending };
  compare = entryOrder(column, descending);
  try {
    if (!model) await loadModel(); // sorted as it arrives
    else model.sort(compare);
  } catch {
    order = before;
    compare = entryOrder(before.column, before.descending);
    return false;
  }
  renderView();
  return true;
}

// A track the server now has (uploaded, or examined at last), in its place; its row, or the row it already had.
export function addTrack(entry) {
  const known = knownRow(entry.name);
  if (known && known.isConnected) return known;
  if (!model) {
    // Without the model the order is the server's, by name: find the first row after the new one.
    const row = rowFor(entry);
    const rows = trackRows();
    const at = insertionPoint(rows, entry, (other, item) => compareByName({ name: other.dataset.name }, item));
    tbody.insertBefore(row, rows[at] || null);
    changeSummary(1, entry.size);
    return row;
  }
  if (model.some((listed) => listed.name === entry.name)) return rowFor(entry);
  model.splice(insertionPoint(model, entry, compare), 0, entry);
  changeSummary(1, entry.size);
  const row = rowFor(entry);
  if (!matches(entry, needle)) return row;
  const at = insertionPoint(shownList, entry, compare);
  const wasAll = rendered === shownList.length;
  shownList.splice(at, 0, entry);
  if (at < rendered || wasAll) {
    const following = shownList[at + 1] && knownRow(shownList[at + 1].name);
    tbody.insertBefore(row, following && following.parentNode === tbody ? following : null);
    rendered += 1;
  }
  describeShown();
  return row;
}

// A deleted track's row leaves the table, the model and the summary.
export function removeTrack(row) {
  const name = row.dataset.name;
  forgetRow(name);
  if (row.isConnected) rendered -= model ? 1 : 0;
  row.remove();
  if (model) {
    model = model.filter((entry) => entry.name !== name);
    shownList = shownList.filter((entry) => entry.name !== name);
    describeShown();
  }
  changeSummary(-1, -Number(row.dataset.size || 0));
}

// Files still being examined by the server: ask again until they are all listed; only new rows are added.
function showUnexamined(unexamined) {
  unexaminedNote.dataset.count = String(unexamined);
  unexaminedNote.hidden = unexamined === 0;
  const files = count(unexamined, "file is", "files are");
  unexaminedNote.textContent = `${files} still being examined; they are listed as soon as they are.`;
  if (unexamined) setTimeout(pollUnexamined, UNEXAMINED_POLL_MS);
}

async function pollUnexamined() {
  let listing;
  try {
    listing = await fetchListing();
  } catch {
    setTimeout(pollUnexamined, RETRY_MS);
    return;
  }
  const known = new Set(model.map((entry) => entry.name));
  for (const entry of listing.entries) if (!known.has(entry.name)) addTrack(entry);
  showUnexamined(listing.unexamined);
}

// A library bigger than one page, a filter given to the plain page (`initialQuery`), or files still being
// examined: the script takes the list over from the server's rows (which it reuses).
export function startTrackList(initialQuery) {
  more.addEventListener("click", showMore);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((seen) => seen.some((item) => item.isIntersecting) && showMore(), {
      rootMargin: "400px",
    }).observe(more);
  }
  if (pager || initialQuery || Number(unexaminedNote.dataset.count)) {
    query = initialQuery;
    needle = normalized(initialQuery.trim());
    loadModel().then(renderView, () => {});
  }
}
