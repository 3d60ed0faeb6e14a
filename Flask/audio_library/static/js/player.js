// The one player of the page: the table is its playlist. A row's button plays its track, or pauses the track
// it is playing, and says which; at the end of a track the next row plays. A track whose format this browser
// cannot decode plays from the server's playable copy (playback.js decides), and the player says so while the
// copy is being made.
import { prepareCopy } from "./api.js";
import { playableUrl, playbackSource } from "./playback.js";
import { showMoreAfter } from "./track-list.js";
import { nextTrackRow, trackRows } from "./track-rows.js";

const player = document.getElementById("player");
const nowPlaying = document.getElementById("now-playing");
const nowTitle = document.getElementById("now-title");
const nowDownload = document.getElementById("now-download");
const NOTHING_PLAYING = "Pick a track to play";

let current = null; // the row whose track is in the player
let fromCopy = false; // whether it plays (or is to play) from a playable copy
let preparing = null; // the AbortController of the copy being asked for, while it is

const canPlayType = (type) => player.canPlayType(type);

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

// What the player bar says: a line, busy or not, and for a track that cannot be played here its download.
function tell(text, { busy = false, download = false } = {}) {
  nowTitle.textContent = text;
  nowPlaying.setAttribute("aria-busy", String(busy));
  nowDownload.hidden = !download;
  if (download && current) nowDownload.href = current.querySelector(".download").getAttribute("href");
}

function tellTitle(row) {
  const title = row.querySelector(".c-title").textContent;
  const artist = row.querySelector(".c-artist").textContent;
  tell(title ? [title, artist].filter(Boolean).join(" · ") : row.dataset.name);
}

function stopPreparing() {
  if (preparing) preparing.abort();
  preparing = null;
}

export function play(row) {
  if (row === current && preparing) return; // its copy is on its way: it plays when it comes
  if (row === current && player.getAttribute("src")) {
    if (player.paused) player.play().catch(() => {});
    else player.pause();
    return;
  }
  // A new track, or one that could not be played a moment ago: ask again.
  stopPreparing();
  markCurrent(row);
  const fileUrl = row.querySelector(".track-name").getAttribute("href");
  const source = playbackSource(fileUrl, row.dataset.type, canPlayType);
  if (source.copy) playCopy(row, source.url);
  else {
    fromCopy = false;
    start(row, source.url);
  }
}

function start(row, url) {
  tellTitle(row);
  player.src = url;
  player.play().catch(() => {});
}

// Play the playable copy at `url`, once the server has made it.
async function playCopy(row, url) {
  fromCopy = true;
  player.pause();
  player.removeAttribute("src");
  const name = row.dataset.name;
  tell(`Preparing ${name} for this browser…`, { busy: true });
  const controller = new AbortController();
  preparing = controller;
  const onWait = (ms) => {
    tell(`Preparing ${name}: the server is busy, trying again in ${Math.ceil(ms / 1000)} s…`, { busy: true });
  };
  const result = await prepareCopy(url, controller.signal, onWait);
  if (preparing !== controller) return; // another track was picked meanwhile
  preparing = null;
  if (result.outcome === "ready") start(row, url);
  else if (result.outcome === "unplayable") tell(`${name} cannot be played in this browser.`, { download: true });
  else if (result.outcome === "busy") {
    tell(`Cannot play ${name} yet: the server is busy making other copies. Try again in a minute.`, { download: true });
  } else tell(`Cannot play ${name}: ${result.reason}`, { download: true });
}

// A row that goes away (its track deleted) stops the player if it was playing it.
export function forget(row) {
  if (row !== current) return;
  stopPreparing();
  player.pause();
  player.removeAttribute("src");
  player.load();
  markCurrent(null);
  tell(NOTHING_PLAYING);
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

// The stored file would not play after all (a browser says "maybe" to an M4A, then meets ALAC in it): its
// copy is tried once; a copy that will not play either is the end of it.
function failed() {
  if (!current || !player.getAttribute("src")) return;
  if (fromCopy) {
    player.removeAttribute("src"); // so that a click on the track asks again
    tell(`Cannot play ${current.dataset.name}`, { download: true });
  } else playCopy(current, playableUrl(current.querySelector(".track-name").getAttribute("href"), canPlayType));
}

export function startPlayer() {
  player.addEventListener("play", () => current && showPlaying(current, true));
  player.addEventListener("pause", () => current && showPlaying(current, false));
  player.addEventListener("error", failed);
  player.addEventListener("ended", () => {
    if (!current) return;
    showMoreAfter(current);
    const next = nextTrackRow(current);
    if (next) play(next);
  });
  document.getElementById("previous").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));
}
