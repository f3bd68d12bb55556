/**
 * A URL gitsync may serve (SPEC §6.2: every URL field is `http(s)://` or null): the host's text
 * when it parses as an absolute http or https URL, else null. Hosts hand over URLs their users
 * wrote — a commit status's `target_url`, a check run's `details_url` — and a `javascript:` or
 * `data:` link served as a link is script in whoever opens it (the dashboard, an agent's UI).
 */
export function httpUrlOrNull(value: string | null | undefined): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  // `URL` lower-cases the scheme and drops leading/trailing control characters and spaces, as a
  // browser does — so " JAVASCRIPT:…" is recognised for what a browser would run.
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  // Served as the host wrote it once known safe (a re-serialised URL could differ in escapes),
  // unless it holds control characters or surrounding spaces, which a browser strips anyway.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  return /[\u0000-\u001f\u007f]|^ | $/.test(value) ? parsed.href : value;
}

/** The URL fields of a diff status or a PR read (`url`, avatar, failing checks, earlier PRs). */
interface WithUrls {
  url: string | null;
  author_avatar_url: string | null;
  checks: { failing: { url: string | null }[] } | null;
  previous_prs?: { url: string }[] | null;
}

/**
 * A copy of `pr` whose URL fields are `httpUrlOrNull`'s: a check or avatar link that is not
 * http(s) becomes null, and so does the PR's own `url` (an earlier PR without one is left out of
 * `previous_prs`). Applied where a host's read is stored and where a stored row is served, so rows
 * stored before this rule are served by it too.
 */
export function withHttpUrls<T extends WithUrls>(pr: T): T {
  const out = { ...pr, url: httpUrlOrNull(pr.url), author_avatar_url: httpUrlOrNull(pr.author_avatar_url) };
  if (pr.checks)
    out.checks = {
      ...pr.checks,
      failing: pr.checks.failing.map((c) => ({ ...c, url: httpUrlOrNull(c.url) })),
    };
  if (Array.isArray(pr.previous_prs))
    out.previous_prs = pr.previous_prs.filter((p) => httpUrlOrNull(p.url) !== null);
  return out as T;
}
