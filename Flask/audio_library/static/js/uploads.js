// Uploads: one request per file, a few at a time, each with its own line, progress and cancel button; files
// come from the file picker, the form, or a drop anywhere on the page.
import { uploadFile } from "./api.js";
import { formatSize } from "./formats.js";
import { announce, dismissButton } from "./messages.js";
import { addTrack } from "./track-list.js";
import { highlight } from "./track-rows.js";

const UPLOADS_AT_ONCE = 3;
const NON_AUDIO = "Non-audio file detected";
const CANCELLED = "Upload cancelled: nothing was stored.";
const DONE_LINGER_MS = 6000; // how long a successful upload's line stays; failures stay until dismissed

const form = document.getElementById("upload-form");
const input = document.getElementById("file-input");
const uploadPanel = document.getElementById("upload-panel");
const uploads = document.getElementById("uploads");
const uploadTally = document.getElementById("upload-tally");
const clearUploads = document.getElementById("clear-uploads");
const overlay = document.getElementById("drop-overlay");
const maxSize = Number(form.dataset.maxSize) || Infinity;

const queue = [];
let running = 0;

// A file's line in the list of uploads, and what the upload does to it.
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
    announce(`${file.name}: ${text}`);
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
  const number = (selector) => uploads.querySelectorAll(selector).length;
  const all = uploads.children.length;
  const done = number(".is-done");
  const failed = number(".is-failed");
  const parts = [];
  if (all - done - failed) parts.push(`${all - done - failed} uploading`);
  if (done) parts.push(`${done} uploaded`);
  if (failed) parts.push(`${failed} not uploaded`);
  uploadTally.textContent = parts.join(" · ");
  uploadPanel.hidden = all === 0;
  clearUploads.hidden = done + failed === 0;
}

function describeStored(sent, file) {
  if (file.status === "duplicate") return `Already in the library as “${file.name}”`;
  if (file.name !== sent) return `Uploaded as “${file.name}”`;
  return "Uploaded";
}

function refusal({ status, error, name }) {
  // A 415 says "<reason>: <name>"; the reason goes beside the name (it is not always "non-audio").
  if (status === 415) return (error.endsWith(`: ${name}`) && error.slice(0, -`: ${name}`.length)) || NON_AUDIO;
  if (status === 413) return error || `Too large: the server's limit is ${formatSize(maxSize)}.`;
  return error || `Upload failed: the server answered ${status}.`;
}

async function send(item) {
  const upload = uploadFile(item.file, (fraction) => item.progress(fraction));
  item.onCancel = upload.cancel;
  const answer = await upload.done;
  if (answer.outcome === "stored") {
    for (const stored of answer.files) {
      highlight(addTrack(stored));
      item.done(describeStored(item.file.name, stored));
    }
  } else if (answer.outcome === "refused") item.failed(refusal(answer));
  else if (answer.outcome === "unreachable") item.failed("Upload failed: the server is unreachable.");
  else item.failed(CANCELLED);
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
        item.failed(CANCELLED);
      };
      queue.push(item);
    }
  }
  pump();
}

// Files dragged over the page show the drop overlay; dropped anywhere, they are uploaded.
function acceptDrops() {
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
}

export function startUploads() {
  clearUploads.addEventListener("click", () => {
    for (const item of uploads.querySelectorAll(".is-done, .is-failed")) item.remove();
    tallyUploads();
    if (uploadPanel.hidden) input.focus();
  });
  input.addEventListener("change", () => {
    uploadFiles(Array.from(input.files));
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    uploadFiles(Array.from(input.files));
    input.value = "";
  });
  acceptDrops();
}
