// The library page's behaviour: one shared player with a playlist, uploads with progress, drag and drop,
// and delete. The page works without this script (plain form posts); this makes it quicker to use.
// Names come from users: they are only ever set with textContent and attributes, never parsed as HTML.
"use strict";

(() => {
  const UPLOADS_AT_ONCE = 3;
  const NON_AUDIO = "Non-audio file detected";
  const DONE_LINGER_MS = 6000; // how long a successful upload's line stays; failures stay until dismissed
  const NOTE_LINGER_MS = 5000; // how long "Deleted." stays in the deleted row's place

  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const notices = document.getElementById("notices");
  const uploadPanel = document.getElementById("upload-panel");
  const uploads = document.getElementById("uploads");
  const uploadTally = document.getElementById("upload-tally");
  const clearUploads = document.getElementById("clear-uploads");
  const announcer = document.getElementById("announcer");
  const table = document.getElementById("tracks");
  const tbody = table.tBodies[0];
  const empty = document.getElementById("empty");
  const summary = document.getElementById("summary");
  const rowTemplate = document.getElementById("row-template");
  const player = document.getElementById("player");
  const nowTitle = document.getElementById("now-title");
  const overlay = document.getElementById("drop-overlay");
  const formatNames = JSON.parse(document.getElementById("format-names").textContent);
  const maxSize = Number(form.dataset.maxSize) || Infinity;

  // ---- Formatting (the same rules as the page's Jinja filters) ----

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
    const total = Math.round(seconds);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  // The server's errors.human_size: 812 → "812 bytes", 1536 → "1.5 KiB", 1073741824 → "1 GiB".
  function formatSize(bytes) {
    const units = ["bytes", "KiB", "MiB", "GiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
  }

  function formatName(type) {
    const [bare, codecs] = (type || "").toLowerCase().split(";").map((part) => part.trim());
    if (formatNames[`${bare}; ${codecs}`]) return formatNames[`${bare}; ${codecs}`];
    if (formatNames[bare]) return formatNames[bare];
    const subtype = bare.split("/")[1] || "";
    return subtype.replace(/^x-/, "").toUpperCase() || "—";
  }

  function fileUrl(name) {
    return `/files/${encodeURIComponent(name)}`;
  }

  // ---- Order: names as the server sorts them (names.natural_sort_key), or by another column ----

  // Python compares strings by code point; JavaScript's < compares UTF-16 units. Compare code points to agree:
  // a surrogate (half of a character beyond U+FFFF) sorts after every other unit, as its character does.
  function compareCodePoints(a, b) {
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

  // Upper then lower case folds as Python's casefold does for all but a few letters ("ß" → "ss" included).
  const fold = (text) => text.toUpperCase().toLowerCase();

  // A text's sort key: its runs of digits by value, the text between them without case. [0, value, digits] for
  // a number (the value without leading zeros, compared by length first), [1, "", folded] for text.
  function naturalKey(text) {
    const pieces = [];
    let position = 0;
    for (const number of text.matchAll(/[0-9]+/g)) {
      if (number.index > position) pieces.push([1, "", fold(text.slice(position, number.index))]);
      pieces.push([0, number[0].replace(/^0+(?=.)/, ""), number[0]]);
      position = number.index + number[0].length;
    }
    if (position < text.length) pieces.push([1, "", fold(text.slice(position))]);
    return pieces;
  }

  function compareKeys(a, b) {
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

  // What sorting and filtering need of an entry, worked out once per entry (a library may have 20,000).
  const derived = new WeakMap();
  function derive(entry) {
    let known = derived.get(entry);
    if (!known) {
      known = {
        name: naturalKey(entry.name),
        title: entry.title ? naturalKey(entry.title) : null,
        artist: entry.artist ? naturalKey(entry.artist) : null,
        text: normalized(searchText(entry)),
      };
      derived.set(entry, known);
    }
    return known;
  }

  function compareByName(a, b) {
    return compareKeys(derive(a).name, derive(b).name) || compareCodePoints(a.name, b.name);
  }

  let sortKey = "name"; // a column: name, title, artist, duration or size
  let descending = false;

  function sortValue(entry) {
    if (sortKey === "title" || sortKey === "artist") return derive(entry)[sortKey];
    return Number.isFinite(entry[sortKey]) ? entry[sortKey] : null;
  }

  // The chosen column's order; tracks without a value for it (no title, say) come last either way, by name.
  function compareEntries(a, b) {
    const direction = descending ? -1 : 1;
    if (sortKey === "name") return direction * compareByName(a, b);
    const x = sortValue(a);
    const y = sortValue(b);
    if (x === null || y === null) return x === y ? compareByName(a, b) : x === null ? 1 : -1;
    const order = typeof x === "number" ? x - y : compareKeys(x, y);
    return direction * order || compareByName(a, b);
  }

  // The first index of a sorted list of `count` items whose item sorts after the new one (`after(i)`).
  function bisect(count, after) {
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (after(middle)) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  // ---- The table ----

  const rowsByName = new Map();
  for (const row of tbody.rows) rowsByName.set(row.dataset.name, row);

  // The table's track rows, without the notes that stand for a moment where a row was deleted.
  function trackRows() {
    return Array.from(tbody.querySelectorAll(":scope > tr[data-name]"));
  }

  function nextTrackRow(row) {
    let next = row.nextElementSibling;
    while (next && !next.dataset.name) next = next.nextElementSibling;
    return next;
  }

  function setSummary(countDelta, bytesDelta) {
    const count = Number(summary.dataset.count) + countDelta;
    const bytes = Number(summary.dataset.bytes) + bytesDelta;
    summary.dataset.count = String(count);
    summary.dataset.bytes = String(bytes);
    summary.textContent = `${count} ${count === 1 ? "track" : "tracks"} · ${formatSize(bytes)}`;
    table.hidden = count === 0;
    empty.hidden = count !== 0;
  }

  function fillRow(row, entry) {
    const url = fileUrl(entry.name);
    row.dataset.name = entry.name;
    row.dataset.size = String(entry.size);
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
    row.querySelector(".c-format").textContent = formatName(entry.type);
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

  // ---- The model: every track of the library, loaded from the API once the page needs more than its rows ----

  const PAGE = Number(document.getElementById("shown").dataset.pageSize) || 500;
  const filterForm = document.getElementById("filter-form");
  const filterInput = document.getElementById("filter");
  const shownLine = document.getElementById("shown");
  const more = document.getElementById("more");
  const pager = document.getElementById("pager");
  const unexaminedNote = document.getElementById("unexamined");
  let model = null; // every entry, sorted by name, once loaded
  let shownList = []; // the entries that match the filter, sorted
  let rendered = 0; // how many of shownList are rows in the table
  let needle = "";

  // What the filter matches, as the server's page.search_text: the name, the title and the artist.
  function searchText(entry) {
    return [entry.name, entry.title, entry.artist].filter(Boolean).join("\n");
  }

  // As the server's page.normalized: neither case nor Unicode form matters.
  function normalized(text) {
    return text.normalize("NFKC").toLowerCase();
  }

  function matches(entry) {
    return !needle || derive(entry).text.includes(needle);
  }

  let loading = null;
  function loadModel() {
    loading ||= fetch("/api/files").then(async (response) => {
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      model = (await response.json()).sort(compareEntries);
      showUnexamined(Number(response.headers.get("X-Library-Unexamined")) || 0);
      return model;
    });
    return loading;
  }

  function rowFor(entry) {
    let row = rowsByName.get(entry.name);
    if (!row) {
      row = rowTemplate.content.firstElementChild.cloneNode(true);
      fillRow(row, entry);
      rowsByName.set(entry.name, row);
    }
    return row;
  }

  function describeShown() {
    shownLine.hidden = !model || !model.length;
    if (!shownList.length) shownLine.textContent = `No track matches “${filterInput.value}”.`;
    else if (rendered === shownList.length) shownLine.textContent = needle ? `${rendered} matching tracks.` : "";
    else {
      const of = needle ? `${shownList.length} matching` : `${shownList.length}`;
      shownLine.textContent = `Showing 1–${rendered} of ${of} tracks.`;
    }
    more.hidden = rendered >= shownList.length;
  }

  // Only the rows on view are in the document: the first PAGE matches, then PAGE more at a time.
  function renderView() {
    shownList = model.filter(matches);
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

  more.addEventListener("click", showMore);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((seen) => seen.some((item) => item.isIntersecting) && showMore(), {
      rootMargin: "400px",
    }).observe(more);
  }

  let filterTimer = 0;
  filterInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(async () => {
      needle = normalized(filterInput.value.trim());
      await loadModel();
      renderView();
    }, 80);
  });
  filterForm.addEventListener("submit", (event) => event.preventDefault());

  // Sorting: the column headers become buttons (aria-sort says the order); narrow screens, which have no room
  // for every column, get the same choices in a menu.
  const sortHeaders = Array.from(table.tHead.querySelectorAll("th[data-sort]"));
  const sortMenu = document.getElementById("sort-by");

  function showSort() {
    for (const header of sortHeaders) {
      if (header.dataset.sort === sortKey) header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else header.removeAttribute("aria-sort");
    }
    sortMenu.value = `${sortKey} ${descending ? "descending" : "ascending"}`;
  }

  // The list is sorted once the script has the whole listing; if it cannot get it, the order stays as it was.
  async function sortBy(key, isDescending) {
    const before = [sortKey, descending];
    sortKey = key;
    descending = isDescending;
    showSort();
    try {
      if (!model) await loadModel(); // sorted as it arrives
      else model.sort(compareEntries);
    } catch {
      loading = null;
      [sortKey, descending] = before;
      showSort();
      return;
    }
    renderView();
  }

  for (const header of sortHeaders) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort-button";
    button.append(...header.childNodes);
    header.append(button);
    button.addEventListener("click", () => {
      const key = header.dataset.sort;
      sortBy(key, key === sortKey && !descending);
    });
  }
  sortMenu.addEventListener("change", () => {
    const [key, order] = sortMenu.value.split(" ");
    sortBy(key, order === "descending");
  });
  showSort();

  // Files still being examined by the server: ask again until they are all listed; only new rows are added.
  function showUnexamined(count) {
    unexaminedNote.dataset.count = String(count);
    unexaminedNote.hidden = count === 0;
    unexaminedNote.textContent = `${count} ${count === 1 ? "file is" : "files are"} still being examined; they are listed as soon as they are.`;
    if (count) setTimeout(pollUnexamined, 2000);
  }

  async function pollUnexamined() {
    let response;
    try {
      response = await fetch("/api/files");
      if (!response.ok) throw new Error(String(response.status));
    } catch {
      setTimeout(pollUnexamined, 5000);
      return;
    }
    const known = new Set(model.map((entry) => entry.name));
    for (const entry of await response.json()) if (!known.has(entry.name)) addTrack(entry);
    showUnexamined(Number(response.headers.get("X-Library-Unexamined")) || 0);
  }

  function addTrack(entry) {
    const known = rowsByName.get(entry.name);
    if (known && known.isConnected) return known;
    if (model) {
      if (model.some((listed) => listed.name === entry.name)) return rowFor(entry);
      model.splice(bisect(model.length, (i) => compareEntries(model[i], entry) > 0), 0, entry);
      setSummary(1, entry.size);
      const row = rowFor(entry);
      if (!matches(entry)) return row;
      const at = bisect(shownList.length, (i) => compareEntries(shownList[i], entry) > 0);
      const wasAll = rendered === shownList.length;
      shownList.splice(at, 0, entry);
      if (at < rendered || wasAll) {
        const following = shownList[at + 1] && rowsByName.get(shownList[at + 1].name);
        tbody.insertBefore(row, following && following.parentNode === tbody ? following : null);
        rendered += 1;
      }
      describeShown();
      return row;
    }
    const row = rowFor(entry);
    // Without the model the order is the server's, by name: find the first row after the new one.
    const rows = trackRows();
    const at = bisect(rows.length, (i) => compareByName({ name: rows[i].dataset.name }, entry) > 0);
    tbody.insertBefore(row, rows[at] || null);
    setSummary(1, entry.size);
    return row;
  }

  function highlight(row) {
    row.classList.remove("is-new");
    void row.offsetWidth; // restart the animation when an existing row is highlighted again
    row.classList.add("is-new");
  }

  function removeTrack(row) {
    if (row === current) stop();
    const name = row.dataset.name;
    rowsByName.delete(name);
    if (row.isConnected) rendered -= model ? 1 : 0;
    row.remove();
    if (model) {
      model = model.filter((entry) => entry.name !== name);
      shownList = shownList.filter((entry) => entry.name !== name);
      describeShown();
    }
    setSummary(-1, -Number(row.dataset.size || 0));
  }

  // ---- The player: the table is the playlist ----

  let current = null;

  // The row's button pauses the track it is playing, and says so.
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

  function play(row) {
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

  function stop() {
    player.pause();
    player.removeAttribute("src");
    player.load();
    markCurrent(null);
    nowTitle.textContent = "Pick a track to play";
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

  // A library bigger than one page, a filter given to the plain page, or files still being examined: the
  // script takes the list over from the server's rows (which it reuses).
  if (pager || filterInput.value || Number(unexaminedNote.dataset.count)) {
    needle = normalized(filterInput.value.trim());
    loadModel().then(renderView, () => {});
  }

  player.addEventListener("play", () => current && showPlaying(current, true));
  player.addEventListener("pause", () => current && showPlaying(current, false));
  player.addEventListener("error", () => {
    if (current && player.getAttribute("src")) nowTitle.textContent = `Cannot play ${current.dataset.name}`;
  });
  player.addEventListener("ended", () => {
    if (current && !nextTrackRow(current) && model && rendered < shownList.length) showMore();
    const next = current && nextTrackRow(current);
    if (next) play(next);
  });
  document.getElementById("previous").addEventListener("click", () => step(-1));
  document.getElementById("next").addEventListener("click", () => step(1));

  // ---- Messages: each can be dismissed; the outcome of a delete shows in the row's place ----

  function dismissButton(label, dismiss) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "icon-button dismiss";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", dismiss);
    return button;
  }

  function noticeText(container, name, text) {
    if (name) {
      const label = document.createElement("span");
      label.className = "notice-name";
      label.textContent = name;
      container.append(label);
    }
    const message = document.createElement("span");
    message.className = "notice-text";
    message.textContent = text;
    container.append(message);
  }

  // The server's messages (after a plain form post, or an error page) get a button to dismiss them.
  for (const notice of notices.querySelectorAll(".notice")) {
    notice.append(dismissButton("Dismiss this message", () => notice.remove()));
  }

  // A message in the table, where the person who deleted a row is looking.
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
    announcer.textContent = `${name}: ${text}`;
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

  // ---- Delete ----

  async function deleteTrack(row) {
    const name = row.dataset.name;
    if (!window.confirm(`Delete “${name}” from the library? This cannot be undone.`)) return;
    let failure = "";
    try {
      const response = await fetch(`/api/files/${encodeURIComponent(name)}`, { method: "DELETE" });
      if (response.ok || response.status === 404) {
        const note = rowNote("success", name, response.ok ? "Deleted." : "Already gone from the library.");
        const focused = row.contains(document.activeElement) || document.activeElement === document.body;
        row.before(note);
        removeTrack(row);
        if (focused) note.cells[0].focus({ preventScroll: true });
        setTimeout(() => dropNote(note), NOTE_LINGER_MS);
        return;
      }
      failure = `Not deleted: ${await errorMessage(response)}`;
    } catch {
      failure = "Not deleted: the server is unreachable.";
    }
    if (row.isConnected) row.after(rowNote("error", name, failure));
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch {
      // Not JSON (a proxy's error page, say): fall back to the status line.
    }
    return `the server answered ${response.status} ${response.statusText}`.trim();
  }

  // A cover that cannot be loaded (the file changed since the page was made) leaves the placeholder, not a
  // broken image. Error events do not bubble: listen as they go down.
  tbody.addEventListener(
    "error",
    (event) => {
      if (event.target instanceof HTMLImageElement) event.target.remove();
    },
    true,
  );

  // Long names are clamped to two lines; the whole name shows on hover, set only for rows a pointer visits.
  tbody.addEventListener("mouseover", (event) => {
    const link = event.target instanceof Element && event.target.closest(".track-name");
    if (link && !link.title) link.title = link.textContent;
  });

  tbody.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const row = event.target.closest("tr");
    if (!row) return;
    if (event.target.closest(".play")) {
      play(row);
      return;
    }
    // A plain click on a name plays it and on delete asks in a dialog; modified clicks (new tab, save) keep
    // the links' own behaviour: the file, or the confirmation page.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    if (event.target.closest(".delete")) {
      event.preventDefault();
      deleteTrack(row);
    } else if (event.target.closest(".track-name")) {
      event.preventDefault();
      play(row);
    }
  });

  // ---- Upload: one request per file, each with its own progress ----

  const queue = [];
  let running = 0;

  function uploadItem(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    const main = document.createElement("span");
    main.className = "upload-main";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "Waiting…";
    main.append(name, status);
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "link-button";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `Cancel the upload of ${file.name}`);
    const progress = document.createElement("progress");
    progress.className = "upload-progress";
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload of ${file.name}`);
    item.append(main, cancel, progress);
    uploadPanel.hidden = false;
    uploads.prepend(item);
    tallyUploads();
    const finish = (outcome, text) => {
      item.classList.add(outcome);
      status.textContent = text;
      cancel.replaceWith(dismissButton(`Dismiss the message about ${file.name}`, () => dropUpload(item)));
      announcer.textContent = `${file.name}: ${text}`;
      tallyUploads();
      if (outcome === "is-done") lingerThenDrop(item);
    };
    const upload = {
      file,
      onCancel: null, // set while the upload waits or runs: how to stop it
      progress(fraction) {
        progress.value = Math.round(fraction * 100);
        status.textContent = `Uploading… ${progress.value}%`;
      },
      done: (text) => finish("is-done", text),
      failed: (text) => finish("is-failed", text),
    };
    cancel.addEventListener("click", () => upload.onCancel && upload.onCancel());
    return upload;
  }

  // The list of uploads stays short so the tracks stay in view: successes leave by themselves (later while
  // the pointer or focus is on the list), failures stay until dismissed, and the list scrolls past a few lines.
  function lingerThenDrop(item) {
    setTimeout(() => {
      if (uploadPanel.matches(":hover, :focus-within")) lingerThenDrop(item);
      else dropUpload(item);
    }, DONE_LINGER_MS);
  }

  function dropUpload(item) {
    if (item.contains(document.activeElement)) {
      const neighbour = item.nextElementSibling || item.previousElementSibling;
      (neighbour?.querySelector("button") || input).focus();
    }
    item.remove();
    tallyUploads();
  }

  function tallyUploads() {
    const count = (selector) => uploads.querySelectorAll(selector).length;
    const all = uploads.children.length;
    const done = count(".is-done");
    const failed = count(".is-failed");
    const parts = [];
    if (all - done - failed) parts.push(`${all - done - failed} uploading`);
    if (done) parts.push(`${done} uploaded`);
    if (failed) parts.push(`${failed} not uploaded`);
    uploadTally.textContent = parts.join(" · ");
    uploadPanel.hidden = all === 0;
    clearUploads.hidden = done + failed === 0;
  }

  clearUploads.addEventListener("click", () => {
    for (const item of uploads.querySelectorAll(".is-done, .is-failed")) item.remove();
    tallyUploads();
    if (uploadPanel.hidden) input.focus();
  });

  function describeStored(sent, file) {
    if (file.status === "duplicate") return `Already in the library as “${file.name}”`;
    if (file.name !== sent) return `Uploaded as “${file.name}”`;
    return "Uploaded";
  }

  function send(item) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", "/api/files");
      request.responseType = "json";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) item.progress(event.loaded / event.total);
      });
      request.addEventListener("load", () => {
        const body = request.response || {};
        if (request.status === 200 || request.status === 201) {
          for (const stored of body.files || []) {
            highlight(addTrack(stored));
            item.done(describeStored(item.file.name, stored));
          }
        } else if (request.status === 415) {
          // The API says "<reason>: <name>"; the reason goes beside the name (not always "non-audio").
          const suffix = `: ${body.name}`;
          const said = typeof body.error === "string" ? body.error : "";
          const reason = said.endsWith(suffix) ? said.slice(0, -suffix.length) : "";
          item.failed(reason || NON_AUDIO);
        } else if (request.status === 413) {
          item.failed(body.error || `Too large: the server's limit is ${formatSize(maxSize)}.`);
        } else {
          item.failed(body.error || `Upload failed: the server answered ${request.status}.`);
        }
        resolve();
      });
      request.addEventListener("error", () => {
        item.failed("Upload failed: the server is unreachable.");
        resolve();
      });
      request.addEventListener("abort", () => {
        item.failed("Upload cancelled: nothing was stored.");
        resolve();
      });
      item.onCancel = () => request.abort();
      const body = new FormData();
      body.append("file", item.file, item.file.name);
      item.progress(0);
      request.send(body);
    });
  }

  function pump() {
    while (running < UPLOADS_AT_ONCE && queue.length) {
      const item = queue.shift();
      running += 1;
      send(item).then(() => {
        running -= 1;
        pump();
      });
    }
  }

  function uploadFiles(files) {
    for (const file of files) {
      const item = uploadItem(file);
      if (file.size > maxSize) {
        item.failed(`Too large: ${formatSize(file.size)}; the limit is ${formatSize(maxSize)}.`);
      } else {
        item.onCancel = () => {
          queue.splice(queue.indexOf(item), 1);
          item.failed("Upload cancelled: nothing was stored.");
        };
        queue.push(item);
      }
    }
    pump();
  }

  input.addEventListener("change", () => {
    uploadFiles(Array.from(input.files));
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    uploadFiles(Array.from(input.files));
    input.value = "";
  });

  // ---- Drag and drop anywhere on the page ----

  let dragDepth = 0;
  const carriesFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");

  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) overlay.hidden = true;
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    overlay.hidden = true;
    uploadFiles(Array.from(event.dataTransfer.files));
  });
})();
