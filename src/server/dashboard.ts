/** The dashboard page served at `GET /`. */
export function dashboardHtml(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gitsync</title></head>
<body><h1>gitsync</h1><p>The service is running. API: <code>/api/v1</code>, health: <a href="/healthz">/healthz</a>, metrics: <a href="/metrics">/metrics</a>.</p></body></html>`;
}
