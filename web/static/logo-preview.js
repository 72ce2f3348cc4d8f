// Preview of the logo on the app forms. When a file is chosen, the image
// marked data-logo-preview shows it through a blob: URL (which only the
// pages with a logo field allow in their CSP); when the choice is cleared,
// it shows again what it showed before (the logo kept from a previous
// attempt), or hides. Without this script the form works the same, without
// the preview of a newly chosen file. Served from /static: the CSP allows no
// inline script.
"use strict";

(function () {
  const input = document.getElementById("logo");
  const img = document.querySelector("img[data-logo-preview]");
  if (!input || !img || !window.URL || !URL.createObjectURL) {
    return;
  }
  const original = img.getAttribute("src");
  const originallyHidden = img.hidden;
  let current = null;

  input.addEventListener("change", function () {
    if (current) {
      URL.revokeObjectURL(current);
      current = null;
    }
    const file = input.files && input.files[0];
    if (!file) {
      if (original) {
        img.setAttribute("src", original);
      } else {
        img.removeAttribute("src");
      }
      img.hidden = originallyHidden;
      return;
    }
    current = URL.createObjectURL(file);
    img.src = current;
    img.hidden = false;
  });
})();
