// The gitsync dashboard: plain browser JavaScript, no framework, no network but this service.

const STORAGE_KEY = 'gitsync.key';
const $ = (id) => document.getElementById(id);
const state = { key: null, archived: false, chats: [], source: null, reloadTimer: null, retry: 0 };

const escapeHtml = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

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
/** Only http(s) links reach an href or src: a code host's data never becomes a script URL. */
const safeUrl = (url) => (/^https?:\/\//i.test(String(url ?? '')) ? escapeHtml(url) : '#');
/** A size the host has not told (yet) shows as a dash, never as a made-up 0. */
const count = (n) => (n === null || n === undefined ? '—' : String(n));
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

// ---- API ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
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
    );
  return json;
}

// ---- sign in / out -----------------------------------------------------------------------------

function readKey() {
  // A link of the form /#key=<key> signs in; the key is then removed from the address bar.
  const match = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  if (match) {
    const key = decodeURIComponent(match[1]);
    sessionStorage.setItem(STORAGE_KEY, key);
    history.replaceState(null, '', location.pathname + location.search);
    return key;
  }
  return sessionStorage.getItem(STORAGE_KEY);
}

function showSignIn(message) {
  closeStream();
  state.key = null;
  sessionStorage.removeItem(STORAGE_KEY);
  $('board').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  const error = $('sign-in-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  setConnection('offline', 'Not connected');
  $('key-input').focus();
}

async function signIn(key) {
  state.key = key;
  try {
    await load();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showSignIn('That key was not accepted (401 unauthorized). Check it and try again.');
      return;
    }
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, key);
  $('sign-in').hidden = true;
  $('board').hidden = false;
  $('sign-out').hidden = false;
  connect();
}

// ---- data --------------------------------------------------------------------------------------

async function load() {
  const data = await api('GET', `/api/v1/chats?archived=${state.archived}&limit=500`);
  state.chats = data.chats;
  state.more = data.next_cursor !== null;
  render();
}

function scheduleReload() {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(() => load().catch(handleError), 150);
}

function findChat(list, id) {
  for (const chat of list) {
    if (chat.id === id) return chat;
    const inner = findChat(chat.children, id);
    if (inner) return inner;
  }
  return null;
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

function connect() {
  closeStream();
  setConnection('connecting', 'Connecting…');
  const source = new EventSource(`/api/v1/events?access_token=${encodeURIComponent(state.key)}`);
  state.source = source;
  source.onopen = () => {
    state.retry = 0;
    setConnection('live', 'Live');
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the service restarted with other keys): try again ourselves.
      setConnection('offline', 'Disconnected — retrying');
      const delay = Math.min(30_000, 1000 * 2 ** state.retry++);
      setTimeout(() => {
        if (state.source === source) {
          api('GET', '/api/v1/chats?limit=1')
            .then(() => connect())
            .catch((e) =>
              e instanceof ApiError && e.status === 401
                ? showSignIn('Your key is no longer accepted.')
                : source.onerror(),
            );
        }
      }, delay);
    } else {
      setConnection('connecting', 'Reconnecting…');
    }
  };
  source.addEventListener('diff_status_change', (e) => {
    const { chat } = JSON.parse(e.data);
    const shown = findChat(state.chats, chat.id);
    if (shown && shown.archived === chat.archived) {
      Object.assign(shown, { ...chat, children: shown.children });
      render();
    } else if (chat.archived === state.archived) {
      scheduleReload();
    }
  });
  for (const kind of [
    'chat_created',
    'chat_updated',
    'chat_archived',
    'chat_unarchived',
    'chat_deleted',
    'reset',
  ]) {
    source.addEventListener(kind, scheduleReload);
  }
}

// ---- rendering ---------------------------------------------------------------------------------

const BADGES = {
  open: ['open', '●', 'Open'],
  draft: ['draft', '✎', 'Draft'],
  merged: ['merged', '⇄', 'Merged'],
  closed: ['closed', '✕', 'Closed'],
};

function badge(ref) {
  const key = ref.pull_request_state === 'open' && ref.pull_request_draft ? 'draft' : ref.pull_request_state;
  const [cls, icon, label] = BADGES[key];
  return `<span class="badge ${cls}" data-state="${cls}"><span aria-hidden="true">${icon}</span>${label}</span>`;
}

function problem(ref) {
  if (ref.paused_until && Date.parse(ref.paused_until) > Date.now()) {
    return `<div class="problem paused" data-problem="paused">‖ Paused: rate limited until ${escapeHtml(clock(ref.paused_until))}</div>`;
  }
  if (ref.last_error)
    return `<div class="problem" data-problem="error">⚠ ${escapeHtml(ref.last_error)}</div>`;
  return '';
}

function timing(ref) {
  const wait = Math.ceil((Date.parse(ref.stale_at) - Date.now()) / 1000);
  const due = wait <= 0 ? 'checking now' : `next check in ${span(wait)}`;
  const refreshed = ref.refreshed_at
    ? `<span data-time="${escapeHtml(ref.refreshed_at)}" data-prefix="refreshed ">refreshed ${ago(ref.refreshed_at)}</span>`
    : '<span>not refreshed yet</span>';
  return `<div class="meta">${refreshed} · <span>${due}</span></div>`;
}

