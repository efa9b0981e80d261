/** The dashboard's stylesheet (a string module, like the page). */
export const DASHBOARD_STYLE = `:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --card: #fff; --line: #e3e6ec; --accent: #2f6fed; --bad: #c0392b;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --fg: #e6e8ec; --muted: #98a2b3; --card: #1d2128; --line: #2c323c; --accent: #6c9bff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: .75rem; padding: .75rem 1.5rem; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 1.2rem; letter-spacing: .02em; }
.spacer { flex: 1; }
.badge { font-size: .75rem; padding: .1rem .5rem; border-radius: 999px; background: var(--accent); color: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h2 { font-size: 1rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 1.5rem 0 .75rem; }
button { font: inherit; padding: .35rem .9rem; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--fg); cursor: pointer; }
header button { background: transparent; color: #fff; border-color: #4a5160; }
button:disabled { opacity: .6; cursor: progress; }
#sweep { background: var(--accent); color: #fff; border-color: var(--accent); }
.metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: .75rem; margin: 0; }
.metric { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.metric dt { font-size: .8rem; color: var(--muted); }
.metric dd { margin: .15rem 0 0; font-size: 1.35rem; font-variant-numeric: tabular-nums; }
.admin { margin-top: .9rem; display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: .45rem .8rem; border-bottom: 1px solid var(--line); }
th { font-size: .8rem; color: var(--muted); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.scope { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.cards { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .75rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.preview { height: 130px; display: flex; align-items: center; justify-content: center; background: repeating-conic-gradient(#8881 0 25%, transparent 0 50%) 50% / 16px 16px; color: var(--muted); font-size: .8rem; }
.preview img { max-width: 100%; max-height: 100%; object-fit: contain; image-rendering: auto; }
.card .name { display: block; padding: .5rem .7rem 0; font-weight: 600; overflow-wrap: anywhere; }
.card .meta { padding: .1rem .7rem .6rem; font-size: .8rem; color: var(--muted); overflow-wrap: anywhere; }
form { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
input { font: inherit; padding: .35rem .6rem; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--fg); min-width: 18rem; }
.hint { color: var(--muted); font-size: .85rem; }
#status { color: var(--bad); min-height: 1.2em; }
[hidden] { display: none !important; }
`;
