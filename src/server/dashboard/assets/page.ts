/**
 * The dashboard's one page. Static: no data is ever written into it on the
 * server; the script fills it from the JSON endpoints with the user's token.
 * Kept as a string module so the bundle in dist/ carries it (tsup bundles
 * TypeScript only).
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>attache</title>
<link rel="icon" href="/dashboard/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/style.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<header>
  <h1>attache</h1>
  <span id="role" class="badge" hidden></span>
  <span class="spacer"></span>
  <button id="refresh" type="button" hidden>Refresh</button>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<main>
  <section id="sign-in" hidden>
    <h2>Sign in</h2>
    <form id="sign-in-form">
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" required>
      <button type="submit">Sign in</button>
    </form>
    <p class="hint">Or open the dashboard as <code>/#token=…</code>. The token is kept for this tab only.</p>
  </section>
  <div id="content" hidden>
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics</h2>
      <dl id="metrics" class="metrics"></dl>
      <div id="admin" class="admin" hidden>
        <button id="sweep" type="button">Sweep now</button>
        <output id="sweep-report" for="sweep"></output>
      </div>
    </section>
    <section aria-labelledby="scopes-title">
      <h2 id="scopes-title">Scopes</h2>
      <table id="scopes">
        <thead><tr><th scope="col">Scope</th><th scope="col" class="num">Attachments</th><th scope="col" class="num">Bytes</th><th scope="col" class="num">Expired</th><th scope="col">Next expiry</th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="no-scopes" class="hint" hidden>No attachments yet.</p>
    </section>
    <section aria-labelledby="recent-title">
      <h2 id="recent-title">Recent attachments</h2>
      <ul id="recent" class="cards"></ul>
    </section>
  </div>
  <p id="status" role="status"></p>
</main>
</body>
</html>
`;

/** The tab's icon: a paperclip on the header's colour. */
export const DASHBOARD_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d2330"/><path d="M20 9v11a4 4 0 0 1-8 0V8a2.5 2.5 0 0 1 5 0v11a1 1 0 0 1-2 0V10" fill="none" stroke="#6c9bff" stroke-width="2" stroke-linecap="round"/></svg>
`;
