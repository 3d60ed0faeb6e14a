// The rows of the track table: made from the API's entries the way the server renders them, kept by name so
// that each is made once, and the summary line above them.
import { fileUrl } from "./api.js";
import { count, formatDuration, formatName, formatSize } from "./formats.js";

export const table = document.getElementById("tracks");
export const tbody = table.tBodies[0];
const rowTemplate = document.getElementById("row-template");
const summary = document.getElementById("summary");
const empty = document.getElementById("empty");
const formatNames = JSON.parse(document.getElementById("format-names").textContent);

// Every row made so far, on view or not, by track name: the server's rows to begin with.
const rowsByName = new Map();
for (const row of tbody.rows) rowsByName.set(row.dataset.name, row);

export function knownRow(name) {
  return rowsByName.get(name);
}

export function forgetRow(name) {
  rowsByName.delete(name);
}

// The row of an entry, made from the page's template the first time it is needed.
export function rowFor(entry) {
  let row = rowsByName.get(entry.name);
  if (!row) {
    row = rowTemplate.content.firstElementChild.cloneNode(true);
    fillRow(row, entry);
    rowsByName.set(entry.name, row);
  }
  return row;
}

function fillRow(row, entry) {
  const url = fileUrl(entry.name);
  row.dataset.name = entry.name;
  row.dataset.size = String(entry.size);
  row.dataset.type = entry.type || "";
  row.querySelector(".play").setAttribute("aria-label", `Play ${entry.name}`);
  const link = row.querySelector(".track-name");
  link.href = url;
  link.textContent = entry.name;
  row.querySelector(".c-title").textContent = entry.title || "";
  row.querySelector(".c-artist").textContent = entry.artist || "";
  row.querySelector(".track-tags").textContent = [entry.title, entry.artist].filter(Boolean).join(" · ");
  const cover = row.querySelector(".cover");
  cover.replaceChildren();
  if (entry.cover) {
    const image = new Image(40, 40);
    image.alt = "";
    image.loading = "lazy";
    image.decoding = "async";
    image.src = `${url}/cover`;
    cover.append(image);
  }
  row.querySelector(".c-format").textContent = formatName(entry.type, formatNames);
  row.querySelector(".c-duration").textContent = formatDuration(entry.duration);
  row.querySelector(".track-length").textContent = formatDuration(entry.duration);
  row.querySelector(".c-size").textContent = formatSize(entry.size);
  const download = row.querySelector(".download");
  download.href = `${url}?download=1`;
  download.setAttribute("aria-label", `Download ${entry.name}`);
  const remove = row.querySelector(".delete");
  remove.href = `/delete/${encodeURIComponent(entry.name)}`;
  remove.setAttribute("aria-label", `Delete ${entry.name}`);
}

// The table's track rows, without the notes that stand for a moment where a row was deleted.
export function trackRows() {
  return Array.from(tbody.querySelectorAll(":scope > tr[data-name]"));
}

export function nextTrackRow(row) {
  let next = row.nextElementSibling;
  while (next && !next.dataset.name) next = next.nextElementSibling;
  return next;
}

export function highlight(row) {
  row.classList.remove("is-new");
  void row.offsetWidth; // restart the animation when an existing row is highlighted again
  row.classList.add("is-new");
}

// "12 tracks · 40.5 MiB", after a track came or went.
export function changeSummary(countDelta, bytesDelta) {
  const tracks = Number(summary.dataset.count) + countDelta;
  const bytes = Number(summary.dataset.bytes) + bytesDelta;
  summary.dataset.count = String(tracks);
  summary.dataset.bytes = String(bytes);
  summary.textContent = `${count(tracks, "track", "tracks")} · ${formatSize(bytes)}`;
  table.hidden = tracks === 0;
  empty.hidden = tracks !== 0;
}

// A cover that cannot be loaded (the file changed since the page was made) leaves the placeholder, not a
// broken image; long names, clamped to two lines, show whole on hover, set only for rows a pointer visits.
export function startRows() {
  // Error events do not bubble: listen as they go down.
  tbody.addEventListener(
    "error",
    (event) => {
      if (event.target instanceof HTMLImageElement) event.target.remove();
    },
    true,
  );
  // A module runs once its imports have arrived, and a cover may have failed before: complete, but no picture
  // (a lazy cover not yet asked for is not complete).
  for (const image of tbody.querySelectorAll("img")) {
    if (image.complete && !image.naturalWidth) image.remove();
  }
  tbody.addEventListener("mouseover", (event) => {
    const link = event.target instanceof Element && event.target.closest(".track-name");
    if (link && !link.title) link.title = link.textContent;
  });
}