function renderRef(ref) {
  const where = `<span class="branch">${escapeHtml(ref.git_remote_origin)}</span>`;
  if (!ref.pull_request_state) {
    return `<li class="ref" data-branch="${escapeHtml(ref.git_branch)}">
      <div class="ref-line"><span class="badge none" data-state="none">No PR yet</span>
        <span>Branch <strong>${escapeHtml(ref.git_branch)}</strong> has no pull request yet</span> ${where}</div>
      ${problem(ref)}${timing(ref)}</li>`;
  }
  const review = ref.changes_requested
    ? '<span class="review changes">✖ Changes requested</span>'
    : ref.approved
      ? '<span class="review approved">✔ Approved</span>'
      : '';
  const reviewers = ref.reviewer_count
    ? `<span class="stat">${ref.reviewer_count} reviewer${ref.reviewer_count === 1 ? '' : 's'}</span>`
    : '';
  // Asked to review and not reviewed yet: people by login, teams as GitHub mentions them (@org/team).
  const asked = (ref.requested_reviewers ?? []).map((r) => (r.kind === 'team' ? `@${r.name}` : r.name));
  const requested = asked.length
    ? `<span class="stat requested" data-requested>review requested: ${asked.map(escapeHtml).join(', ')}</span>`
    : '';
  const author = ref.author_login
    ? `<span class="author">${ref.author_avatar_url ? `<img src="${safeUrl(ref.author_avatar_url)}" alt="" loading="lazy">` : ''}${escapeHtml(ref.author_login)}</span>`
    : '';
  return `<li class="ref" data-branch="${escapeHtml(ref.git_branch)}">
    <div class="ref-line">${badge(ref)}
      <a class="pr-link" href="${safeUrl(ref.url)}" target="_blank" rel="noopener">#${ref.pr_number} ${escapeHtml(ref.pull_request_title)}</a></div>
    <div class="ref-line">
      <span class="branch">${escapeHtml(ref.base_branch)} ← ${escapeHtml(ref.head_branch)}</span>
      <span class="stat"><span class="add">+${count(ref.additions)}</span> <span class="del">−${count(ref.deletions)}</span></span>
      <span class="stat">${count(ref.changed_files)} file${ref.changed_files === 1 ? '' : 's'}</span>
      <span class="stat">${count(ref.commits)} commit${ref.commits === 1 ? '' : 's'}</span>
      ${review}${reviewers}${requested}${author}</div>
    ${problem(ref)}${timing(ref)}</li>`;
}

function renderChat(chat) {
  const action = chat.archived ? ['unarchive', 'Unarchive'] : ['archive', 'Archive'];
  const refresh = chat.diff_status
    ? `<button type="button" data-action="refresh" data-id="${chat.id}">Refresh now</button>`
    : '';
  return `<li class="chat" data-chat="${chat.id}">
    <div class="chat-head">
      <span class="chat-title">${escapeHtml(chat.title || 'Untitled chat')}</span>
      <span class="chat-id">${chat.id.slice(0, 8)}</span>
      ${chat.parent_chat_id ? '<span class="tag">sub-agent</span>' : ''}
      ${chat.archived ? '<span class="tag">archived</span>' : ''}
      <span class="actions">${refresh}<button type="button" data-action="${action[0]}" data-id="${chat.id}">${action[1]}</button></span>
    </div>
    ${chat.diff_statuses.length ? `<ul class="refs">${chat.diff_statuses.map(renderRef).join('')}</ul>` : '<p class="meta">No branch reported yet</p>'}
    ${chat.children.length ? `<ul class="children">${chat.children.map(renderChat).join('')}</ul>` : ''}
  </li>`;
}

function render() {
  // Keep keyboard focus on the same control across re-renders.
  const focused = document.activeElement?.dataset?.action
    ? `${document.activeElement.dataset.action}:${document.activeElement.dataset.id}`
    : null;
  $('chats').innerHTML = state.chats.map(renderChat).join('');
  const empty = $('empty');
  empty.hidden = state.chats.length > 0;
  empty.textContent = state.archived
    ? 'No archived chats.'
    : 'No active chats yet. Report a push to see one here.';
  $('count').textContent =
    `${state.chats.length} chat${state.chats.length === 1 ? '' : 's'}${state.more ? ' (first 500)' : ''}`;
  if (focused) {
    const [action, id] = focused.split(':');
    document.querySelector(`[data-action="${action}"][data-id="${id}"]`)?.focus();
  }
}

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
      state.archived = button.dataset.filter === 'archived';
      for (const b of document.querySelectorAll('[data-filter]'))
        b.setAttribute('aria-pressed', String(b === button));
      load().catch(handleError);
    });
  }
  // An avatar that cannot load is dropped (an inline onerror would break the page's CSP).
  $('chats').addEventListener(
    'error',
    (e) => {
      if (e.target instanceof HTMLImageElement) e.target.remove();
    },
    true,
  );
  $('chats').addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const { action, id } = button.dataset;
    button.disabled = true;
    try {
      if (action === 'refresh') {
        const result = await api('POST', `/api/v1/chats/${id}/diff-status/refresh`, {});
        toast(
          result.outcome === 'updated'
            ? 'Refreshed.'
            : result.outcome === 'no_pr'
              ? 'No pull request yet.'
              : 'The stored PR no longer matches the branch.',
        );
      } else {
        await api('POST', `/api/v1/chats/${id}/${action}`);
        toast(action === 'archive' ? 'Archived.' : 'Unarchived.');
      }
      await load();
    } catch (error) {
      handleError(error);
    } finally {
      button.disabled = false;
    }
  });
  // Relative times tick without refetching.
  setInterval(() => {
    for (const el of document.querySelectorAll('[data-time]'))
      el.textContent = `${el.dataset.prefix}${ago(el.dataset.time)}`;
  }, 1000);
  const key = readKey();
  if (key) signIn(key).catch(handleError);
  else showSignIn();
});
