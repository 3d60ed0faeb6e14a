// Messages to the person: each can be dismissed, and each is read out by screen readers. Text from the server
// or a file name is only ever set as text, never parsed as HTML.

const announcer = document.getElementById("announcer");

export function announce(text) {
  announcer.textContent = text;
}

export function dismissButton(label, dismiss) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon-button dismiss";
  button.setAttribute("aria-label", label);
  button.addEventListener("click", dismiss);
  return button;
}

// A message's text, after the name it is about (if any).
export function noticeText(container, name, text) {
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
export function makeNoticesDismissible() {
  for (const notice of document.getElementById("notices").querySelectorAll(".notice")) {
    notice.append(dismissButton("Dismiss this message", () => notice.remove()));
  }
}
