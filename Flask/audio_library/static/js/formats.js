// How the page writes a track's numbers and type: the same rules as the server's Jinja filters (page.py's
// format_duration and format_name, and human_size). Pure: no page needed.

// Seconds as "m:ss" or "h:mm:ss"; an unknown duration as a dash.
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const total = roundHalfEven(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// As Python's round(): a half goes to the even neighbour (2.5 → 2), where Math.round goes up (2.5 → 3).
function roundHalfEven(value) {
  const rounded = Math.round(value);
  return Math.abs(value % 1) === 0.5 && rounded % 2 ? rounded - 1 : rounded;
}

// The server's human_size: 812 → "812 bytes", 1536 → "1.5 KiB", 1073741824 → "1 GiB".
export function formatSize(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : tenths(value)} ${units[unit]}`;
}

// As Python's f"{value:.1f}": toFixed takes a tie up (1.25 → "1.3"), Python to the even tenth (1.25 → "1.2").
// A size over a power of 1024 is a tie only at a quarter or three quarters.
function tenths(value) {
  const quarters = value * 4;
  if (Number.isInteger(quarters) && quarters % 2 === 1) return `${Math.floor(value)}.${quarters % 4 === 1 ? 2 : 8}`;
  return value.toFixed(1);
}

// A short name for a detected MIME type ("audio/mpeg" → "MP3"), from the server's table of names (the page
// carries it); anything else is named after its subtype ("audio/x-foo" → "FOO").
export function formatName(type, names) {
  const [bare, codecs] = partition((type || "").toLowerCase(), ";").map((part) => part.trim());
  for (const known of [`${bare}; ${codecs}`, bare]) {
    if (Object.hasOwn(names, known)) return names[known];
  }
  const subtype = partition(bare, "/")[1];
  return subtype.replace(/^x-/, "").toUpperCase() || "—";
}

// As Python's str.partition: the text before the first separator, and all after it ("" without one).
function partition(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + separator.length)];
}

// "1 track", "2 tracks".
export function count(number, one, many) {
  return `${number} ${number === 1 ? one : many}`;
}
