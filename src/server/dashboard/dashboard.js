// The gitsync dashboard: plain browser JavaScript, no framework, no network but this service.
//
// Made for people with thousands of agent chats. Every root chat of the view is loaded, 500 to a
// page, into an in-memory model, and shown as pages arrive. Events from the stream are queued and
// applied to the model once per animation frame, however many arrive. Only the rows in view (and a
// margin) exist in the page: rows have one fixed height, the list is as tall as all of them, and a
// scroll or an update re-renders the few rows in view, reusing each row whose markup is unchanged.

const STORAGE_KEY = 'gitsync.key';
/** The API's largest page (docs/api.md: `limit` ≤ 500). */
const PAGE_SIZE = 500;
/** Rows rendered above and below the viewport, so a quick scroll meets no gap. */
const MARGIN_ROWS = 8;
const STATES = ['open', 'draft', 'merged', 'closed', 'none'];
const FLAGS = ['failing', 'changes', 'attention'];
const $ = (id) => document.getElementById(id);

const state = {
  key: null,
  /** Whether the key is the admin key (it sees every owner's chats: the owner picker shows). */
  admin: false,
  archived: false,
  source: null,
  retry: 0,
  /** The id of the last event received: a new stream resumes from it. */
  lastEventId: '',
  /** The stream was opened anew (not resumed): what happened meanwhile needs a reload. */
  reloadOnOpen: false,
  toastTimer: null,

  // ---- the model: the chats of this view, as the API gives them
  /** Root id → the root chat, its children filtered to this view. */
  roots: new Map(),
  /** Chat id (roots and children) → its root's id. */
  rootOf: new Map(),
  /** Root id → its `updated_at` in ms (the list's order). */
  updated: new Map(),
  /** Root ids, most recently updated first (rebuilt when `orderDirty`). */
  order: [],
  orderDirty: false,
  modelVersion: 0,
  /** Bumped by every (re)load: pages of an older load are dropped. */
  generation: 0,
  loading: false,
  loaded: 0,
  /** Events not yet applied (applied at the next frame, in order). */
  queue: [],
  /** Events received while a page is on its way (re-applied after it), or null. */
  pending: null,

  // ---- the view
  filters: { state: '', failing: false, changes: false, attention: false, q: '', owner: '' },
  filterVersion: 0,
  /** Roots whose sub-agent chats are folded away. */
  collapsed: new Set(),
  /** What the model and filters give, one entry a row: `{chat, depth, context, kids, collapsed}`. */
  rows: [],
  rowsVersion: 0,
  derivedFrom: '',
  counts: null,
  matched: 0,
  ownerList: '',
  /** Asks for the owner's budget every minute while signed in. */
  budgetTimer: 0,
  rowHeight: 0,
  rendered: { first: -1, last: -1, version: -1 },
  /** Chat id → the row element in the page and the markup it was made from. */
  cache: new Map(),
  frame: 0,
  /** The chat the details dialog shows, and the object it was rendered from. */
  details: null,

  /** Figures for the benchmark and tests (`window.gitsyncDashboard.stats`); nothing reads them here. */
  stats: {
    firstRowsAt: null,
    loadedAt: null,
    eventsReceived: 0,
    eventsApplied: 0,
    /** The last frames that did work: `{at, ms, events}` (at most 2,000). */
    frames: [],
  },
};
window.gitsyncDashboard = { stats: state.stats };

const escapeHtml = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const fmt = (n) => n.toLocaleString('en-US');
const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;

function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 0 ? `in ${span(-s)}` : `${span(s)} ago`;
}
function span(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d`;
}
function due(iso) {
  const wait = Math.ceil((Date.parse(iso) - Date.now()) / 1000);
  return wait <= 0 ? 'checking now' : `next check in ${span(wait)}`;
}
/** Only http(s) links reach an href or src: a code host's data never becomes a script URL. */
const safeUrl = (url) => (/^https?:\/\//i.test(String(url ?? '')) ? escapeHtml(url) : '#');
/** A size the host has not told (yet) shows as a dash, never as a made-up 0. */
const count = (n) => (n === null || n === undefined ? '—' : String(n));
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- API ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${state.key}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  if (!res.ok)
    throw new ApiError(
      res.status,
      json?.error?.code ?? 'error',
      json?.error?.message ?? `HTTP ${res.status}`,
      Number(res.headers.get('retry-after')) || null,
    );
  return json;
}

/** A page read with patience: a 429 waits its Retry-After, a 5xx or a network failure backs off; other 4xx are final. */
async function getPage(path, generation) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api('GET', path);
    } catch (error) {
      const retryable = !(error instanceof ApiError) || error.status === 429 || error.status >= 500;
      if (!retryable || attempt >= 6 || generation !== state.generation) throw error;
      await sleep(error.retryAfter ? error.retryAfter * 1000 : Math.min(10_000, 500 * 2 ** attempt));
    }
  }
}

// ---- the address: sign-in links and the view ----------------------------------------------------

/**
 * The hash holds the view (`#state=open&failing=1&q=%23123&owner=…&view=archived`), so a link
 * reproduces it; a `key=` in it signs in and is removed from the address bar at once.
 */
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get('key');
  if (key) {
    sessionStorage.setItem(STORAGE_KEY, key);
    params.delete('key');
  }
  const f = state.filters;
  const chosen = params.get('state') ?? '';
  f.state = STATES.includes(chosen) ? chosen : '';
  for (const flag of FLAGS) f[flag] = params.get(flag) === '1';
  f.q = params.get('q') ?? '';
  f.owner = params.get('owner') ?? '';
  const archived = params.get('view') === 'archived';
  const viewChanged = archived !== state.archived;
  state.archived = archived;
  state.filterVersion++;
  if (key) writeHash();
  return { key, viewChanged };
}

function writeHash() {
  const f = state.filters;
  const params = new URLSearchParams();
  if (state.archived) params.set('view', 'archived');
  if (f.state) params.set('state', f.state);
  for (const flag of FLAGS) if (f[flag]) params.set(flag, '1');
  if (f.q) params.set('q', f.q);
  if (f.owner) params.set('owner', f.owner);
  const hash = params.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
}

