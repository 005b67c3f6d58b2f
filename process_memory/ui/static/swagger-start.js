// Starts the Swagger UI at /api/v1/docs from a file, not an inline script, so the page runs under the
// service's Content-Security-Policy (script-src 'self'). The settings come from the container's data attributes.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("swagger-ui-container");
  const config = { url: container.dataset.specUrl, dom_id: "#swagger-ui-container" };
  Object.assign(config, JSON.parse(container.dataset.config || "{}"));
  window.ui = SwaggerUIBundle(config);
});
