// Copy buttons of the settings pages. A button with data-copy="ID" copies the
// text of the element with that id; the element with data-copy-status="ID"
// announces the result. Buttons start hidden, so that without this script
// nobody sees a button that does nothing. Served from /static: the CSP allows
// no inline script.
"use strict";

(function () {
  function selectText(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function copy(el) {
    const text = el.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    selectText(el);
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    const id = button.getAttribute("data-copy");
    const target = document.getElementById(id);
    if (!target) {
      return;
    }
    const status = document.querySelector('[data-copy-status="' + id + '"]');
    const say = function (msg) {
      if (status) {
        status.textContent = msg;
      }
    };
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(target).then(
        function () {
          say("Copied to the clipboard.");
        },
        function () {
          selectText(target);
          say("Selected: press Ctrl+C (⌘C on a Mac) to copy.");
        }
      );
    });
  });
})();