function filtersChanged() {
  state.filterVersion++;
  writeHash();
  syncControls();
  schedule();
  refreshBudget().catch(() => {});
}

/** Buttons and inputs show the filters (after a click, a typed search or a followed link). */
function syncControls() {
  const f = state.filters;
  for (const b of document.querySelectorAll('[data-filter]'))
    b.setAttribute('aria-pressed', String((b.dataset.filter === 'archived') === state.archived));
  for (const b of document.querySelectorAll('[data-state-filter]'))
    b.setAttribute('aria-pressed', String(b.dataset.stateFilter === f.state));
  for (const b of document.querySelectorAll('[data-flag]'))
    b.setAttribute('aria-pressed', String(f[b.dataset.flag]));
  if ($('search').value !== f.q) $('search').value = f.q;
  $('clear-filters').hidden = !isFiltering();
}

const isFiltering = () => {
  const f = state.filters;
  return f.state !== '' || f.failing || f.changes || f.attention || f.q.trim() !== '';
};

// ---- sign in / out -----------------------------------------------------------------------------

function showSignIn(message) {
  closeStream();
  state.generation++;
  state.key = null;
  sessionStorage.removeItem(STORAGE_KEY);
  $('board').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  if ($('details').open) $('details').close();
  const error = $('sign-in-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  setConnection('offline', 'Not connected');
  $('key-input').focus();
}

async function signIn(key) {
  state.key = key;
  try {
    await api('GET', '/api/v1/chats?limit=1');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showSignIn('That key was not accepted (401 unauthorized). Check it and try again.');
      return;
    }
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, key);
  // Only the admin key may list keys: that is how the page knows to offer the owner picker.
  state.admin = await api('GET', '/api/v1/keys').then(
    () => true,
    () => false,
  );
  $('sign-in').hidden = true;
  $('board').hidden = false;
  $('sign-out').hidden = false;
  $('owner-picker').hidden = !state.admin;
  measureRows();
  syncControls();
  // The stream first: what changes while the pages load is not missed.
  state.lastEventId = '';
  await connect().catch(handleError);
  load().catch(handleError);
  // The budget changes without events: asked again every minute.
  clearInterval(state.budgetTimer);
  state.budgetTimer = setInterval(() => refreshBudget().catch(() => {}), 60_000);
}

// ---- loading -----------------------------------------------------------------------------------

function resetModel() {
  state.roots = new Map();
  state.rootOf = new Map();
  state.updated = new Map();
  state.order = [];
  state.orderDirty = false;
  state.queue = [];
  state.pending = null;
  state.cache = new Map();
  state.modelVersion++;
}

/** Every root chat of the view, page after page, each shown as it arrives. */
async function load() {
  const generation = ++state.generation;
  resetModel();
  state.loading = true;
  state.loaded = 0;
  state.stats.firstRowsAt = null;
  state.stats.loadedAt = null;
  schedule();
  let cursor = null;
  do {
    state.pending = [];
    const path = `/api/v1/chats?archived=${state.archived}&limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await getPage(path, generation);
    if (generation !== state.generation) return;
    mergePage(page.chats);
    state.loaded += page.chats.length;
    cursor = page.next_cursor;
    schedule();
  } while (cursor);
  state.pending = null;
  state.loading = false;
  state.modelVersion++;
  schedule();
  refreshBudget().catch(() => {});
}

// ---- the owner's budget --------------------------------------------------------------------------

/** Whose budget the banner speaks of: the chosen owner (admin key), else the key's own owner. */
function budgetOwner() {
  if (state.admin) return state.filters.owner;
  const first = state.roots.values().next().value;
  return first ? first.owner_id : '';
}

/**
 * A banner while an owner's checks are spaced out to stay within their budget share, or nothing
 * is sent with their token (they paused tracking, the host refuses it, or the share is spent).
 */
async function refreshBudget() {
  const banner = $('budget-banner');
  const owner = budgetOwner();
  if (!owner) {
    banner.hidden = true;
    return;
  }
  const { providers } = await api('GET', `/api/v1/owners/${encodeURIComponent(owner)}/budget`);
  if (owner !== budgetOwner()) return;
  const lines = [];
  const seen = new Set();
  for (const p of providers) {
    const id = p.provider_id;
    if (p.paused_by_owner) {
      if (!seen.has(id))
        lines.push(`${id}: tracking is paused by its owner — nothing is sent until it is resumed.`);
      seen.add(id);
    } else if (p.paused && p.paused_until) {
      const why = p.stretched
        ? "gitsync's share of the token's budget is spent"
        : 'the host rate-limits the token';
      lines.push(
        `${id}${p.scope ? ` (${p.scope})` : ''}: checks are paused until ${clock(p.paused_until)} — ${why}.`,
      );
    } else if (p.stretched) {
      const left =
        p.remaining !== null && p.limit !== null ? ` (${fmt(p.remaining)} of ${fmt(p.limit)} left` : '';
      const reset = p.reset_at ? `${left ? ', ' : ' ('}resets ${clock(p.reset_at)})` : left ? ')' : '';
      lines.push(
        `${id}${p.scope ? ` (${p.scope})` : ''}: checks are spaced out to stay within ${Math.round(p.max_share * 100)} % of the token's budget${left}${reset}.`,
      );
    }
  }
  banner.textContent = lines.join(' ');
  banner.hidden = lines.length === 0;
}

function mergePage(chats) {
  for (const chat of chats) putRoot(chat);
  // An event that arrived while this page was on its way may be newer than the page or already in
  // it: the ones applied before the page came are applied again after it, ahead of those still
  // queued (which came later), so the newest word wins and order is kept.
  state.queue = [...state.pending.filter((e) => e.applied), ...state.queue];
  state.pending = [];
  state.modelVersion++;
}

// ---- the model ---------------------------------------------------------------------------------

/** The chat with only the children this view shows (a tree read whole holds archived ones too). */
function pruned(chat) {
  const children = chat.children ?? [];
  const kept = [];
  let same = chat.children !== undefined;
  for (const child of children) {
    if (child.archived !== state.archived) {
      same = false;
      continue;
    }
    const p = pruned(child);
    if (p !== child) same = false;
    kept.push(p);
  }
  return same ? chat : { ...chat, children: kept };
}

