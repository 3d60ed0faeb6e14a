// The library page's behaviour: one shared player with a playlist, filtering and sorting, uploads with
// progress, drag and drop, and delete. The page works without this script (plain form posts and links); this
// makes it quicker to use. Names come from users: they are only ever set with textContent and attributes,
// never parsed as HTML. Each module below holds one part; this one starts them and routes clicks in the table.
import { deleteTrack } from "./deleting.js";
import { startFilterAndSort } from "./filter-sort.js";
import { makeNoticesDismissible } from "./messages.js";
import { play, startPlayer } from "./player.js";
import { startTrackList } from "./track-list.js";
import { startRows, tbody } from "./track-rows.js";
import { startUploads } from "./uploads.js";

// A plain click on a name plays it and on delete asks in a dialog; modified clicks (new tab, save) keep the
// links' own behaviour: the file, or the confirmation page.
function routeClicks() {
  tbody.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const row = event.target.closest("tr");
    if (!row) return;
    if (event.target.closest(".play")) {
      play(row);
      return;
    }
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    if (event.target.closest(".delete")) {
      event.preventDefault();
      deleteTrack(row);
    } else if (event.target.closest(".track-name")) {
      event.preventDefault();
      play(row);
    }
  });
}

startRows();
routeClicks();
startPlayer();
startTrackList(startFilterAndSort()); // the filter the page came with, if any
startUploads();
makeNoticesDismissible();
