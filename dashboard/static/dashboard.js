// Draws every chart on a dashboard page. Each chart element names the JSON data block holding
// its Vega-Lite spec (a <script type="application/json">, which the browser never executes).
// vega-embed runs in AST mode with vega-interpreter: no eval / new Function, so the page works
// under `script-src 'self'` without 'unsafe-eval'.
(function () {
  "use strict";
  function draw(el) {
    var block = document.getElementById(el.getAttribute("data-spec-id"));
    var spec = JSON.parse(block.textContent);
    return vegaEmbed(el, spec, {
      ast: true,
      expr: vega.expressionInterpreter,
      actions: false,
      renderer: "svg",
    })
      .then(function () {
        el.setAttribute("data-rendered", "yes");
      })
      .catch(function (err) {
        el.setAttribute("data-rendered", "error");
        el.textContent = "This chart could not be drawn (" + err.message + "); its numbers are in the table below.";
        console.error(err);
      });
  }
  var charts = document.querySelectorAll(".chart[data-spec-id]");
  Promise.all(Array.prototype.map.call(charts, draw)).then(function () {
    document.body.setAttribute("data-charts", "ready");
  });
})();
