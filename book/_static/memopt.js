// The list button in the article's header opens the page's contents. The theme binds only the
// (hidden) button of the site header, so this one forwards its clicks there.
document.addEventListener("DOMContentLoaded", () => {
  const bound = document.querySelector(".bd-header .secondary-toggle");
  if (!bound) return;
  document.querySelectorAll(".bd-header-article .secondary-toggle").forEach((button) =>
    button.addEventListener("click", (event) => {
      event.preventDefault();
      bound.click();
    }));
});
