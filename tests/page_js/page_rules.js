// The page script's rules on demand, for test_same_rules.py: a JSON request a line on stdin
// ({"rule": ..., "values": [...], "names": {...}}), its answer a JSON line on stdout.
import { createInterface } from "node:readline";

import { formatDuration, formatName, formatSize } from "../../Flask/audio_library/static/js/formats.js";
import { compareNames } from "../../Flask/audio_library/static/js/natural-order.js";
import { normalized } from "../../Flask/audio_library/static/js/track-filter.js";

const RULES = {
  order: (values) => [...values].sort(compareNames),
  filter: (values) => values.map(normalized),
  size: (values) => values.map(formatSize),
  duration: (values) => values.map(formatDuration),
  format: (values, names) => values.map((type) => formatName(type, names)),
};

for await (const line of createInterface({ input: process.stdin })) {
  const { rule, values, names } = JSON.parse(line);
  process.stdout.write(`${JSON.stringify(RULES[rule](values, names))}\n`);
}