function indexTree(node, rootId) {
  state.rootOf.set(node.id, rootId);
  for (const child of node.children) indexTree(child, rootId);
}
function unindexTree(node) {
  state.rootOf.delete(node.id);
  for (const child of node.children) unindexTree(child);
}

function putRoot(root) {
  const old = state.roots.get(root.id);
  if (old) unindexTree(old);
  state.roots.set(root.id, root);
  indexTree(root, root.id);
  const t = Date.parse(root.updated_at);
  if (state.updated.get(root.id) !== t) {
    state.updated.set(root.id, t);
    state.orderDirty = true;
  }
}

function findIn(node, id) {
  if (!node) return null;
  if (node.id === id) return node;
  for (const child of node.children) {
    const found = findIn(child, id);
    if (found) return found;
  }
  return null;
}

const byChildRecency = (a, b) =>
  Date.parse(b.updated_at) - Date.parse(a.updated_at) || a.id.localeCompare(b.id);

/** `node` with `chat` in place of its namesake, or added under its parent; copies only the path. */
function replaced(node, chat) {
  if (node.id === chat.id) return chat;
  let children = null;
  for (let i = 0; i < node.children.length; i++) {
    const next = replaced(node.children[i], chat);
    if (next !== node.children[i]) {
      children = node.children.slice();
      children[i] = next;
      break;
    }
  }
  if (!children && node.id === chat.parent_chat_id) children = [...node.children, chat];
  return children ? { ...node, children: children.sort(byChildRecency) } : node;
}

function removed(node, id) {
  for (let i = 0; i < node.children.length; i++) {
    const child = node.children[i];
    const next = child.id === id ? null : removed(child, id);
    if (next !== child) {
      const children = node.children.slice();
      if (next) children[i] = next;
      else children.splice(i, 1);
      return { ...node, children };
    }
  }
  return node;
}

/**
 * Puts a chat in its place. An event's chat comes without its subtree (docs/api.md, "Events"): it
 * keeps the children the model has, and its `parent_chat_id` places it. A chat that comes with
 * `children` (an API answer, a tree read whole) brings its own.
 */
function upsert(chat) {
  let view;
  if (chat.children) view = pruned(chat);
  else {
    const old = chatById(chat.id);
    view = { ...chat, children: old ? old.children : [] };
  }
  if (!chat.parent_chat_id) {
    putRoot(view);
    return;
  }
  // A sub-agent chat goes into its root's tree; without it in the view (not loaded yet: its page
  // brings it; or its parent is archived) there is nowhere to show it.
  const rootId = state.rootOf.get(chat.id) ?? state.rootOf.get(chat.parent_chat_id);
  if (!rootId) return;
  const root = state.roots.get(rootId);
  const old = findIn(root, chat.id);
  if (old) unindexTree(old);
  state.roots.set(rootId, replaced(root, view));
  indexTree(view, rootId);
}

function remove(id) {
  const rootId = state.rootOf.get(id);
  if (!rootId) return;
  const root = state.roots.get(rootId);
  const node = findIn(root, id);
  if (node) unindexTree(node);
  if (rootId === id) {
    state.roots.delete(id);
    state.updated.delete(id);
    state.orderDirty = true;
  } else {
    state.roots.set(rootId, removed(root, id));
  }
}

function applyEvent(event) {
  if (!event.applied && !event.local) state.stats.eventsApplied++;
  event.applied = true;
  if (event.kind === 'chat_deleted') remove(event.chat.id);
  // Archived in the active view, unarchived in the archived one: it (and its subtree) leaves.
  else if (event.chat.archived !== state.archived) remove(event.chat.id);
  else {
    upsert(event.chat);
    // Unarchived in the active view, archived in the archived one: its subtree comes with it, and
    // the event does not carry it. Read the tree once (it is applied in turn, like an event).
    const entering = event.kind === (state.archived ? 'chat_archived' : 'chat_unarchived');
    if (entering && !event.chat.children) fetchTree(event.chat.id);
  }
}

/** Reads a chat with its whole subtree and queues it, unless the view has been loaded again since. */
function fetchTree(id) {
  const generation = state.generation;
  api('GET', `/api/v1/chats/${encodeURIComponent(id)}`)
    .then((tree) => {
      if (generation !== state.generation) return;
      const event = { kind: 'chat_tree', chat: tree, local: true };
      state.queue.push(event);
      if (state.pending) state.pending.push(event);
      schedule();
    })
    .catch(() => {});
}

const chatById = (id) => findIn(state.roots.get(state.rootOf.get(id)), id);

// ---- what a chat is: state, flags, search text ---------------------------------------------------

/** Per chat object (the model replaces a chat's object when it changes, so this never goes stale). */
const factsOf = new WeakMap();

function facts(chat) {
  let f = factsOf.get(chat);
  if (f) return f;
  const ref = chat.diff_status;
  const stateOf = !ref?.pull_request_state
    ? 'none'
    : ref.pull_request_state === 'open' && ref.pull_request_draft
      ? 'draft'
      : ref.pull_request_state;
  f = { state: stateOf, failing: false, changes: false, error: false, pausedUntil: 0, prs: [], text: '' };
  const text = [chat.title];
  for (const r of chat.diff_statuses) {
    // Checks and reviews matter while the PR is open; a merged PR's old failure needs no one.
    const open = r.pull_request_state === 'open';
    if (open && r.checks_state === 'failing') f.failing = true;
    if (open && r.changes_requested) f.changes = true;
    if (r.last_error) f.error = true;
    if (r.paused_until) f.pausedUntil = Math.max(f.pausedUntil, Date.parse(r.paused_until));
    text.push(r.git_branch, r.head_branch, r.pull_request_title);
    if (r.pr_number !== null && r.pr_number !== undefined) f.prs.push(r.pr_number);
  }
  f.text = text.filter(Boolean).join('\n').toLowerCase();
  factsOf.set(chat, f);
  return f;
}

/** Search words, each of which must match: `#123` a PR number, digits a PR number or text, else text. */
function searchTerms(q) {
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => {
      const number = /^#?(\d+)$/.exec(word);
      return {
        word,
        number: number ? Number(number[1]) : null,
        only: number !== null && word.startsWith('#'),
      };
    });
}

