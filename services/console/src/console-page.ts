/**
 * The one HTML page of the console; everything else is rendered by
 * /assets/app.js. Kept tiny and static so it can be served before the
 * bundle is built.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fleetplane console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the Fleetplane console…</p></div>
<noscript>The Fleetplane console needs JavaScript.</noscript>
</body>
</html>
`;
