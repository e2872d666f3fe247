// Starts Swagger UI on /docs. A static file (not an inline script) so the page runs under
// `script-src 'self'`; the spec URL comes from the page's data attribute.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default validator is an external host
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