function matches(f, attention, terms) {
  const want = state.filters;
  if (want.state && f.state !== want.state) return false;
  if (want.failing && !f.failing) return false;
  if (want.changes && !f.changes) return false;
  if (want.attention && !attention) return false;
  for (const t of terms) {
    const byNumber = t.number !== null && f.prs.includes(t.number);
    if (!byNumber && (t.only || !f.text.includes(t.word))) return false;
  }
  return true;
}

// ---- deriving the rows and the summary ----------------------------------------------------------

const byRecency = (a, b) => state.updated.get(b) - state.updated.get(a) || (a < b ? 1 : a > b ? -1 : 0);

function collect(node, depth, out) {
  out.push(node, depth);
  for (const child of node.children) collect(child, depth + 1, out);
}

/**
 * One pass over the model: the summary's counts (every chat of the chosen owner, whatever the
 * other filters), the owners seen, and the rows to show. A root is shown when it or one of its
 * sub-agent chats matches; a root shown only for a matching child is marked as context.
 */
function derive() {
  const owner = state.admin ? state.filters.owner : '';
  const filtering = isFiltering();
  const terms = searchTerms(state.filters.q);
  const now = Date.now();
  const counts = {
    all: 0,
    open: 0,
    draft: 0,
    merged: 0,
    closed: 0,
    none: 0,
    failing: 0,
    changes: 0,
    attention: 0,
  };
  const owners = new Set();
  const rows = [];
  const members = [];
  const hits = [];
  let matched = 0;
  for (const id of state.order) {
    const root = state.roots.get(id);
    owners.add(root.owner_id);
    if (owner && root.owner_id !== owner) continue;
    members.length = 0;
    hits.length = 0;
    collect(root, 0, members);
    let anyHit = false;
    for (let i = 0; i < members.length; i += 2) {
      const f = facts(members[i]);
      const attention = f.error || f.pausedUntil > now;
      counts.all++;
      counts[f.state]++;
      if (f.failing) counts.failing++;
      if (f.changes) counts.changes++;
      if (attention) counts.attention++;
      const hit = !filtering || matches(f, attention, terms);
      hits.push(hit);
      if (hit) {
        matched++;
        anyHit = true;
      }
    }
    if (!anyHit) continue;
    const collapsed = state.collapsed.has(root.id);
    rows.push({ chat: root, depth: 0, context: !hits[0], kids: members.length / 2 - 1, collapsed });
    if (collapsed) continue;
    for (let j = 1; j < hits.length; j++) {
      if (hits[j]) rows.push({ chat: members[2 * j], depth: members[2 * j + 1], context: false, kids: 0 });
    }
  }
  state.rows = rows;
  state.rowsVersion++;
  state.counts = counts;
  state.matched = matched;
  renderSummary(filtering);
  renderOwners(owners);
}

function renderSummary(filtering) {
  const counts = state.counts;
  for (const [name, n] of Object.entries(counts)) $(`n-${name}`).textContent = fmt(n);
  const total = plural(counts.all, 'chat');
  $('count').textContent = state.loading
    ? `loading ${fmt(state.loaded)} / …`
    : filtering
      ? `${fmt(state.matched)} of ${total} match`
      : total;
  const empty = $('empty');
  empty.hidden = state.rows.length > 0 || state.loading;
  empty.textContent = filtering
    ? 'No chats match these filters.'
    : state.archived
      ? 'No archived chats.'
      : 'No active chats yet. Report a push to see one here.';
}

function renderOwners(owners) {
  if (!state.admin) return;
  const chosen = state.filters.owner;
  if (chosen) owners.add(chosen);
  const list = [...owners].sort();
  const key = list.join(',');
  if (key === state.ownerList) return;
  state.ownerList = key;
  const select = $('owner-select');
  select.innerHTML = `<option value="">All owners</option>${list
    .map((id) => `<option value="${escapeHtml(id)}">${escapeHtml(id)}</option>`)
    .join('')}`;
  select.value = chosen;
}

// ---- rendering: the frame, the window of rows ----------------------------------------------------

function schedule() {
  if (!state.frame) state.frame = requestAnimationFrame(frame);
}

function frame() {
  state.frame = 0;
  const started = performance.now();
  const events = state.queue.length;
  if (events > 0) {
    const batch = state.queue;
    state.queue = [];
    for (const event of batch) applyEvent(event);
    state.modelVersion++;
  }
  if (state.orderDirty) {
    state.order = [...state.roots.keys()].sort(byRecency);
    state.orderDirty = false;
  }
  const from = `${state.modelVersion}:${state.filterVersion}:${state.loading}`;
  const changed = from !== state.derivedFrom;
  if (changed) {
    state.derivedFrom = from;
    derive();
  }
  const rendered = renderWindow();
  if (changed) renderDetails();
  if (state.stats.firstRowsAt === null && state.rows.length > 0) state.stats.firstRowsAt = performance.now();
  if (state.stats.loadedAt === null && !state.loading && state.generation > 0)
    state.stats.loadedAt = performance.now();
  if (changed || rendered || events > 0) {
    const frames = state.stats.frames;
    frames.push({ at: started, ms: performance.now() - started, events });
    if (frames.length > 2000) frames.splice(0, frames.length - 2000);
  }
}

/** The fixed row height in pixels, from the stylesheet (it differs on a phone). */
function measureRows() {
  const h = $('row-probe').getBoundingClientRect().height;
  if (h > 0 && h !== state.rowHeight) {
    state.rowHeight = h;
    state.rendered.version = -1;
  }
}

