// Delete from the table: a dialog asks first, then the outcome shows in the row's place, where the person who
// deleted it is looking, and goes away after a while (a failure stays until dismissed).
import { deleteFile } from "./api.js";
import { announce, dismissButton, noticeText } from "./messages.js";
import { forget } from "./player.js";
import { removeTrack } from "./track-list.js";
import { nextTrackRow, table } from "./track-rows.js";

const NOTE_LINGER_MS = 5000; // how long "Deleted." stays in the deleted row's place

const filterInput = document.getElementById("filter");

export async function deleteTrack(row) {
  const name = row.dataset.name;
  if (!window.confirm(`Delete “${name}” from the library? This cannot be undone.`)) return;
  const answer = await deleteFile(name);
  if (answer.outcome === "failed") {
    if (row.isConnected) row.after(rowNote("error", name, `Not deleted: ${answer.reason}`));
    return;
  }
  const note = rowNote("success", name, answer.outcome === "deleted" ? "Deleted." : "Already gone from the library.");
  const focused = row.contains(document.activeElement) || document.activeElement === document.body;
  row.before(note);
  forget(row);
  removeTrack(row);
  if (focused) note.cells[0].focus({ preventScroll: true });
  setTimeout(() => dropNote(note), NOTE_LINGER_MS);
}

// A message in the table, a row of its own.
function rowNote(kind, name, text) {
  const note = document.createElement("tr");
  note.className = `row-note notice-${kind}`;
  const cell = note.insertCell();
  // Across the columns on view: spanning a column hidden on a narrow screen would bring it back.
  cell.colSpan = Array.from(table.tHead.rows[0].cells).filter((th) => th.offsetWidth).length;
  cell.tabIndex = -1;
  const inner = document.createElement("div");
  inner.className = "row-note-inner";
  noticeText(inner, name, text);
  inner.append(dismissButton("Dismiss this message", () => dropNote(note)));
  cell.append(inner);
  announce(`${name}: ${text}`);
  return note;
}

// Focus inside a note that goes away moves on to the row now in its place.
function dropNote(note) {
  if (!note.isConnected) return;
  const hadFocus = note.contains(document.activeElement);
  const next = nextTrackRow(note);
  note.remove();
  if (hadFocus) (next ? next.querySelector(".track-name") : filterInput).focus();
}
