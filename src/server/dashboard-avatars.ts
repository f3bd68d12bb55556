import type { Provider } from '../providers/types.ts';

/**
 * The origins the dashboard may load avatars from: the configured providers' own avatar hosts,
 * over https only. An avatar URL is host text — on a self-hosted host anyone may point theirs
 * anywhere, and each viewer's browser would then tell that server its IP address — so any other
 * URL shows a placeholder, and the page's Content-Security-Policy (`img-src`) names only these.
 */
export function avatarOrigins(providers: readonly Provider[]): string[] {
  const out = new Set<string>();
  for (const p of providers) {
    let web: URL;
    try {
      web = new URL(p.config.web_url);
    } catch {
      continue;
    }
    if (web.protocol !== 'https:') continue;
    // GitLab (`/uploads/-/system/user/avatar/…`), Gitea and Forgejo (`/avatars/…`), GitHub
    // Enterprise Server (`/avatars/u/…`), Azure DevOps (`/_apis/GraphProfile/MemberAvatars/…`):
    // served by the host itself.
    out.add(web.origin);
    if (p.config.type === 'github') {
      // github.com serves avatars from avatars.githubusercontent.com; GitHub Enterprise Server with
      // subdomain isolation from `avatars.<host>` (GitHub docs, "Enabling subdomain isolation").
      out.add(
        web.hostname === 'github.com'
          ? 'https://avatars.githubusercontent.com'
          : `https://avatars.${web.host}`,
      );
    }
    if (p.config.type === 'bitbucket') {
      // Bitbucket Cloud's `links.avatar.href` points at Atlassian's avatar service.
      out.add('https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net');
    }
  }
  return [...out].sort();
}

/** The dashboard's page, telling its script which avatar origins it may load. */
export function dashboardHtml(html: string, origins: readonly string[]): string {
  const meta = `<meta name="gitsync-avatar-origins" content="${origins.join(' ').replace(/[&<>"]/g, '')}">`;
  return html.replace('</head>', `  ${meta}\n</head>`);
}