/** Renders the rows in view ± a margin; false when nothing needed doing. */
function renderWindow() {
  const list = $('chats');
  const h = state.rowHeight || 100;
  const n = state.rows.length;
  list.style.height = `${n * h}px`;
  const top = list.getBoundingClientRect().top;
  const first = Math.max(0, Math.min(n, Math.floor(-top / h) - MARGIN_ROWS));
  const last = Math.max(first, Math.min(n, Math.ceil((window.innerHeight - top) / h) + MARGIN_ROWS));
  const r = state.rendered;
  if (first === r.first && last === r.last && state.rowsVersion === r.version) return false;
  Object.assign(r, { first, last, version: state.rowsVersion });
  list.style.paddingTop = `${first * h}px`;

  const focused = document.activeElement?.closest?.('#chats') ? document.activeElement : null;
  const focusKey = focused?.dataset.action ? [focused.dataset.action, focused.dataset.id] : null;
  const next = new Map();
  const fresh = [];
  for (let i = first; i < last; i++) {
    const item = state.rows[i];
    const html = rowHtml(item, i + 1, n);
    const entry = state.cache.get(item.chat.id);
    if (entry && entry.html === html) next.set(item.chat.id, entry);
    else {
      const made = { html, el: null };
      next.set(item.chat.id, made);
      fresh.push(made);
    }
  }
  if (fresh.length > 0) {
    // One parse for every new row.
    const template = document.createElement('template');
    template.innerHTML = fresh.map((f) => f.html).join('');
    const made = [...template.content.children];
    fresh.forEach((f, i) => {
      f.el = made[i];
      fillTimes(f.el);
    });
  }
  // Rows that stay are not moved (a focused button keeps its focus); others come and go.
  const keep = new Set([...next.values()].map((e) => e.el));
  for (const el of [...list.children]) if (!keep.has(el)) el.remove();
  let cursor = list.firstElementChild;
  for (const { el } of next.values()) {
    if (el === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(el, cursor);
  }
  state.cache = next;
  if (focusKey && !focused.isConnected) {
    list.querySelector(`[data-action="${focusKey[0]}"][data-id="${focusKey[1]}"]`)?.focus();
  }
  return true;
}

// ---- rendering: one row ---------------------------------------------------------------------------

const BADGES = {
  open: ['open', '●', 'Open'],
  draft: ['draft', '✎', 'Draft'],
  merged: ['merged', '⇄', 'Merged'],
  closed: ['closed', '✕', 'Closed'],
};

function badge(ref) {
  if (!ref?.pull_request_state) return '<span class="badge none" data-state="none">No PR yet</span>';
  const key = ref.pull_request_state === 'open' && ref.pull_request_draft ? 'draft' : ref.pull_request_state;
  const [cls, icon, label] = BADGES[key];
  return `<span class="badge ${cls}" data-state="${cls}"><span aria-hidden="true">${icon}</span>${label}</span>`;
}

/** Each merge blocker in words (docs/api.md, "Merge readiness"). */
const BLOCKER_WORDS = {
  no_pr: 'No PR',
  draft: 'Draft',
  conflicts: 'Conflicts',
  behind: 'Behind base',
  checks_failing: 'Checks failing',
  checks_pending: 'Checks pending',
  changes_requested: 'Changes requested',
  unresolved_threads: 'Threads open',
  needs_approval: 'Needs approval',
  blocked: 'Blocked',
  unknown: 'Not known yet',
};

const blockerText = (b) =>
  `${BLOCKER_WORDS[b.kind] ?? escapeHtml(b.kind)}${b.detail ? `: ${escapeHtml(b.detail)}` : ''}`;

/**
 * Whether an open PR is ready to merge: a "Ready" badge, else its first blocker in words (every
 * blocker in the tooltip). Nothing for a merged or closed PR, nor before the first read.
 */
function readyChip(ref) {
  if (ref?.pull_request_state !== 'open' || ref.ready === null || ref.ready === undefined) return '';
  if (ref.ready)
    return '<span class="ready-badge ready" data-ready="true"><span aria-hidden="true">✔</span> Ready</span>';
  const blockers = ref.blockers ?? [];
  const [first] = blockers;
  if (!first) return '';
  const all = blockers.map((b) => blockerText(b)).join('\n');
  const more = blockers.length > 1 ? ` <span class="more">+${blockers.length - 1}</span>` : '';
  return `<span class="ready-badge not-ready" data-ready="false" data-blocker="${escapeHtml(first.kind)}" title="${all}">${BLOCKER_WORDS[first.kind] ?? escapeHtml(first.kind)}${more}</span>`;
}

/** The head commit's checks in a word or three, failing ones by name (each linking to its page). */
function checksChip(ref) {
  const c = ref.checks;
  switch (ref.checks_state) {
    case 'failing': {
      const names = (c?.failing ?? []).map(
        (f) =>
          `<a class="check-name" href="${safeUrl(f.url)}" target="_blank" rel="noopener">${escapeHtml(f.name)}</a>`,
      );
      const more = c && c.failed > names.length ? ` +${c.failed - names.length}` : '';
      const n = c ? c.failed : names.length;
      return `<span class="chip checks failing" data-checks="failing"><span aria-hidden="true">✖</span> ${plural(n, 'check')} failing${names.length ? `: ${names.join(', ')}${more}` : ''}</span>`;
    }
    case 'pending':
      return `<span class="chip checks pending" data-checks="pending"><span aria-hidden="true">◌</span> ${c ? `${plural(c.pending, 'check')} pending` : 'checks pending'}</span>`;
    case 'passing':
      return `<span class="chip checks passing" data-checks="passing"><span aria-hidden="true">✔</span> ${c ? `${plural(c.passed, 'check')} passed` : 'checks passed'}</span>`;
    case 'none':
      return '<span class="chip checks none" data-checks="none">no checks</span>';
    default:
      return '';
  }
}

const MERGE = {
  clean: ['clean', '✔', 'mergeable'],
  conflicting: ['conflicting', '✖', 'conflicts'],
  behind: ['behind', '↓', 'behind base'],
  blocked: ['blocked', '⊘', 'blocked'],
  unknown: ['unknown', '◌', 'checking'],
};

/** Whether the PR can be merged; `unknown` means the host is still computing it: "checking". */
function mergeChip(ref) {
  // `draft` is not here: the badge says so already.
  if (ref.pull_request_state !== 'open' || !MERGE[ref.merge_state]) return '';
  const [cls, icon, label] = MERGE[ref.merge_state];
  const why = ref.merge_state_reason ? ` title="${escapeHtml(ref.merge_state_reason)}"` : '';
  return `<span class="chip merge ${cls}" data-merge="${cls}"${why}><span aria-hidden="true">${icon}</span> ${label}</span>`;
}

function threadsChip(ref) {
  const n = ref.unresolved_threads;
  if (n === null || n === undefined || n === 0) return '';
  return `<span class="chip threads" data-threads="${n}">${plural(n, 'open thread')}</span>`;
}

function reviewBits(ref) {
  const review = ref.changes_requested
    ? '<span class="review changes"><span aria-hidden="true">↻</span> Changes requested</span>'
    : ref.approved
      ? '<span class="review approved"><span aria-hidden="true">✔</span> Approved</span>'
      : '';
  // Asked to review and not reviewed yet: people by login, teams as GitHub mentions them (@org/team).
  const asked = (ref.requested_reviewers ?? []).map((r) => (r.kind === 'team' ? `@${r.name}` : r.name));
  const requested = asked.length
    ? `<span class="stat requested" data-requested>review requested: ${asked.map(escapeHtml).join(', ')}</span>`
    : '';
  return review + requested;
}

function sizes(ref) {
  return `<span class="stat"><span class="add">+${count(ref.additions)}</span> <span class="del">−${count(ref.deletions)}</span></span>
      <span class="stat">${count(ref.changed_files)} file${ref.changed_files === 1 ? '' : 's'}</span>
      <span class="stat">${count(ref.commits)} commit${ref.commits === 1 ? '' : 's'}</span>`;
}

/** Origins the service lets this page load avatars from (the configured providers' own, https). */
const AVATAR_ORIGINS = new Set(
  (document.querySelector('meta[name="gitsync-avatar-origins"]')?.getAttribute('content') ?? '')
    .split(' ')
    .filter(Boolean),
);

/** An avatar from anywhere else would tell that server each viewer's IP address: a placeholder instead. */
function avatarAllowed(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && AVATAR_ORIGINS.has(u.origin);
  } catch {
    return false;
  }
}

