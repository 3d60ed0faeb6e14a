// The controls that choose what the table shows: the filter box, which filters as you type, and the sort
// order. The column headers become buttons (aria-sort says the order); narrow screens, which have no room for
// every column, get the same choices in a menu.
import { currentOrder, setFilter, sortBy } from "./track-list.js";
import { table } from "./track-rows.js";

const FILTER_DELAY_MS = 80; // typing faster than this filters once, for the last key

const filterForm = document.getElementById("filter-form");
const filterInput = document.getElementById("filter");
const sortHeaders = Array.from(table.tHead.querySelectorAll("th[data-sort]"));
const sortMenu = document.getElementById("sort-by");

function showSort({ column, descending }) {
  for (const header of sortHeaders) {
    if (header.dataset.sort === column) header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    else header.removeAttribute("aria-sort");
  }
  sortMenu.value = `${column} ${descending ? "descending" : "ascending"}`;
}

// The choice shows at once; if the list cannot be sorted (the server is unreachable), it goes back.
async function choose(column, descending) {
  const before = currentOrder();
  showSort({ column, descending });
  if (!(await sortBy(column, descending))) showSort(before);
}

// Returns the filter the page was given (the plain form's `?q=`), for the track list to start with.
export function startFilterAndSort() {
  let filterTimer = 0;
  filterInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => setFilter(filterInput.value), FILTER_DELAY_MS);
  });
  filterForm.addEventListener("submit", (event) => event.preventDefault());

  for (const header of sortHeaders) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort-button";
    button.append(...header.childNodes);
    header.append(button);
    button.addEventListener("click", () => {
      const { column, descending } = currentOrder();
      const key = header.dataset.sort;
      choose(key, key === column && !descending);
    });
  }
  sortMenu.addEventListener("change", () => {
    const [column, order] = sortMenu.value.split(" ");
    choose(column, order === "descending");
  });
  showSort(currentOrder());
  return filterInput.value;
}
