// The ipywidgets manager (embed-amd.js) names its modules "@jupyter-widgets/..." and
// takes the URL of its fonts (the icons of the Play buttons) from its own module's
// URL, which requirejs resolves against the page's folder. Point the names at the
// folder the book serves the manager from, so the fonts load from there.
(function () {
  const widgets = document.documentElement.dataset.content_root + "_static/widgets";
  require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": widgets,
      "@jupyter-widgets": widgets,
    },
  });
})();