function author(ref) {
  if (!ref.author_login) return '';
  const avatar =
    ref.author_avatar_url && avatarAllowed(ref.author_avatar_url)
      ? `<img src="${safeUrl(ref.author_avatar_url)}" alt="" loading="lazy">`
      : `<span class="avatar-placeholder" aria-hidden="true">${escapeHtml(String(ref.author_login).slice(0, 1).toUpperCase())}</span>`;
  return `<span class="author">${avatar}${escapeHtml(ref.author_login)}</span>`;
}

function problem(ref) {
  if (ref.paused_until && Date.parse(ref.paused_until) > Date.now()) {
    const why = /share of the token's budget/.test(ref.last_error ?? '')
      ? "gitsync's share of the token's budget is spent"
      : 'rate limited';
    return `<span class="problem paused" data-problem="paused">‖ Paused: ${why} until ${escapeHtml(clock(ref.paused_until))}</span>`;
  }
  if (ref.last_error)
    return `<span class="problem" data-problem="error">⚠ ${escapeHtml(ref.last_error)}</span>`;
  return '';
}

/** Times are filled in (and kept ticking) after the row exists, so the row's markup does not age. */
function timing(ref) {
  const refreshed = ref.refreshed_at
    ? `<span data-time="${escapeHtml(ref.refreshed_at)}" data-prefix="refreshed "></span>`
    : '<span>not refreshed yet</span>';
  return `${refreshed} · <span data-due="${escapeHtml(ref.stale_at)}"></span>`;
}

function fillTimes(root) {
  for (const el of root.querySelectorAll('[data-time]'))
    el.textContent = `${el.dataset.prefix}${ago(el.dataset.time)}`;
  for (const el of root.querySelectorAll('[data-due]')) el.textContent = due(el.dataset.due);
}

function prLink(ref) {
  return `<a class="pr-link" href="${safeUrl(ref.url)}" target="_blank" rel="noopener">#${ref.pr_number} ${escapeHtml(ref.pull_request_title)}</a>`;
}

function rowHtml(item, pos, total) {
  const { chat, depth, context, kids, collapsed } = item;
  const ref = chat.diff_status;
  const title = escapeHtml(chat.title || 'Untitled chat');
  const toggle = kids
    ? `<button type="button" class="toggle" data-action="toggle" data-id="${chat.id}" aria-expanded="${!collapsed}" aria-label="${collapsed ? 'Show' : 'Hide'} ${plural(kids, 'sub-agent chat')}"><span aria-hidden="true">${collapsed ? '▸' : '▾'}</span> ${fmt(kids)}</button>`
    : '';
  const tags = [
    chat.parent_chat_id ? '<span class="tag">sub-agent</span>' : '',
    chat.archived ? '<span class="tag">archived</span>' : '',
    chat.diff_statuses.length > 1
      ? `<span class="tag">+${chat.diff_statuses.length - 1} more refs</span>`
      : '',
    context ? '<span class="tag">has matching sub-agents</span>' : '',
  ].join('');
  let factsLine;
  let metaLine;
  if (!ref) {
    factsLine = '<span class="meta">No branch reported yet</span>';
    metaLine = '';
  } else if (!ref.pull_request_state) {
    factsLine = `<span>Branch <strong>${escapeHtml(ref.git_branch)}</strong> has no pull request yet</span>
      <span class="branch">${escapeHtml(ref.git_remote_origin)}</span>`;
    metaLine = problem(ref) || timing(ref);
  } else {
    factsLine = `${checksChip(ref)}${mergeChip(ref)}${threadsChip(ref)}${reviewBits(ref)}
      <span class="branch">${escapeHtml(ref.base_branch)} ← ${escapeHtml(ref.head_branch)}</span>
      ${sizes(ref)}${author(ref)}`;
    metaLine = problem(ref) || timing(ref);
  }
  const action = chat.archived ? ['unarchive', 'Unarchive'] : ['archive', 'Archive'];
  const refresh = ref
    ? `<button type="button" data-action="refresh" data-id="${chat.id}">Refresh now</button>`
    : '';
  const classes = `chat${depth ? ' child' : ''}${context ? ' context' : ''}`;
  return `<li class="${classes}" data-chat="${chat.id}" data-depth="${Math.min(depth, 4)}" aria-posinset="${pos}" aria-setsize="${total}">
  <div class="card">
    <div class="line head">${toggle}${badge(ref)}${readyChip(ref)}<span class="chat-title">${title}</span>${tags}${ref?.pull_request_state ? prLink(ref) : ''}</div>
    <div class="actions"><button type="button" data-action="details" data-id="${chat.id}" aria-haspopup="dialog">Details</button>${refresh}<button type="button" data-action="${action[0]}" data-id="${chat.id}">${action[1]}</button></div>
    <div class="line facts">${factsLine}</div>
    <div class="line meta">${metaLine}</div>
  </div></li>`;
}

