// The one player of the page: the table is its playlist. A row's button plays its track, or pauses the track
// it is playing, and says which; at the end of a track the next row plays.
import { showMoreAfter } from "./track-list.js";
import { nextTrackRow, trackRows } from "./track-rows.js";

const player = document.getElementById("player");
const nowTitle = document.getElementById("now-title");
const NOTHING_PLAYING = "Pick a track to play";

let current = null; // the row whose track is in the player

function showPlaying(row, playing) {
  row.classList.toggle("is-playing", playing);
  row.querySelector(".play").setAttribute("aria-label", `${playing ? "Pause" : "Play"} ${row.dataset.name}`);
}

function markCurrent(row) {
  if (current) {
    showPlaying(current, false);
    current.classList.remove("is-current");
  }
  current = row;
  if (row) row.classList.add("is-current");
}

export function play(row) {
  if (row === current) {
    if (player.paused) player.play().catch(() => {});
    else player.pause();
    return;
  }
  markCurrent(row);
  player.src = row.querySelector(".track-name").href;
  const title = row.querySelector(".c-title").textContent;
  const artist = row.querySelector(".c-artist").textContent;
  nowTitle.textContent = title ? [title, artist].filter(Boolean).join(" · ") : row.dataset.name;
  player.play().catch(() => {});
}

// A row that goes away (its track deleted) stops the player if it was playing it.
export function forget(row) {
  if (row !== current) return;
  player.pause();
  player.removeAttribute("src");
  player.load();
  markCurrent(null);
  nowTitle.textContent = NOTHING_PLAYING;
}

function step(offset) {
  const rows = trackRows();
  if (!rows.length) return;
  if (!current) {
    play(rows[offset > 0 ? 0 : rows.length - 1]);
    return;
  }
  const next = rows[rows.indexOf(current) + offset];
  if (next) play(next);
}

export function startPlayer() {
  player.addEventListener("play", () => current && showPlaying(current, true));
  player.addEventListener("pause", () => current && showPlaying(current, false));
  player.addEventListener("error", () => {
    if (current && player.getAttribute("src")) nowTitle.textContent = `Cannot play ${current.dataset.name}`;
  });
  player.addEventListener("ended", () => {
    if (!current) return;
    showMoreAfter(current);
    const next = nextTrackRow(current);
    if (next) play(next);
  });
  document.getElementById("previous").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));
}