// ---- the details dialog: every ref, its checks, threads and earlier PRs -------------------------

function refDetails(chat, ref) {
  const c = ref.checks;
  const refresh = `<button type="button" data-action="refresh" data-id="${chat.id}" data-origin="${escapeHtml(ref.git_remote_origin)}" data-branch="${escapeHtml(ref.git_branch)}">Refresh this ref</button>`;
  const where = `<p class="meta"><span class="branch">${escapeHtml(ref.git_remote_origin)}</span> · branch <strong>${escapeHtml(ref.git_branch)}</strong></p>`;
  const history = ref.previous_prs?.length
    ? `<div class="history" data-history><h4>Earlier pull requests of this branch</h4><ul>${ref.previous_prs
        .map(
          (p) =>
            `<li><a href="${safeUrl(p.url)}" target="_blank" rel="noopener">#${count(p.pr_number)}</a> ${p.pull_request_state ? badge(p) : ''}</li>`,
        )
        .join('')}</ul></div>`
    : '';
  if (!ref.pull_request_state) {
    return `<section class="ref-details">${where}<p>${badge(ref)} No pull request yet.</p>
      <p class="meta">${problem(ref) || timing(ref)}</p>${history}${refresh}</section>`;
  }
  const checks = c
    ? `<p>${checksChip(ref)} <span class="meta">${fmt(c.passed + c.failed + c.pending + c.skipped)} in all: ${fmt(c.passed)} passed, ${fmt(c.failed)} failed, ${fmt(c.pending)} pending, ${fmt(c.skipped)} skipped</span></p>${
        c.failing.length
          ? `<ul class="failing-checks">${c.failing
              .map(
                (f) =>
                  `<li><a href="${safeUrl(f.url)}" target="_blank" rel="noopener">${escapeHtml(f.name)}</a></li>`,
              )
              .join('')}</ul>`
          : ''
      }`
    : `<p>${checksChip(ref) || '<span class="meta">Checks: not known</span>'}</p>`;
  const merge = ref.merge_state
    ? `<p>${mergeChip(ref) || `<span class="meta">merge state: ${escapeHtml(ref.merge_state)}</span>`}${ref.merge_state_reason ? ` <span class="meta">(${escapeHtml(ref.merge_state_reason)})</span>` : ''}</p>`
    : '';
  const talk = [
    ref.unresolved_threads === null || ref.unresolved_threads === undefined
      ? ''
      : `<span data-threads="${ref.unresolved_threads}">${plural(ref.unresolved_threads, 'unresolved thread')}</span>`,
    ref.comments === null || ref.comments === undefined
      ? ''
      : `<span>${plural(ref.comments, 'comment')}</span>`,
    ref.reviewer_count ? `<span>${plural(ref.reviewer_count, 'reviewer')}</span>` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return `<section class="ref-details">
    <h3>${badge(ref)} ${prLink(ref)}</h3>${where}
    <p><span class="branch">${escapeHtml(ref.base_branch)} ← ${escapeHtml(ref.head_branch)}</span>${ref.head_sha ? ` <span class="meta">at ${escapeHtml(ref.head_sha.slice(0, 12))}</span>` : ''} ${sizes(ref)} ${author(ref)}</p>
    ${checks}${merge}
    <p>${reviewBits(ref)} ${talk}</p>
    <p class="meta">${problem(ref) || timing(ref)}</p>
    ${history}${refresh}</section>`;
}

function openDetails(id) {
  state.details = { id, shown: null };
  renderDetails();
  const dialog = $('details');
  if (!dialog.open) dialog.showModal();
}

/** Re-renders the open dialog when its chat changed (events arrive while it is open). */
function renderDetails() {
  const d = state.details;
  if (!d) return;
  const chat = chatById(d.id);
  if (chat && chat === d.shown) return;
  d.shown = chat;
  const body = $('details-body');
  if (!chat) {
    body.innerHTML = '<p class="meta">This chat is no longer in this view.</p>';
    return;
  }
  $('details-title').textContent = chat.title || 'Untitled chat';
  const focused = body.contains(document.activeElement) ? document.activeElement.dataset.branch : undefined;
  body.innerHTML = `<p class="meta">Chat ${escapeHtml(chat.id)} · owner ${escapeHtml(chat.owner_id)}${chat.parent_chat_id ? ' · sub-agent' : ''}${chat.archived ? ' · archived' : ''}</p>
    ${chat.diff_statuses.length ? chat.diff_statuses.map((ref) => refDetails(chat, ref)).join('') : '<p class="meta">No branch reported yet.</p>'}`;
  fillTimes(body);
  if (focused !== undefined)
    body.querySelector(`[data-action="refresh"][data-branch="${CSS.escape(focused)}"]`)?.focus();
}

// ---- live events -------------------------------------------------------------------------------

function setConnection(kind, text) {
  $('conn-dot').className = `dot ${kind}`;
  $('conn-text').textContent = text;
}

function closeStream() {
  if (state.source) state.source.close();
  state.source = null;
}

const EVENT_KINDS = [
  'diff_status_change',
  'chat_created',
  'chat_updated',
  'chat_archived',
  'chat_unarchived',
  'chat_deleted',
];

/**
 * Opens the event stream with a single-use ticket (docs/api.md, "Keys"): the key goes only in the
 * Authorization header of the POST that gets the ticket, never in a URL a proxy could log. A
 * ticket is spent once the stream opens, so the browser's own reconnect cannot reuse it: on any
 * error the page gets a fresh ticket and resumes from the last event id it saw.
 */
async function connect() {
  closeStream();
  setConnection('connecting', 'Connecting…');
  const retry = () => {
    setConnection('offline', 'Disconnected — retrying');
    const delay = Math.min(30_000, 1000 * 2 ** state.retry++);
    const key = state.key;
    setTimeout(() => {
      if (state.key === key && !state.source) connect().catch(handleError);
    }, delay);
  };
  let ticket;
  try {
    ({ ticket } = await api('POST', '/api/v1/events/tickets'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showSignIn('Your key is no longer accepted.');
    else retry();
    return;
  }
  if (state.source) return;
  const resume = state.lastEventId ? `&last_event_id=${encodeURIComponent(state.lastEventId)}` : '';
  const source = new EventSource(`/api/v1/events?ticket=${encodeURIComponent(ticket)}${resume}`);
  state.source = source;
  source.onopen = () => {
    state.retry = 0;
    setConnection('live', 'Live');
    // A stream opened anew without an id to resume from missed what happened meanwhile.
    if (state.reloadOnOpen && !resume) load().catch(handleError);
    state.reloadOnOpen = false;
  };
  source.onerror = () => {
    if (state.source !== source) return;
    closeStream();
    state.reloadOnOpen = true;
    retry();
  };
  const onEvent = (e) => {
    if (e.lastEventId) state.lastEventId = e.lastEventId;
    const event = JSON.parse(e.data);
    state.stats.eventsReceived++;
    state.queue.push(event);
    if (state.pending) state.pending.push(event);
    schedule();
  };
  for (const kind of EVENT_KINDS) source.addEventListener(kind, onEvent);
  // Too long away for the service to replay what was missed: load everything again.
  source.addEventListener('reset', () => load().catch(handleError));
}

// ---- messages ----------------------------------------------------------------------------------

function toast(message, isError) {
  const el = $('toast');
  el.hidden = false;
  el.textContent = message;
  el.classList.toggle('error', Boolean(isError));
  clearTimeout(state.toastTimer);
  state.toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 6000);
}

function handleError(error) {
  if (error instanceof ApiError && error.status === 401)
    showSignIn('Your key is no longer accepted. Sign in again.');
  else toast(error.message, true);
}

// ---- actions -----------------------------------------------------------------------------------

async function act(button) {
  const { action, id } = button.dataset;
  if (action === 'details') {
    openDetails(id);
    return;
  }
  if (action === 'toggle') {
    if (state.collapsed.has(id)) state.collapsed.delete(id);
    else state.collapsed.add(id);
    state.filterVersion++;
    schedule();
    return;
  }
  button.disabled = true;
  try {
    if (action === 'refresh') {
      const { origin, branch } = button.dataset;
      const result = await api(
        'POST',
        `/api/v1/chats/${id}/diff-status/refresh`,
        origin ? { origin, branch } : {},
      );
      toast(
        result.outcome === 'updated'
          ? 'Refreshed.'
          : result.outcome === 'no_pr'
            ? 'No pull request yet.'
            : 'The stored PR no longer matches the branch.',
      );
    } else {
      const chat = await api('POST', `/api/v1/chats/${id}/${action}`);
      // The event will say the same; applying the answer now shows it at once.
      state.queue.push({
        kind: action === 'archive' ? 'chat_archived' : 'chat_unarchived',
        chat,
        local: true,
      });
      schedule();
      toast(action === 'archive' ? 'Archived.' : 'Unarchived.');
    }
  } catch (error) {
    handleError(error);
  } finally {
    button.disabled = false;
  }
}

// ---- wiring ------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('key-input').value.trim();
    if (key) signIn(key).catch(handleError);
  });
  $('sign-out').addEventListener('click', () => showSignIn());
  for (const button of document.querySelectorAll('[data-filter]')) {
    button.addEventListener('click', () => {
      const archived = button.dataset.filter === 'archived';
      if (archived === state.archived) return;
      state.archived = archived;
      filtersChanged();
      load().catch(handleError);
    });
  }
  for (const button of document.querySelectorAll('[data-state-filter]')) {
    button.addEventListener('click', () => {
      const chosen = button.dataset.stateFilter;
      state.filters.state = state.filters.state === chosen ? '' : chosen;
      filtersChanged();
    });
  }
  for (const button of document.querySelectorAll('[data-flag]')) {
    button.addEventListener('click', () => {
      state.filters[button.dataset.flag] = !state.filters[button.dataset.flag];
      filtersChanged();
    });
  }
  $('clear-filters').addEventListener('click', () => {
    Object.assign(state.filters, { state: '', failing: false, changes: false, attention: false, q: '' });
    filtersChanged();
    $('search').focus();
  });
  $('search').addEventListener('input', (e) => {
    state.filters.q = e.target.value;
    filtersChanged();
  });
  $('owner-select').addEventListener('change', (e) => {
    state.filters.owner = e.target.value;
    filtersChanged();
  });
  window.addEventListener('hashchange', () => {
    const { key, viewChanged } = readHash();
    syncControls();
    if (key && key !== state.key) signIn(key).catch(handleError);
    else if (viewChanged && state.key) load().catch(handleError);
    else schedule();
  });
  window.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', () => {
    measureRows();
    schedule();
  });
  for (const area of [$('chats'), $('details-body')]) {
    // An avatar that cannot load is dropped (an inline onerror would break the page's CSP).
    area.addEventListener(
      'error',
      (e) => {
        if (e.target instanceof HTMLImageElement) e.target.remove();
      },
      true,
    );
    area.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action]');
      if (button) act(button);
    });
  }
  $('details-close').addEventListener('click', () => $('details').close());
  $('details').addEventListener('close', () => {
    const id = state.details?.id;
    state.details = null;
    document.querySelector(`#chats [data-action="details"][data-id="${id}"]`)?.focus();
  });
  // Relative times tick without re-rendering; a pause that ends changes the counts.
  let ticks = 0;
  setInterval(() => {
    fillTimes($('chats'));
    if ($('details').open) fillTimes($('details-body'));
    if (++ticks % 15 === 0) {
      state.modelVersion++;
      schedule();
    }
  }, 1000);
  readHash();
  syncControls();
  const key = sessionStorage.getItem(STORAGE_KEY);
  if (key) signIn(key).catch(handleError);
  else showSignIn();
});
